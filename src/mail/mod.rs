//! Everything about outgoing mail: templates, message building (headers), transport (SMTP | file).

mod message;
mod smtp;
mod templates;
mod transport;
mod url;

pub use message::{BuiltMessage, MessageParts, build_message, message_id_domain, recipient};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
