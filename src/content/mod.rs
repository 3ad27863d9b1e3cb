//! Article content: Markdown and HTML turned into what a digest shows, sanitised, with the
//! nesting guard, and wrapped for mail. Used when an article is added (feeds, the console, the
//! API) and when a digest is rendered, so it belongs to neither mail nor HTTP.

mod fold;
mod html;
mod markdown;
mod nesting;

pub use html::{sanitize as sanitize_html, to_html as html_to_html, to_text as html_to_text};
pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};
pub use nesting::MAX_NESTING;

use crate::domain::BodyFormat;

/// An article body as mail HTML, whatever it was written in. CPU-heavy for large bodies (the
/// Markdown parser, the HTML sanitiser): call it off the async threads.
pub fn article_html(format: BodyFormat, body: &str) -> String {
    let html = match format {
        BodyFormat::SanitisedHtml => html::styled(body.to_owned()),
        BodyFormat::Html => html_to_html(body),
        BodyFormat::Markdown => markdown_to_html(body),
    };
    fold::fold_html(&html, HTML_WIDTH)
}

/// An article body as wrapped plain text; like [`article_html`], off the async threads.
pub fn article_text(format: BodyFormat, body: &str) -> String {
    let text = match format {
        BodyFormat::SanitisedHtml => html::text_of(body),
        BodyFormat::Html => html_to_text(body),
        BodyFormat::Markdown => markdown_to_text(body),
    };
    fold::wrap_text(&text, TEXT_WIDTH)
}

/// Plain text is wrapped where mail readers expect it (RFC 5322 recommends 78 characters).
const TEXT_WIDTH: usize = 76;
/// HTML only needs to stay well inside SMTP's 998 octets; shorter lines read better raw.
const HTML_WIDTH: usize = 100;
