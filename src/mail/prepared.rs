//! A digest (or the confirmation mail) composed once, as bytes ready for the wire, with only
//! what differs per recipient spliced in per message.
//!
//! The values are the name, the unsubscribe link, the preference page's link and, in a
//! confirmation, the confirmation link's token.
//!
//! Why: building each of a digest's messages with lettre's builder (templates rendered, bodies
//! converted to CRLF, headers encoded, the whole message formatted, then dot-stuffed byte by
//! byte on the way out) cost more CPU per message than the SMTP sink spends receiving it. Here
//! the templates are rendered once per digest with a marker where the recipient's name and
//! unsubscribe link go; the text between the markers is converted, measured and dot-stuffed
//! once; a message is then a handful of copies. The per-recipient values are escaped exactly as
//! the templates would (HTML escaping in the HTML part), headers are still encoded by lettre, and
//! the body encoding is chosen per message by the same rule as [`super::message`]'s (7bit,
//! 8bit, or base64 when a line is too long or the server lacks 8BITMIME).
//!
//! A digest is only prepared this way when a probe message assembled from the pieces decodes to
//! the same message the builder makes (see [`PreparedMail::new`]): a template override that
//! filters the name or the link (`{{ name|upper }}`) falls back to the builder.

use base64::Engine as _;
use bytes::Bytes;
use lettre::address::Envelope;
use lettre::message::header::{self, ContentTransferEncoding, HeaderName, HeaderValue, Headers};
use lettre::message::{Body, Mailbox, Mailboxes, MultiPart, SinglePart};

use super::RenderedEmail;
use super::smtp::{Payload, Wire};

/// Stands for the recipient's name in the rendered templates: a private-use character, which
/// neither HTML escaping nor any text we write contains.
pub(super) const NAME_MARK: &str = "\u{E000}broadsheet:name\u{E000}";
/// Stands for the unsubscribe URL.
pub(super) const URL_MARK: &str = "\u{E000}broadsheet:unsubscribe\u{E000}";
/// Stands for the preference page's URL.
pub(super) const PREFERENCES_MARK: &str = "\u{E000}broadsheet:preferences\u{E000}";
/// Stands for the token in the confirmation link (the confirmation mail only).
pub(super) const CONFIRM_MARK: &str = "\u{E000}broadsheet:confirm\u{E000}";

/// SMTP allows lines of up to 998 octets; beyond that a body must be encoded.
const MAX_LINE: usize = 998;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Name,
    Url,
    Preferences,
    Confirm,
}

/// Text between two per-recipient values, as CRLF text, measured once.
#[derive(Debug)]
struct Fixed {
    /// Unstuffed: for DKIM (which signs what the recipient reads) and base64 bodies.
    plain: Bytes,
    /// Every line start after the first dot-stuffed (RFC 5321 4.5.2); whether the first byte
    /// needs a dot depends on what comes before it, so that one is decided per message.
    stuffed: Bytes,
    starts_with_dot: bool,
    ends_line: bool,
    /// Length of the first and last line (without CRLF) and the longest line between them.
    first_line: usize,
    last_line: usize,
    longest_inner: usize,
    has_newline: bool,
}

impl Fixed {
    fn new(text: &str) -> Self {
        let mut plain = Vec::with_capacity(text.len() + text.len() / 32);
        let mut stuffed = Vec::with_capacity(text.len() + text.len() / 32);
        let lines: Vec<&str> = text.split('\n').collect();
        let mut longest_inner = 0;
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                plain.extend_from_slice(b"\r\n");
                stuffed.extend_from_slice(b"\r\n");
                if line.starts_with('.') {
                    stuffed.push(b'.');
                }
                if i + 1 < lines.len() {
                    longest_inner = longest_inner.max(line.len());
                }
            }
            plain.extend_from_slice(line.as_bytes());
            stuffed.extend_from_slice(line.as_bytes());
        }
        Self {
            starts_with_dot: text.starts_with('.'),
            ends_line: text.ends_with('\n'),
            first_line: lines.first().map_or(0, |l| l.len()),
            last_line: lines.last().map_or(0, |l| l.len()),
            longest_inner,
            has_newline: lines.len() > 1,
            plain: plain.into(),
            stuffed: stuffed.into(),
        }
    }
}

#[derive(Debug)]
enum Piece {
    Fixed(Fixed),
    Slot(Slot),
}

/// One body part (text or HTML) as pieces.
#[derive(Debug)]
struct PreparedBody {
    pieces: Vec<Piece>,
    ascii: bool,
    /// Values go in HTML-escaped.
    html: bool,
    /// The part's headers with the blank line after them, for 7bit, 8bit and base64.
    headers: [Bytes; 3],
}

