//! Outgoing mail: its settings, templates, composing messages for a recipient (confirmation,
//! digest, welcome, reminder), message building (headers, DKIM, VERP) and where it goes (the
//! SMTP client in `smtp/`, or `.eml` files).

mod compose;
mod dkim;
mod message;
mod prepared;
mod settings;
mod smtp;
mod templates;
mod transport;
mod url;
mod verp;

pub use self::compose::{Composer, DigestView, Links, Recipient};
pub use dkim::{DkimSigner, KeyKind};
pub use message::{BuiltMessage, MessageParts, build_message, delivery_of_message_id, message_id_domain, recipient};
pub use settings::{MailSettings, MailSettingsError};
pub use smtp::{Lane, Next};
pub use templates::{EmailTemplates, RenderedEmail, TemplateError, html_formatter};
pub use transport::{MailTransport, SendError};
pub use url::{MailUrl, TlsMode};
pub use verp::BounceAddress;
