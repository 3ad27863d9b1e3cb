//! Everything about outgoing mail: templates, message building (headers), transport (SMTP | file).

mod fold;
mod html;
pub mod inbound;
mod markdown;
mod message;
mod smtp;
mod templates;
mod transport;
mod url;
mod verp;

pub use html::{sanitize as sanitize_html, to_html as html_to_html, to_text as html_to_text};
pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};

/// An article body as mail HTML and text, whatever it was written in.
pub fn article_html(format: &str, body: &str) -> String {
    let html = if format == "html" { html_to_html(body) } else { markdown_to_html(body) };
    fold::fold_html(&html, HTML_WIDTH)
}

pub fn article_text(format: &str, body: &str) -> String {
    let text = if format == "html" { html_to_text(body) } else { markdown_to_text(body) };
    fold::wrap_text(&text, TEXT_WIDTH)
}

/// Plain text is wrapped where mail readers expect it (RFC 5322 recommends 78 characters).
const TEXT_WIDTH: usize = 76;
/// HTML only needs to stay well inside SMTP's 998 octets; shorter lines read better raw.
const HTML_WIDTH: usize = 100;
pub use message::{BuiltMessage, MessageParts, build_message, message_id_domain, recipient};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError, html_formatter};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
pub use verp::BounceAddress;
