//! Article bodies: Markdown to mail-safe HTML and to readable plain text.
//!
//! Sanitising is done on the parse events rather than on the HTML afterwards: raw HTML in the
//! Markdown is turned into visible text, and links and images may only point at http(s) or
//! mailto URLs. Nothing an author writes can add a tag, an attribute or a script.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

fn parser(markdown: &str) -> impl Iterator<Item = Event<'_>> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION;
    Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        // Remote images track readers and break in many clients: show the alt text's link instead.
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    })
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:") {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

/// Inline styles for the tags Markdown produces: many mail clients drop `<style>` blocks.
const STYLES: &[(&str, &str)] = &[
    ("<p>", "<p style=\"margin:0 0 16px;line-height:1.6\">"),
    ("<h1>", "<h3 style=\"font-size:20px;margin:24px 0 8px\">"),
    ("</h1>", "</h3>"),
    ("<h2>", "<h3 style=\"font-size:18px;margin:24px 0 8px\">"),
    ("</h2>", "</h3>"),
    ("<h3>", "<h4 style=\"font-size:16px;margin:20px 0 8px\">"),
    ("</h3>", "</h4>"),
    (
        "<blockquote>",
        "<blockquote style=\"margin:0 0 16px;padding:0 0 0 12px;border-left:3px solid #d0d7de;color:#57606a\">",
    ),
    ("<pre>", "<pre style=\"background:#f6f8fa;padding:12px;overflow:auto;font-size:13px\">"),
    ("<a href=", "<a style=\"color:#0b57d0\" href="),
    ("<ul>", "<ul style=\"margin:0 0 16px;padding-left:24px\">"),
    ("<ol>", "<ol style=\"margin:0 0 16px;padding-left:24px\">"),
    ("<li>", "<li style=\"margin:0 0 4px\">"),
];

pub fn to_html(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, parser(markdown));
    // Only generated tags can match: author-written HTML was escaped to `&lt;p&gt;` above.
    inline_styles(html)
}

/// Puts the mail's inline styles on bare tags (as Markdown and the HTML sanitiser produce them).
/// Headings shift down one level (in reverse order so a shifted tag is not shifted again).
pub(super) fn inline_styles(html: String) -> String {
    let mut styled = html;
    for (from, to) in STYLES.iter().rev() {
        if styled.contains(from) {
            styled = styled.replace(from, to);
        }
    }
    styled
}

/// Plain text for the text part: paragraphs separated by blank lines, links followed by their URL.
pub fn to_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut links: Vec<String> = Vec::new();
    let mut list_depth: usize = 0;
    for event in parser(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) => {
                out.push_str(&"  ".repeat(list_depth.saturating_sub(1)));
                out.push_str("- ");
            }
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                if list_depth == 0 {
                    out.push('\n');
                }
            }
            Event::End(TagEnd::Item) => out.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.into_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop() {
                    if url != "#" {
                        out.push_str(&format!(" ({url})"));
                    }
                }
            }
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::BlockQuote(_)) => {
                out.push_str("\n\n")
            }
            Event::Rule => out.push_str("----\n\n"),
            _ => {}
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_and_script_urls_never_survive() {
        let html = to_html(
            "Hi <script>alert(1)</script> [x](javascript:alert(1)) ![i](https://t.example/p.gif)\n\n<img src=x onerror=alert(1)>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn styles_are_inlined_and_text_is_readable() {
        let md = "## News\n\nRead [the post](https://example.com/a) now.\n\n- one\n- two";
        let html = to_html(md);
        assert!(html.contains("<h3 style="), "{html}");
        assert!(html.contains("<a style=\"color:#0b57d0\" href=\"https://example.com/a\">"), "{html}");
        let text = to_text(md);
        assert_eq!(text, "News\n\nRead the post (https://example.com/a) now.\n\n- one\n- two");
    }
}
