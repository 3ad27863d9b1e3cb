//! What a message sent back to us says: a delivery status notification (RFC 3464), a complaint
//! feedback report (ARF, RFC 5965), an automatic reply (RFC 3834), an unsubscribe request by
//! mail, or nothing we act on.
//!
//! Real reports are messy: vendors omit `report-type`, put the status only in free text, send
//! several per-recipient blocks, wrap everything in `text/rfc822-headers` instead of the whole
//! message. The classifier reads the structured parts where they exist and falls back only to
//! other structured fields (never to keywords in prose), so a message it does not understand is
//! ignored with a reason rather than guessed at. It never fails: any input, however broken,
//! gets an [`Inbound`].
//!
//! Anyone can send us mail, so the work one message can cause is bounded before any parser runs
//! (see `shape`): how much of it is parsed, how many parts, how deep they nest, and how many
//! recipients a report may name.

pub mod providers;
mod shape;

use mailparse::{MailHeaderMap, ParsedMail};
use shape::shape;

/// Messages larger than this are not taken at all (a report is a few kilobytes; one that quotes
/// a whole digest, a few hundred).
pub const MAX_INBOUND_BYTES: usize = 10 * 1024 * 1024;
/// Only the first MiB of a message is parsed. Every part we read comes first in a report (the
/// delivery status or feedback fields, then the quoted original's headers); what follows is the
/// quoted body, which we never read. This bounds the parser's time and memory whatever the size.
pub const PARSED_BYTES: usize = 1024 * 1024;
/// MIME parts in a message: a report has three or four, a forwarded one a few more.
pub const MAX_PARTS: usize = 100;
/// How deep multiparts may nest (a report nests two or three deep). The parser recurses once per
/// level, so this also bounds its stack.
pub const MAX_DEPTH: usize = 16;
/// Recipients one delivery report may name; the rest are not read.
pub const MAX_RECIPIENTS: usize = 100;

/// Everything the classifier found in one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub kind: InboundKind,
    /// Envelope or header addresses the report was sent to (where a VERP tag would be).
    pub sent_to: Vec<String>,
    /// Return-Path addresses found in the original message the report quotes (ARF reports go
    /// to a plain address but quote our envelope sender).
    pub quoted_return_paths: Vec<String>,
    /// Message-IDs of the original message the report quotes.
    pub quoted_message_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// One entry per failed recipient the report names (at most [`MAX_RECIPIENTS`]).
    Bounce(Vec<Bounce>),
    Complaint {
        recipient: Option<String>,
        feedback_type: String,
    },
    AutoReply,
    /// A mail to the unsubscribe address; the token from the subject when there is one.
    Unsubscribe {
        token: Option<String>,
        from: Option<String>,
    },
    Ignored {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    pub recipient: Option<String>,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: String,
    pub diagnostic: Option<String>,
    pub hard: bool,
}

/// Classifies raw message bytes. `unsubscribe_mailto` is `mail.unsubscribe_mailto`, and
/// `envelope_to` the recipient the MTA delivered to (`--recipient`), when known.
pub fn classify(raw: &[u8], envelope_to: Option<&str>, unsubscribe_mailto: Option<&str>) -> Inbound {
    let mut inbound = Inbound {
        kind: ignored("empty message"),
        sent_to: Vec::new(),
        quoted_return_paths: Vec::new(),
        quoted_message_ids: Vec::new(),
    };
    if raw.len() > MAX_INBOUND_BYTES {
        inbound.kind = ignored(format!("message is larger than {} MB", MAX_INBOUND_BYTES / (1024 * 1024)));
        return inbound;
    }
    let raw = &raw[..raw.len().min(PARSED_BYTES)];
    if let Err(reason) = shape(raw) {
        inbound.kind = ignored(reason);
        return inbound;
    }
    let mail = match mailparse::parse_mail(raw) {
        Ok(mail) => mail,
        Err(e) => {
            inbound.kind = ignored(format!("not a parsable message: {e}"));
            return inbound;
        }
    };
    inbound.sent_to = recipients(&mail, envelope_to);
    inbound.kind = kind_of(&mail, &inbound.sent_to, unsubscribe_mailto);
    let quoted = quoted_headers(&mail);
    inbound.quoted_return_paths = quoted_values(&quoted, "return-path").filter_map(address_in).collect();
    inbound.quoted_message_ids = quoted_values(&quoted, "message-id").map(|id| id.trim().to_owned()).collect();
    inbound
}

