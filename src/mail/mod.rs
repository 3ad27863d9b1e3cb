//! Everything about outgoing mail: its settings, templates, composing messages for a recipient,
//! message building (headers), transport (SMTP | file).

mod compose;
mod dkim;
mod fold;
mod html;
pub mod inbound;
mod lane;
mod markdown;
mod message;
mod nesting;
mod prepared;
mod settings;
mod smtp;
mod smtp_data;
mod templates;
mod transport;
mod url;
mod verp;
mod wire;

pub use html::{sanitize as sanitize_html, to_html as html_to_html, to_text as html_to_text};
pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};
pub use nesting::MAX_NESTING;

pub use self::compose::{Composer, DigestView, Recipient};
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
pub use dkim::{DkimSigner, KeyKind};
pub use lane::{Lane, Next};
pub use message::{BuiltMessage, MessageParts, build_message, delivery_of_message_id, message_id_domain, recipient};
pub use settings::{MailSettings, MailSettingsError};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError, html_formatter};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
pub use verp::BounceAddress;