impl PreparedBody {
    fn new(rendered: &str, html: bool) -> Option<Self> {
        // Lone CRs would need the builder's CR handling across piece boundaries; templates
        // never produce them.
        if rendered.contains('\r') {
            return None;
        }
        let mut pieces = Vec::new();
        let mut rest = rendered;
        loop {
            let next = [
                (NAME_MARK, Slot::Name),
                (URL_MARK, Slot::Url),
                (PREFERENCES_MARK, Slot::Preferences),
                (CONFIRM_MARK, Slot::Confirm),
            ]
            .into_iter()
            .filter_map(|(mark, slot)| rest.find(mark).map(|at| (at, mark.len(), slot)))
            .min_by_key(|(at, _, _)| *at);
            let Some((at, len, slot)) = next else { break };
            pieces.push(Piece::Fixed(Fixed::new(&rest[..at])));
            pieces.push(Piece::Slot(slot));
            rest = &rest[at + len..];
        }
        pieces.push(Piece::Fixed(Fixed::new(rest)));
        if rendered.contains('\u{E000}') && !pieces.iter().any(|p| matches!(p, Piece::Slot(_))) {
            // A marker mangled by a filter; and article text has no business containing one.
            return None;
        }
        let part = |encoding| {
            let body = Body::dangerous_pre_encoded(Vec::new(), encoding);
            let part = if html { SinglePart::html(body) } else { SinglePart::plain(body) };
            let mut bytes = part.formatted();
            // `headers CRLF body CRLF` with an empty body: keep the headers and the blank line.
            bytes.truncate(bytes.len() - 2);
            Bytes::from(bytes)
        };
        Some(Self {
            // The markers are not ASCII; what stays of the text between them may be.
            ascii: pieces.iter().all(|p| match p {
                Piece::Fixed(f) => f.plain.is_ascii(),
                Piece::Slot(_) => true,
            }),
            html,
            headers: [
                part(ContentTransferEncoding::SevenBit),
                part(ContentTransferEncoding::EightBit),
                part(ContentTransferEncoding::Base64),
            ],
            pieces,
        })
    }

    /// Appends this part (headers, body, the CRLF lettre ends a part with) to `out`: the text
    /// between the values by reference, the values by copy.
    fn write(&self, values: &Values<'_>, seven_bit: bool, stuffed: bool, out: &mut Wire) {
        let value = |slot: Slot| match (slot, self.html) {
            (Slot::Name, false) => values.name,
            (Slot::Name, true) => values.name_html.as_str(),
            (Slot::Url, false) => values.url,
            (Slot::Url, true) => values.url_html.as_str(),
            (Slot::Preferences, false) => values.preferences,
            (Slot::Preferences, true) => values.preferences_html.as_str(),
            (Slot::Confirm, false) => values.confirm,
            (Slot::Confirm, true) => values.confirm_html.as_str(),
        };
        let (mut longest, mut column, mut ascii) = (0, 0, self.ascii);
        for piece in &self.pieces {
            match piece {
                Piece::Fixed(f) if f.has_newline => {
                    longest = longest.max(column + f.first_line).max(f.longest_inner);
                    column = f.last_line;
                }
                Piece::Fixed(f) => column += f.first_line,
                Piece::Slot(slot) => {
                    let v = value(*slot);
                    column += v.len();
                    ascii &= v.is_ascii();
                }
            }
        }
        longest = longest.max(column);
        if longest <= MAX_LINE && (ascii || !seven_bit) {
            out.shared(&self.headers[usize::from(!ascii)]);
            let mut line_start = true;
            for piece in &self.pieces {
                match piece {
                    Piece::Fixed(f) => {
                        if stuffed {
                            if line_start && f.starts_with_dot {
                                out.extend(b".");
                            }
                            out.shared(&f.stuffed);
                        } else {
                            out.shared(&f.plain);
                        }
                        if !f.plain.is_empty() {
                            line_start = f.ends_line;
                        }
                    }
                    Piece::Slot(slot) => {
                        let v = value(*slot);
                        if stuffed && line_start && v.starts_with('.') {
                            out.extend(b".");
                        }
                        out.extend(v.as_bytes());
                        if !v.is_empty() {
                            line_start = false;
                        }
                    }
                }
            }
        } else {
            // Base64 lines never start with a dot: nothing to stuff.
            let mut plain = Vec::with_capacity(self.pieces.iter().map(|p| p.len()).sum::<usize>() + 256);
            for piece in &self.pieces {
                match piece {
                    Piece::Fixed(f) => plain.extend_from_slice(&f.plain),
                    Piece::Slot(slot) => plain.extend_from_slice(value(*slot).as_bytes()),
                }
            }
            out.shared(&self.headers[2]);
            let encoded = base64::engine::general_purpose::STANDARD.encode(&plain);
            for chunk in encoded.as_bytes().chunks(76) {
                out.extend(chunk);
                out.extend(b"\r\n");
            }
        }
        out.extend(b"\r\n");
    }
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Self::Fixed(f) => f.plain.len(),
            Self::Slot(_) => 0,
        }
    }
}

