//! Reading one tag: its kind, its name, where it ends.

pub(super) struct Tag {
    pub kind: TagKind,
    /// Byte offset just past the tag.
    pub end: usize,
}

pub(super) enum TagKind {
    Start {
        name: String,
        self_closing: bool,
    },
    End {
        name: String,
    },
    /// A comment, doctype, processing instruction or bogus comment: up to the first `>`.
    Other,
    /// The input ends inside the tag.
    Unfinished,
}

/// Reads the tag at `html[start] == '<'` the way the HTML tokenizer does; `None` when the `<` is
/// text.
pub(super) fn read_tag(html: &str, start: usize) -> Option<Tag> {
    let bytes = html.as_bytes();
    let to_first_gt = |from: usize| match bytes[from..].iter().position(|&b| b == b'>') {
        Some(p) => Tag { kind: TagKind::Other, end: from + p + 1 },
        None => Tag { kind: TagKind::Unfinished, end: bytes.len() },
    };
    let named = |from: usize, end_tag: bool| {
        let (name, after) = tag_name(bytes, from);
        match tag_end(bytes, after) {
            (Some(end), _) if end_tag => Tag { kind: TagKind::End { name }, end },
            (Some(end), self_closing) => Tag { kind: TagKind::Start { name, self_closing }, end },
            (None, _) => Tag { kind: TagKind::Unfinished, end: bytes.len() },
        }
    };
    match *bytes.get(start + 1)? {
        b'!' | b'?' => Some(to_first_gt(start + 1)),
        b'/' => match *bytes.get(start + 2)? {
            c if c.is_ascii_alphabetic() => Some(named(start + 2, true)),
            b'>' => Some(Tag { kind: TagKind::Other, end: start + 3 }),
            _ => Some(to_first_gt(start + 2)),
        },
        c if c.is_ascii_alphabetic() => Some(named(start + 1, false)),
        _ => None,
    }
}

/// The lower-cased name from `from`, up to whitespace, `/` or `>`; and where it stops.
fn tag_name(bytes: &[u8], from: usize) -> (String, usize) {
    let len = bytes[from..]
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(bytes.len() - from);
    (String::from_utf8_lossy(&bytes[from..from + len]).to_ascii_lowercase(), from + len)
}

/// Past the attributes: the offset after the closing `>` (`None` at end of input) and whether the
/// tag ended with `/>`. Quotes delimit a value only right after `=`, as in the tokenizer.
fn tag_end(bytes: &[u8], from: usize) -> (Option<usize>, bool) {
    let mut i = from;
    let mut slash = false;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return (Some(i + 1), slash),
            b'/' => slash = true,
            b'=' => {
                slash = false;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(&q @ (b'"' | b'\'')) => match bytes[i + 1..].iter().position(|&b| b == q) {
                        Some(p) => i += p + 1,
                        None => return (None, false),
                    },
                    // An unquoted value: up to whitespace or `>`.
                    Some(_) => {
                        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                            i += 1;
                        }
                        continue;
                    }
                    None => return (None, false),
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => slash = false,
        }
        i += 1;
    }
    (None, false)
}