fn ignored(reason: impl Into<String>) -> InboundKind {
    InboundKind::Ignored { reason: reason.into() }
}

fn kind_of(mail: &ParsedMail<'_>, sent_to: &[String], unsubscribe_mailto: Option<&str>) -> InboundKind {
    if let Some(status) = find_part(mail, "message/delivery-status") {
        return delivery_status(status);
    }
    if let Some(feedback) = find_part(mail, "message/feedback-report") {
        return feedback_report(mail, feedback);
    }
    if is_auto_reply(mail) {
        return InboundKind::AutoReply;
    }
    if let Some(mailto) = unsubscribe_mailto
        && sent_to.iter().any(|to| to.eq_ignore_ascii_case(mailto))
    {
        let subject = mail.headers.get_first_value("Subject").unwrap_or_default();
        let token = subject.trim().strip_prefix("unsubscribe-").map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let from = mail.headers.get_first_value("From").as_deref().and_then(address_in);
        return InboundKind::Unsubscribe { token, from };
    }
    ignored("not a delivery report, complaint, auto-reply or unsubscribe request")
}

/// The first part (depth first) of this content type.
fn find_part<'a, 'b>(mail: &'b ParsedMail<'a>, ctype: &str) -> Option<&'b ParsedMail<'a>> {
    if mail.ctype.mimetype.eq_ignore_ascii_case(ctype) {
        return Some(mail);
    }
    mail.subparts.iter().find_map(|part| find_part(part, ctype))
}

/// A `message/delivery-status` body: one block of per-message fields, then one block per
/// recipient, separated by blank lines, each in header syntax. At most [`MAX_RECIPIENTS`]
/// recipient blocks are read.
fn delivery_status(part: &ParsedMail<'_>) -> InboundKind {
    let body = part.get_body_raw().unwrap_or_default();
    let mut bounces = Vec::new();
    let mut saw_recipient = false;
    let mut recipients = 0;
    for block in blocks(&body) {
        let Ok((fields, _)) = mailparse::parse_headers(&block) else { continue };
        let recipient = fields
            .get_first_value("Final-Recipient")
            .or_else(|| fields.get_first_value("Original-Recipient"))
            .map(|v| strip_address_type(&v));
        let Some(action) = fields.get_first_value("Action") else { continue };
        saw_recipient = true;
        recipients += 1;
        if recipients > MAX_RECIPIENTS {
            break;
        }
        let action = action.trim().to_ascii_lowercase();
        // delayed, delivered, relayed, expanded: not a failure (delays are still being retried).
        if action != "failed" {
            continue;
        }
        let diagnostic = fields.get_first_value("Diagnostic-Code").map(|d| strip_address_type(&d));
        let status = fields
            .get_first_value("Status")
            .and_then(|s| enhanced_code(&s))
            .or_else(|| diagnostic.as_deref().and_then(enhanced_code))
            .unwrap_or_else(|| "5.0.0".to_owned());
        bounces.push(Bounce { recipient, hard: is_hard(&status), status, diagnostic });
    }
    if bounces.is_empty() {
        return ignored(if saw_recipient {
            "delivery report without a failed recipient (a delay or a success notice)"
        } else {
            "delivery report without per-recipient fields"
        });
    }
    InboundKind::Bounce(bounces)
}

/// 5.x.x is permanent, except a full mailbox (5.2.2), which may empty again; 4.x.x is transient.
fn is_hard(status: &str) -> bool {
    status.starts_with('5') && status != "5.2.2"
}

/// The first `class.subject.detail` code in a field, e.g. `5.1.1` from `smtp; 550 5.1.1 No such user`.
fn enhanced_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ')' || c == ',').find_map(|word| {
        let mut parts = word.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = parts.next().is_none()
            && matches!(class, "2" | "4" | "5")
            && (1..=3).contains(&subject.len())
            && (1..=3).contains(&detail.len())
            && subject.chars().chain(detail.chars()).all(|c| c.is_ascii_digit());
        ok.then(|| word.to_owned())
    })
}

