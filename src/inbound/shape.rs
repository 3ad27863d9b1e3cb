//! The bounds one message must keep before any parser reads it.

use super::{MAX_DEPTH, MAX_PARTS};

/// One linear pass over the bytes, before any parser sees them: refuses a message with more than
/// [`MAX_PARTS`] parts or multiparts nested deeper than [`MAX_DEPTH`].
///
/// It over-counts rather than under-counts what the parser would build: every line that starts
/// a `Content-Type` header counts as a part, wherever it stands, and every one that names a
/// `multipart/` type opens a level, closed only by a line that starts with `--` and one of the
/// open boundaries (the parser ends a part at exactly such a line). Lines end at CR or LF alike.
pub(super) fn shape(raw: &[u8]) -> Result<(), String> {
    let mut lines = raw.split(|&b| b == b'\n' || b == b'\r').filter(|l| !l.is_empty()).peekable();
    let (mut parts, mut open) = (0_usize, Vec::<Vec<u8>>::new());
    while let Some(line) = lines.next() {
        if starts_with_ignore_case(line, b"content-type") {
            parts += 1;
            if parts > MAX_PARTS {
                return Err(format!("more than {MAX_PARTS} MIME parts"));
            }
            // The value, with its folded continuation lines.
            let mut value = line.to_ascii_lowercase();
            while let Some(next) = lines.next_if(|l| l.starts_with(b" ") || l.starts_with(b"\t")) {
                value.extend(next.to_ascii_lowercase());
            }
            if find(&value, b"multipart/").is_some() {
                open.push(boundary_in(line, &value));
                if open.len() > MAX_DEPTH {
                    return Err(format!("MIME parts nested more than {MAX_DEPTH} deep"));
                }
            }
        } else if let Some(rest) = line.strip_prefix(b"--") {
            // The innermost open boundary this line starts with closes every level inside it
            // (and its own, at a closing `--boundary--`).
            if let Some(level) = open.iter().rposition(|b| !b.is_empty() && rest.starts_with(b)) {
                let closing = rest[open[level].len()..].starts_with(b"--");
                open.truncate(if closing { level } else { level + 1 });
            }
        }
    }
    Ok(())
}

/// The `boundary` parameter of a Content-Type value, as written (boundaries are case-sensitive);
/// empty when there is none (such a level never closes, which only over-counts).
fn boundary_in(line: &[u8], lower: &[u8]) -> Vec<u8> {
    // Only the first line keeps its case here; a boundary folded onto a continuation line is
    // matched in lower case, which at worst leaves the level open.
    let Some(at) = find(lower, b"boundary=") else { return Vec::new() };
    let source = if at + 9 <= line.len() { &line[at + 9..] } else { &lower[at + 9..] };
    let value = match source.strip_prefix(b"\"") {
        Some(quoted) => quoted.split(|&b| b == b'"').next().unwrap_or_default(),
        None => source.split(|&b| b == b';' || b.is_ascii_whitespace()).next().unwrap_or_default(),
    };
    value.to_vec()
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
