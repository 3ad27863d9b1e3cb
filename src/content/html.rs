//! Article bodies that arrive as HTML (feed entries): sanitised with ammonia to a small set of
//! harmless tags, and turned into readable text for the text part.

use std::collections::HashSet;
use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    // Remote images track readers and break in many mail clients.
    builder.rm_tags(["img"]);
    builder.url_schemes(HashSet::from(["http", "https", "mailto"]));
    builder.link_rel(Some("noopener noreferrer"));
    builder
});

/// Only what ammonia lets through: no scripts, styles, event handlers, forms or images, and no
/// element nested deeper than [`super::nesting::MAX_NESTING`] (limited before parsing: the
/// parser's cost grows with the square of the depth). CPU-heavy for large input: call it off
/// the async threads.
pub fn sanitize(html: &str) -> String {
    CLEANER.clean(&super::nesting::limit_nesting(html)).to_string()
}

/// Sanitised HTML with the mail's inline styles on its tags.
pub fn to_html(html: &str) -> String {
    styled(sanitize(html))
}

/// HTML that [`sanitize`] produced (stored so), with the mail's inline styles: no parsing.
pub fn styled(clean: String) -> String {
    super::markdown::inline_styles(clean)
}

/// Readable text: block ends become blank lines, links keep their target, entities decoded.
pub fn to_text(html: &str) -> String {
    text_of(&sanitize(html))
}

/// [`to_text`] of HTML that [`sanitize`] produced: one linear pass, no parsing.
pub fn text_of(clean: &str) -> String {
    let mut out = String::with_capacity(clean.len());
    let mut rest = clean;
    let mut pending_href: Vec<Option<String>> = Vec::new();
    while let Some(start) = rest.find('<') {
        out.push_str(&decode(&rest[..start]));
        let Some(end) = rest[start..].find('>') else { break };
        let tag = &rest[start + 1..start + end];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let closing = tag.starts_with('/');
        match (name.as_str(), closing) {
            (
                "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "pre" | "ul" | "ol" | "table",
                true,
            ) => out.push_str("\n\n"),
            ("br", _) => out.push('\n'),
            ("li", false) => out.push_str("- "),
            ("li" | "tr", true) => out.push('\n'),
            ("a", false) => pending_href.push(attr(tag, "href")),
            ("a", true) => {
                if let Some(Some(href)) = pending_href.pop() {
                    out.push_str(&format!(" ({})", decode(&href)));
                }
            }
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(&decode(rest));
    // Collapse the blank lines the tags left behind.
    let mut text = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            if blank == 1 && !text.is_empty() {
                text.push('\n');
            }
        } else {
            blank = 0;
            text.push_str(line.trim_start());
            text.push('\n');
        }
    }
    text.trim_end().to_owned()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[at..].find('"')?;
    Some(tag[at..at + end].to_owned())
}

fn decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_images_are_removed() {
        let html = to_html(
            r#"<p onclick="x()">Hi <script>alert(1)</script><img src="https://t.example/p.gif"><a href="javascript:alert(1)">x</a> <a href="https://example.com/a">ok</a></p><style>p{}</style>"#,
        );
        assert!(
            !html.contains("script")
                && !html.contains("onclick")
                && !html.contains("<img")
                && !html.contains("javascript:"),
            "{html}"
        );
        assert!(html.contains(r#"href="https://example.com/a""#), "{html}");
        assert!(html.contains("<p style="), "inline styles: {html}");
    }

    #[test]
    fn text_keeps_paragraphs_links_and_characters() {
        let text = to_text(
            "<p>Fish &amp; chips &#8211; caf&eacute;&#x21;</p><ul><li>one</li><li>two</li></ul><p>See <a href=\"https://example.com/?a=1&amp;b=2\">this</a>.</p>",
        );
        assert_eq!(text, "Fish & chips – café!\n\n- one\n- two\n\nSee this (https://example.com/?a=1&b=2).");
    }
}
