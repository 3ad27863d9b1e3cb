//! Everything about outgoing mail: templates, message building (headers), transport (SMTP | file).

mod fold;
mod html;
pub mod inbound;
mod markdown;
mod message;
mod nesting;
mod settings;
mod smtp;
mod templates;
mod transport;
mod url;
mod verp;

pub use html::{sanitize as sanitize_html, to_html as html_to_html, to_text as html_to_text};
pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};
pub use nesting::MAX_NESTING;

/// `articles.body_format`: what a stored body is written in.
pub mod body_format {
    /// Written here, by an operator.
    pub const MARKDOWN: &str = "markdown";
    /// HTML stored before bodies were sanitised with limited nesting (feed imports until
    /// December 2026): sanitised again at every render.
    pub const HTML: &str = "html";
    /// HTML that went through [`super::sanitize_html`] before it was stored (feed imports, and
    /// HTML articles edited in the console): rendered as it is, without parsing it again.
    pub const SANITISED_HTML: &str = "sanitised-html";

    pub fn is_html(format: &str) -> bool {
        format == HTML || format == SANITISED_HTML
    }
}

/// An article body as mail HTML, whatever it was written in. CPU-heavy for large bodies (the
/// Markdown parser, the HTML sanitiser): call it off the async threads.
pub fn article_html(format: &str, body: &str) -> String {
    let html = match format {
        body_format::SANITISED_HTML => html::styled(body.to_owned()),
        body_format::HTML => html_to_html(body),
        _ => markdown_to_html(body),
    };
    fold::fold_html(&html, HTML_WIDTH)
}

/// An article body as wrapped plain text; like [`article_html`], off the async threads.
pub fn article_text(format: &str, body: &str) -> String {
    let text = match format {
        body_format::SANITISED_HTML => html::text_of(body),
        body_format::HTML => html_to_text(body),
        _ => markdown_to_text(body),
    };
    fold::wrap_text(&text, TEXT_WIDTH)
}

/// Plain text is wrapped where mail readers expect it (RFC 5322 recommends 78 characters).
const TEXT_WIDTH: usize = 76;
/// HTML only needs to stay well inside SMTP's 998 octets; shorter lines read better raw.
const HTML_WIDTH: usize = 100;
pub use message::{BuiltMessage, MessageParts, build_message, message_id_domain, recipient};
pub use settings::{MailSettings, MailSettingsError};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError, html_formatter};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
pub use verp::BounceAddress;
