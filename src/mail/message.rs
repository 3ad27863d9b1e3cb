//! Turning rendered text into a MIME message with the headers every mail must carry.

use base64::Engine as _;
use lettre::Address;
use lettre::address::Envelope;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart};

use crate::domain::SubscriberEmail;

/// Everything that differs between two outgoing messages.
pub struct MessageParts<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    /// The delivery this message is: named in its `Message-ID`, so a report that quotes the
    /// message says which one it was (see [`message_id`]).
    pub delivery: i64,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
    /// RFC 8058 one-click unsubscribe URL; also sent as `List-Unsubscribe-Post`.
    pub unsubscribe_url: Option<&'a str>,
    /// `List-Id`, e.g. `Broadsheet <broadsheet.example.com>`.
    pub list_id: Option<&'a str>,
    /// A second `List-Unsubscribe` entry, `mailto:…?subject=unsubscribe-TOKEN`.
    pub unsubscribe_mailto: Option<String>,
    /// `Feedback-ID` (Gmail's per-campaign complaint reports): `campaign:kind:list:sender`.
    pub feedback_id: Option<String>,
    /// The envelope sender (a VERP bounce address); the From address when `None`.
    pub envelope_from: Option<String>,
    /// Sign the message with DKIM.
    pub dkim: Option<&'a super::DkimSigner>,
    /// Encode non-ASCII bodies in base64, for a server that does not offer 8BITMIME.
    pub seven_bit: bool,
}

pub struct BuiltMessage {
    pub envelope: Envelope,
    /// Whole, or (a prepared digest's) in pieces and dot-stuffed already: see `smtp::wire`.
    pub data: super::smtp::Payload,
    pub message_id: String,
}

/// lettre adds no `Message-ID` by itself; ours comes from [`message_id`].
pub fn build_message(parts: MessageParts<'_>) -> anyhow::Result<BuiltMessage> {
    let message_id = message_id(parts.delivery, parts.from);
    let rcpt = parts.to.email.clone();
    let mut builder = lettre::Message::builder()
        .from(parts.from.clone())
        .to(parts.to)
        .subject(parts.subject)
        .message_id(Some(message_id.clone()));
    if let Some(url) = parts.unsubscribe_url {
        let list_unsubscribe = match &parts.unsubscribe_mailto {
            Some(mailto) => format!("<{url}>, <{mailto}>"),
            None => format!("<{url}>"),
        };
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), list_unsubscribe))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    if let Some(list_id) = parts.list_id {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Id"), list_id.to_owned()));
    }
    if let Some(feedback_id) = parts.feedback_id {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Feedback-ID"), feedback_id));
    }
    if let Some(sender) = &parts.envelope_from {
        builder = builder.envelope(Envelope::new(Some(sender.parse()?), vec![rcpt])?);
    }
    let (text, html) = (encode_body(&parts.text, parts.seven_bit), encode_body(&parts.html, parts.seven_bit));
    let message = builder.multipart(MultiPart::alternative_plain_html(text, html))?;
    let bytes = match parts.dkim {
        Some(signer) => signer.sign(&message.formatted()),
        None => message.formatted(),
    };
    Ok(BuiltMessage {
        envelope: message.envelope().clone(),
        data: super::smtp::Payload::Plain(super::smtp::Wire::whole(bytes)),
        message_id,
    })
}

/// SMTP allows lines of up to 998 octets; beyond that a body must be encoded.
const MAX_LINE: usize = 998;

/// Encodes a body part once, cheaply. lettre's default picks quoted-printable for any body with a
/// long line and encodes it character by character; in the digest benchmark that was over a
/// third of the worker's CPU (perf: `quoted_printable::_encode`, the encoding chooser, CRLF
/// conversion). Most bodies fit 7bit/8bit as they are; the rest go out as base64, which is
/// encoded at memory speed.
fn encode_body(text: &str, seven_bit: bool) -> Body {
    // Line endings to CRLF (a lone CR or LF counts as one), the longest line measured. Templates
    // give bare LFs; `split(char)` finds them with memchr, so this is one fast pass.
    let lf_only;
    let text_lf = if text.contains('\r') {
        lf_only = text.replace("\r\n", "\n").replace('\r', "\n");
        lf_only.as_str()
    } else {
        text
    };
    let mut crlf = Vec::with_capacity(text_lf.len() + text_lf.len() / 16 + 2);
    let mut longest = 0;
    for (i, line) in text_lf.split('\n').enumerate() {
        if i > 0 {
            crlf.extend_from_slice(b"\r\n");
        }
        crlf.extend_from_slice(line.as_bytes());
        longest = longest.max(line.len());
    }
    if longest <= MAX_LINE && (text.is_ascii() || !seven_bit) {
        let encoding =
            if text.is_ascii() { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::EightBit };
        return Body::dangerous_pre_encoded(crlf, encoding);
    }
    // MIME wants text in canonical (CRLF) form before it is base64-encoded.
    let encoded = base64::engine::general_purpose::STANDARD.encode(&crlf);
    let mut wrapped = Vec::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        wrapped.extend_from_slice(chunk);
        wrapped.extend_from_slice(b"\r\n");
    }
    Body::dangerous_pre_encoded(wrapped, ContentTransferEncoding::Base64)
}

pub fn message_id_domain(from: &Mailbox) -> &str {
    from.email.domain()
}

