//! Everything about outgoing mail: templates, message building (headers), transport (SMTP | file).

mod markdown;
mod message;
mod smtp;
mod templates;
mod transport;
mod url;

pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};
pub use message::{BuiltMessage, MessageParts, build_message, message_id_domain, recipient};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError, html_formatter};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