/// The per-recipient values, escaped once for the HTML part.
struct Values<'a> {
    name: &'a str,
    name_html: String,
    url: &'a str,
    url_html: String,
    preferences: &'a str,
    preferences_html: String,
    confirm: &'a str,
    confirm_html: String,
}

/// What is the same in every message of one digest (or every confirmation).
pub struct FixedHeaders<'a> {
    pub from: &'a Mailbox,
    pub subject: &'a str,
    pub list_id: &'a str,
    pub feedback_id: String,
}

/// A digest's messages (or the confirmation mail's), ready but for the recipient.
#[derive(Debug)]
pub struct PreparedMail {
    /// `From:` … up to (not including) `To:`.
    from: Bytes,
    /// `Subject:`.
    subject: Bytes,
    /// `List-Unsubscribe-Post`, `List-Id`, `Feedback-ID`, `MIME-Version`, the multipart's
    /// `Content-Type` (with the boundary) and the blank line.
    rest: Bytes,
    boundary: String,
    /// The envelope sender without VERP: the From address.
    sender: lettre::Address,
    /// Bodies for a recipient with a name, and without.
    named: (PreparedBody, PreparedBody),
    anonymous: (PreparedBody, PreparedBody),
}

/// One message of a prepared digest.
pub struct PreparedMessage {
    pub envelope: Envelope,
    /// The message, ending in CRLF: stuffed or plain, as asked for.
    pub data: Payload,
    pub message_id: String,
}

/// Per-recipient inputs of [`PreparedMail::message`].
pub struct PreparedRecipient<'a> {
    pub to: Mailbox,
    pub name: Option<&'a str>,
    pub unsubscribe_url: &'a str,
    pub preferences_url: &'a str,
    /// The confirmation link's token, in a confirmation mail.
    pub confirm_token: Option<&'a str>,
    /// `List-Unsubscribe`'s value.
    pub list_unsubscribe: String,
    pub envelope_from: Option<String>,
    pub message_id: String,
}

