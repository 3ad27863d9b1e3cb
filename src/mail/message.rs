//! Turning rendered text into a MIME message with the headers every mail must carry.

use lettre::Address;
use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

/// Everything that differs between two outgoing messages.
pub struct MessageParts<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
    /// RFC 8058 one-click unsubscribe URL; also sent as `List-Unsubscribe-Post`.
    pub unsubscribe_url: Option<&'a str>,
    /// `List-Id`, e.g. `Broadsheet <broadsheet.example.com>`.
    pub list_id: Option<&'a str>,
}

pub struct BuiltMessage {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
    pub message_id: String,
}

/// lettre adds no `Message-ID` by itself; ours is a random UUID at the sender's domain, so it is
/// unique and reveals nothing about the recipient.
pub fn build_message(parts: MessageParts<'_>) -> Result<BuiltMessage, lettre::error::Error> {
    let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), message_id_domain(parts.from));
    let mut builder = lettre::Message::builder()
        .from(parts.from.clone())
        .to(parts.to)
        .subject(parts.subject)
        .message_id(Some(message_id.clone()));
    if let Some(url) = parts.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    if let Some(list_id) = parts.list_id {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Id"), list_id.to_owned()));
    }
    let message = builder.multipart(MultiPart::alternative_plain_html(parts.text, parts.html))?;
    Ok(BuiltMessage { envelope: message.envelope().clone(), bytes: message.formatted(), message_id })
}

pub fn message_id_domain(from: &Mailbox) -> &str {
    from.email.domain()
}

/// The recipient as a mailbox: the display name is encoded by lettre, so a name cannot inject
/// header lines (and names are checked for control characters on the way in as well).
pub fn recipient(email: &str, name: Option<&str>) -> Result<Mailbox, lettre::address::AddressError> {
    let address: Address = email.parse()?;
    Ok(Mailbox::new(name.map(str::to_owned), address))
}