/// A new `Message-ID`: `<RANDOM.dDELIVERY@domain>`. RANDOM (a v4 UUID, 122 random bits) makes it
/// unique and unguessable; DELIVERY names the delivery, whose row keeps the whole id once the
/// message is sent. A report that quotes it is matched by both (see [`delivery_of_message_id`]):
/// only someone who has the message can name it, so a made-up report naming a bare address
/// cannot touch anyone. The delivery id is no secret: the VERP envelope sender shows it too.
pub fn message_id(delivery: i64, from: &Mailbox) -> String {
    format!("<{}.d{delivery}@{}>", uuid::Uuid::new_v4().simple(), message_id_domain(from))
}

/// The delivery a `Message-ID` of ours names, if it has our shape. Only a shape: the caller
/// checks it against the id the delivery's row keeps.
pub fn delivery_of_message_id(id: &str) -> Option<i64> {
    let inner = id.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (local, _domain) = inner.split_once('@')?;
    let (random, delivery) = local.split_once(".d")?;
    let well_formed = random.len() == 32 && random.bytes().all(|b| b.is_ascii_hexdigit());
    let delivery: i64 = delivery.parse().ok().filter(|d| *d > 0)?;
    well_formed.then_some(delivery)
}

/// The recipient as a mailbox: the display name is encoded by lettre, so a name cannot inject
/// header lines (and names are checked for control characters on the way in as well).
pub fn recipient(email: &SubscriberEmail, name: Option<&str>) -> Result<Mailbox, lettre::address::AddressError> {
    // `SubscriberEmail::parse` already made sure lettre takes it; this only changes its type.
    let address: Address = email.as_str().parse()?;
    Ok(Mailbox::new(name.map(str::to_owned), address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(from: &'a Mailbox, text: &str, html: &str) -> MessageParts<'a> {
        MessageParts {
            from,
            to: recipient(&SubscriberEmail::parse("ada@example.com").unwrap(), Some("Ada \"The Countess\" Lovelace"))
                .unwrap(),
            delivery: 7,
            subject: "Hello",
            text: text.to_owned(),
            html: html.to_owned(),
            unsubscribe_url: Some("https://news.example.com/unsubscribe?token=T"),
            list_id: Some("\"Broadsheet\" <news.example.com>"),
            unsubscribe_mailto: None,
            feedback_id: None,
            envelope_from: None,
            dkim: None,
            seven_bit: false,
        }
    }

    #[test]
    fn every_line_ending_becomes_crlf() {
        let from: Mailbox = "Broadsheet <news@example.com>".parse().unwrap();
        let built = build_message(parts(&from, "a\nb\r\nc\rd\n\ne", "<p>x</p>\r\n")).unwrap();
        let raw = String::from_utf8(built.data.plain().into_owned()).unwrap();
        assert!(raw.contains("a\r\nb\r\nc\r\nd\r\n\r\ne"), "{raw:?}");
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"));
        let exactly = "y".repeat(MAX_LINE);
        let at_limit = build_message(parts(&from, &exactly, "<p>x</p>")).unwrap();
        assert!(!String::from_utf8(at_limit.data.plain().into_owned()).unwrap().contains("base64"));
        let over = build_message(parts(&from, &format!("{exactly}y\nshort"), "<p>x</p>")).unwrap();
        assert!(String::from_utf8(over.data.plain().into_owned()).unwrap().contains("base64"));
    }

    #[test]
    fn short_lines_go_as_they_are_and_long_ones_as_base64() {
        let from: Mailbox = "Broadsheet <news@example.com>".parse().unwrap();
        let long = "x".repeat(2000);
        let built = build_message(parts(&from, "plain\nlines – ünïcode", &format!("<p>{long}</p>"))).unwrap();
        let raw = String::from_utf8(built.data.plain().into_owned()).unwrap();
        assert!(raw.contains("Content-Transfer-Encoding: 8bit"), "{raw}");
        assert!(raw.contains("plain\r\nlines – ünïcode"));
        assert!(raw.contains("Content-Transfer-Encoding: base64"));
        assert!(raw.split("\r\n").all(|l| l.len() <= MAX_LINE));
        assert!(!raw.replace("\r\n", "").contains('\n'), "no bare line feeds");
        assert!(raw.contains("List-Unsubscribe: <https://news.example.com/unsubscribe?token=T>"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(built.message_id.ends_with(".d7@example.com>"), "{}", built.message_id);
        assert_eq!(delivery_of_message_id(&built.message_id), Some(7));
    }

    #[test]
    fn a_message_id_names_its_delivery_and_nothing_else_does() {
        let from: Mailbox = "Broadsheet <news@example.com>".parse().unwrap();
        let id = message_id(42, &from);
        assert_eq!(delivery_of_message_id(&id), Some(42));
        assert_ne!(id, message_id(42, &from), "random, so unguessable");
        for other in [
            "<3f2c@example.com>",
            "<0123456789abcdef0123456789abcdef.d@example.com>",
            "<0123456789abcdef0123456789abcdef.d-1@example.com>",
            "0123456789abcdef0123456789abcdef.d1@example.com",
            "<0123456789abcdef0123456789abcdeg.d1@example.com>",
            "",
        ] {
            assert_eq!(delivery_of_message_id(other), None, "{other}");
        }
    }
}