impl PreparedMail {
    /// From the templates rendered twice with markers in place of the values: once with
    /// a name, once without. `None` when the templates do something with a value other than
    /// print it (the subject must not contain one at all).
    pub fn new(named: &RenderedEmail, anonymous: &RenderedEmail, headers: FixedHeaders<'_>) -> Option<Self> {
        if [named, anonymous].iter().any(|r| r.subject.contains('\u{E000}')) || named.subject != anonymous.subject {
            return None;
        }
        let one = |h: Headers| Bytes::from(h.to_string().into_bytes());
        let mut from = Headers::new();
        from.set(header::From::from(Mailboxes::from(headers.from.clone())));
        let mut subject = Headers::new();
        subject.set(header::Subject::from(headers.subject.to_owned()));
        let mut rest = Headers::new();
        rest.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_owned(),
        ));
        rest.insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("List-Id"), headers.list_id.to_owned()));
        rest.insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("Feedback-ID"), headers.feedback_id));
        rest.set(header::MIME_VERSION_1_0);
        let boundary: String = std::iter::repeat_with(fastrand::alphanumeric).take(40).collect();
        let multipart =
            MultiPart::alternative().boundary(boundary.clone()).singlepart(SinglePart::plain(String::new()));
        let multipart = multipart.formatted();
        let end = multipart.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let mut rest = rest.to_string().into_bytes();
        rest.extend_from_slice(&multipart[..end]);
        Some(Self {
            from: one(from),
            subject: one(subject),
            rest: rest.into(),
            named: (PreparedBody::new(&named.text, false)?, PreparedBody::new(&named.html, true)?),
            anonymous: (PreparedBody::new(&anonymous.text, false)?, PreparedBody::new(&anonymous.html, true)?),
            boundary,
            sender: headers.from.email.clone(),
        })
    }

    /// One message. `stuffed`: dot-stuffed for SMTP's DATA (else as a recipient reads it, for
    /// DKIM signing or a file). `seven_bit`: the server lacks 8BITMIME. `None` when a value
    /// could break the message's structure (a line break, the boundary); the builder takes over.
    pub fn message(
        &self,
        r: PreparedRecipient<'_>,
        seven_bit: bool,
        stuffed: bool,
    ) -> anyhow::Result<Option<PreparedMessage>> {
        let name = r.name.filter(|n| !n.is_empty());
        let unsafe_value = |v: &str| v.contains(['\r', '\n']) || v.contains(&self.boundary) || v.contains('\u{E000}');
        let confirm = r.confirm_token.unwrap_or_default();
        if name.is_some_and(unsafe_value)
            || unsafe_value(r.unsubscribe_url)
            || unsafe_value(r.preferences_url)
            || unsafe_value(confirm)
        {
            return Ok(None);
        }
        let values = Values {
            name: name.unwrap_or_default(),
            name_html: name.map(super::templates::escape_html).unwrap_or_default(),
            url: r.unsubscribe_url,
            url_html: super::templates::escape_html(r.unsubscribe_url),
            preferences: r.preferences_url,
            preferences_html: super::templates::escape_html(r.preferences_url),
            confirm,
            confirm_html: super::templates::escape_html(confirm),
        };
        let rcpt = r.to.email.clone();
        let envelope_from = match r.envelope_from {
            Some(sender) => sender.parse()?,
            None => self.sender.clone(),
        };
        let envelope = Envelope::new(Some(envelope_from), vec![rcpt])?;
        let (text, html) = if name.is_some() { &self.named } else { &self.anonymous };
        // The recipient's own bytes: headers, name and link (twice each), boundaries.
        let mut out = Wire::with_capacity(1024, 4 * (text.pieces.len() + html.pieces.len()) + 16);
        let mut per_recipient = Headers::new();
        out.shared(&self.from);
        per_recipient.set(header::To::from(Mailboxes::from(r.to)));
        out.extend(per_recipient.to_string().as_bytes());
        out.shared(&self.subject);
        let mut per_recipient = Headers::new();
        per_recipient.set(header::MessageId::from(r.message_id.clone()));
        per_recipient
            .insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), r.list_unsubscribe));
        per_recipient.set(header::Date::now());
        out.extend(per_recipient.to_string().as_bytes());
        out.shared(&self.rest);
        for part in [text, html] {
            out.extend(b"--");
            out.extend(self.boundary.as_bytes());
            out.extend(b"\r\n");
            part.write(&values, seven_bit, stuffed, &mut out);
        }
        out.extend(b"--");
        out.extend(self.boundary.as_bytes());
        out.extend(b"--\r\n");
        let data = if stuffed { Payload::Stuffed(out) } else { Payload::Plain(out) };
        Ok(Some(PreparedMessage { envelope, data, message_id: r.message_id }))
    }
}

/// Whether two unstuffed messages read the same: the same headers (but `Date`, `Message-ID` and
/// a DKIM signature, which differ between any two messages, and the boundary), and the same
/// parts with the same headers and the same decoded text. The error says what differs.
pub fn same_message(a: &[u8], b: &[u8]) -> Result<(), String> {
    let (a, b) = (parse(a)?, parse(b)?);
    if a != b {
        return Err(format!("{a:?} != {b:?}"));
    }
    Ok(())
}

/// A message as a recipient's reader sees it: (headers, parts as (headers, decoded body)).
type Readable = (Vec<(String, String)>, Vec<(Vec<(String, String)>, String)>);

fn parse(raw: &[u8]) -> Result<Readable, String> {
    let mail = mailparse::parse_mail(raw).map_err(|e| e.to_string())?;
    let differ_anyway = ["date", "message-id", "dkim-signature", "content-type"];
    let mut headers: Vec<(String, String)> = mail
        .headers
        .iter()
        .map(|h| (h.get_key().to_ascii_lowercase(), h.get_value()))
        .filter(|(k, _)| !differ_anyway.contains(&k.as_str()))
        .collect();
    headers.push(("content-type".to_owned(), mail.ctype.mimetype.clone()));
    headers.sort();
    let mut parts = Vec::new();
    for part in &mail.subparts {
        let mut part_headers: Vec<(String, String)> =
            part.headers.iter().map(|h| (h.get_key().to_ascii_lowercase(), h.get_value())).collect();
        part_headers.sort();
        parts.push((part_headers, part.get_body().map_err(|e| e.to_string())?));
    }
    Ok((headers, parts))
}

#[cfg(test)]
#[path = "prepared_tests.rs"]
mod tests;
