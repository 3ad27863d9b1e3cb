//! Everything about outgoing mail: templates, message building (headers), transport (SMTP | file).

mod html;
mod markdown;
mod message;
mod smtp;
mod templates;
mod transport;
mod url;

pub use html::{sanitize as sanitize_html, to_html as html_to_html, to_text as html_to_text};
pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};

/// An article body as mail HTML and text, whatever it was written in.
pub fn article_html(format: &str, body: &str) -> String {
    if format == "html" { html_to_html(body) } else { markdown_to_html(body) }
}

pub fn article_text(format: &str, body: &str) -> String {
    if format == "html" { html_to_text(body) } else { markdown_to_text(body) }
}
pub use message::{BuiltMessage, MessageParts, build_message, message_id_domain, recipient};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError, html_formatter};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
