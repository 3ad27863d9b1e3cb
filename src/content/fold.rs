//! Short lines for article bodies, so that mail bodies can go as they are (7bit/8bit) rather than
//! base64: a Markdown paragraph is one line, often longer than SMTP's 998 octets, and a text part
//! in base64 is both unreadable in a raw message and a mild spam signal. Done once per digest.

/// Plain text wrapped at `width` columns (counted in characters) at spaces. A word longer than
/// the width (a URL) keeps a line of its own; a quoted line ("> …") keeps its marker on every
/// line it is wrapped into. Only the space at a break is replaced: runs of spaces (indented
/// code) survive.
pub fn wrap_text(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width.max(1));
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.chars().count() <= width {
            out.push_str(line);
            continue;
        }
        let marker = if line.starts_with("> ") { "> " } else { "" };
        let mut column = 0;
        for (n, word) in line[marker.len()..].split(' ').enumerate() {
            let len = word.chars().count();
            if n == 0 {
                out.push_str(marker);
                column = marker.len();
            } else if column + 1 + len > width && column > marker.len() {
                out.push('\n');
                out.push_str(marker);
                column = marker.len();
            } else {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
        }
    }
    out
}

/// HTML with a line break in place of a space wherever a line would pass `width` bytes. Only
/// spaces in text count, never inside a tag (attribute values) or inside `<pre>`, so the page
/// renders exactly as before: outside `<pre>`, a line break is whitespace like the space was.
pub fn fold_html(html: &str, width: usize) -> String {
    let bytes = html.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut in_tag, mut in_pre) = (false, false);
    let mut line_start = 0; // in `out`
    let mut last_space: Option<usize> = None; // a breakable space in the current line of `out`
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => {
                in_tag = true;
                let rest = &bytes[i..];
                if starts_with_ignore_case(rest, b"<pre") {
                    in_pre = true;
                } else if starts_with_ignore_case(rest, b"</pre") {
                    in_pre = false;
                }
            }
            b'>' => in_tag = false,
            _ => {}
        }
        if b == b'\n' {
            out.push(b);
            line_start = out.len();
            last_space = None;
            continue;
        }
        if b == b' ' && !in_tag && !in_pre {
            last_space = Some(out.len());
        }
        out.push(b);
        if out.len() - line_start > width {
            if let Some(space) = last_space.take() {
                out[space] = b'\n';
                line_start = space + 1;
            }
        }
    }
    // Only ASCII spaces were replaced by ASCII line feeds: still the same valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| html.to_owned())
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len()
        && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
        && haystack.get(prefix.len()).is_none_or(|b| matches!(b, b'>' | b' ' | b'\t' | b'\n' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_spaces_and_keeps_quote_markers_and_long_words() {
        let long = "word ".repeat(40);
        let wrapped = wrap_text(long.trim_end(), 20);
        assert!(wrapped.lines().all(|l| l.len() <= 20), "{wrapped}");
        assert_eq!(wrapped.replace('\n', " "), long.trim_end());
        let quoted = wrap_text(&format!("> {}", "abc ".repeat(10).trim_end()), 12);
        assert!(quoted.lines().all(|l| l.starts_with("> ")), "{quoted}");
        let url = format!("see https://example.com/{} now", "x".repeat(50));
        let wrapped = wrap_text(&url, 20);
        assert_eq!(wrapped.lines().count(), 3, "{wrapped}");
        assert_eq!(wrap_text("short\n\nlines", 20), "short\n\nlines");
        let code = format!("    indented  code {}", "x ".repeat(20));
        assert_eq!(wrap_text(&code, 20).replace('\n', " "), code, "spacing kept");
    }

    #[test]
    fn html_breaks_only_between_words_outside_tags_and_pre() {
        let text = "lorem ipsum dolor ".repeat(20);
        let html = format!(
            "<p style=\"margin:0 0 16px;line-height:1.6\">{text}<a href=\"https://e.com/a b\">l i n k</a></p>\n<pre>{text}</pre>"
        );
        let folded = fold_html(&html, 40);
        assert_eq!(folded.replace('\n', " "), html.replace('\n', " "), "only spaces became line breaks");
        assert!(folded.contains("<p style=\"margin:0 0 16px;line-height:1.6\">"), "attributes untouched");
        assert!(folded.contains("href=\"https://e.com/a b\""));
        assert!(folded.contains(&format!("<pre>{text}</pre>")), "pre untouched");
        let first_line = folded.lines().nth(1).unwrap_or_default();
        assert!(first_line.len() <= 40, "{first_line}");
        let unicode = "é ".repeat(100);
        assert_eq!(fold_html(&unicode, 10).replace('\n', " "), unicode);
    }
}