/// `rfc822; ada@example.com` → `ada@example.com`; `smtp; 550 …` → `550 …`.
fn strip_address_type(value: &str) -> String {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') && !kind.contains('@') => rest.trim().to_owned(),
        _ => value.trim().to_owned(),
    }
}

/// Splits a body into blocks at blank lines, one block at a time (a report of many recipients
/// is read only as far as it is used).
fn blocks(body: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let text = String::from_utf8_lossy(body);
    let text = if text.contains('\r') { text.replace("\r\n", "\n") } else { text.into_owned() };
    let mut from = 0;
    std::iter::from_fn(move || {
        while from < text.len() {
            let rest = &text[from..];
            let (block, next) = match rest.find("\n\n") {
                Some(at) => (&rest[..at], from + at + 2),
                None => (rest, text.len()),
            };
            from = next;
            let block = block.trim();
            if !block.is_empty() {
                return Some(format!("{}\n\n", block.replace('\n', "\r\n")).into_bytes());
            }
        }
        None
    })
}

/// A feedback report: `Feedback-Type: abuse` (or fraud, virus, other) is a complaint;
/// `not-spam` is ignored.
fn feedback_report(mail: &ParsedMail<'_>, part: &ParsedMail<'_>) -> InboundKind {
    let body = part.get_body_raw().unwrap_or_default();
    let fields = match mailparse::parse_headers(&body) {
        Ok((fields, _)) => fields,
        Err(_) => return ignored("feedback report without fields"),
    };
    let feedback_type =
        fields.get_first_value("Feedback-Type").map(|t| t.trim().to_ascii_lowercase()).unwrap_or_default();
    if feedback_type.is_empty() || feedback_type == "not-spam" {
        return ignored(format!("feedback report of type {feedback_type:?}"));
    }
    let recipient = fields
        .get_first_value("Original-Rcpt-To")
        .as_deref()
        .and_then(address_in)
        .or_else(|| quoted_values(&quoted_headers(mail), "to").find_map(address_in));
    InboundKind::Complaint { recipient, feedback_type }
}

/// The headers of the original message a report quotes (whole, or headers only), as
/// (lower-cased name, value) pairs.
fn quoted_headers(mail: &ParsedMail<'_>) -> Vec<(String, String)> {
    let Some(part) = find_part(mail, "message/rfc822").or_else(|| find_part(mail, "text/rfc822-headers")) else {
        return Vec::new();
    };
    let Ok(raw) = part.get_body_raw() else { return Vec::new() };
    let Ok((headers, _)) = mailparse::parse_headers(&raw) else { return Vec::new() };
    headers.iter().map(|h| (h.get_key().to_ascii_lowercase(), h.get_value())).collect()
}

fn quoted_values<'a>(quoted: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    quoted.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// RFC 3834 `Auto-Submitted` other than `no`, and the older vendor headers that mean the same.
fn is_auto_reply(mail: &ParsedMail<'_>) -> bool {
    let headers = &mail.headers;
    let auto_submitted = headers.get_first_value("Auto-Submitted").map(|v| v.trim().to_ascii_lowercase());
    if auto_submitted.is_some_and(|v| !v.is_empty() && !v.starts_with("no")) {
        return true;
    }
    headers.get_first_value("X-Autoreply").is_some()
        || headers.get_first_value("X-Autorespond").is_some()
        || headers.get_first_value("X-Auto-Response-Suppress").is_some_and(|v| v.to_ascii_lowercase().contains("oof"))
        || headers
            .get_first_value("Precedence")
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "auto_reply" | "bulk" | "junk"))
}

/// Where the message was delivered to: the MTA's word first, then the headers it adds.
fn recipients(mail: &ParsedMail<'_>, envelope_to: Option<&str>) -> Vec<String> {
    let mut found: Vec<String> = envelope_to.into_iter().map(str::to_owned).collect();
    for name in ["X-Original-To", "Delivered-To", "Envelope-To", "To"] {
        for value in mail.headers.get_all_values(name) {
            found.extend(value.split(',').filter_map(address_in));
        }
    }
    found.dedup();
    found
}

/// The address in `Name <a@b>`, `<a@b>` or `a@b`.
fn address_in(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = match (value.rfind('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value,
    };
    let inner = inner.trim();
    (inner.contains('@') && !inner.contains(char::is_whitespace)).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests;
