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
//! (see [`shape`]): how much of it is parsed, how many parts, how deep they nest, and how many
//! recipients a report may name.
//!
//! (Over 400 lines: half of them are tests with real-world report samples.)

use mailparse::{MailHeaderMap, ParsedMail};

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

/// One linear pass over the bytes, before any parser sees them: refuses a message with more than
/// [`MAX_PARTS`] parts or multiparts nested deeper than [`MAX_DEPTH`].
///
/// It over-counts rather than under-counts what the parser would build: every line that starts
/// a `Content-Type` header counts as a part, wherever it stands, and every one that names a
/// `multipart/` type opens a level, closed only by a line that starts with `--` and one of the
/// open boundaries (the parser ends a part at exactly such a line). Lines end at CR or LF alike.
fn shape(raw: &[u8]) -> Result<(), String> {
    let mut lines = raw.split(|&b| b == b'\n' || b == b'\r').filter(|l| !l.is_empty()).peekable();
    let (mut parts, mut open) = (0_usize, Vec::<Vec<u8>>::new());
    while let Some(line) = lines.next() {
        if starts_with_ignore_case(line, b"content-type") {
            parts += 1;
            if parts > MAX_PARTS {
                return Err(format!("more than {MAX_PARTS} MIME parts"));
            }
            // The value, with its folded continuation lines.
            let mut value = line.to_ascii_lowercase();
            while let Some(next) = lines.next_if(|l| l.starts_with(b" ") || l.starts_with(b"\t")) {
                value.extend(next.to_ascii_lowercase());
            }
            if find(&value, b"multipart/").is_some() {
                open.push(boundary_in(line, &value));
                if open.len() > MAX_DEPTH {
                    return Err(format!("MIME parts nested more than {MAX_DEPTH} deep"));
                }
            }
        } else if let Some(rest) = line.strip_prefix(b"--") {
            // The innermost open boundary this line starts with closes every level inside it
            // (and its own, at a closing `--boundary--`).
            if let Some(level) = open.iter().rposition(|b| !b.is_empty() && rest.starts_with(b)) {
                let closing = rest[open[level].len()..].starts_with(b"--");
                open.truncate(if closing { level } else { level + 1 });
            }
        }
    }
    Ok(())
}

/// The `boundary` parameter of a Content-Type value, as written (boundaries are case-sensitive);
/// empty when there is none (such a level never closes, which only over-counts).
fn boundary_in(line: &[u8], lower: &[u8]) -> Vec<u8> {
    // Only the first line keeps its case here; a boundary folded onto a continuation line is
    // matched in lower case, which at worst leaves the level open.
    let Some(at) = find(lower, b"boundary=") else { return Vec::new() };
    let source = if at + 9 <= line.len() { &line[at + 9..] } else { &lower[at + 9..] };
    let value = match source.strip_prefix(b"\"") {
        Some(quoted) => quoted.split(|&b| b == b'"').next().unwrap_or_default(),
        None => source.split(|&b| b == b';' || b.is_ascii_whitespace()).next().unwrap_or_default(),
    };
    value.to_vec()
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
mod tests {
    use super::*;

    const POSTFIX_DSN: &str = "Return-Path: <>\r
Delivered-To: bounces+7-0123456789abcdef@news.example.com\r
From: MAILER-DAEMON@mta.example.net (Mail Delivery System)\r
Subject: Undelivered Mail Returned to Sender\r
To: bounces+7-0123456789abcdef@news.example.com\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r
\r
--B1\r
Content-Type: text/plain; charset=us-ascii\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
\r
--B1\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mta.example.net\r
Arrival-Date: Tue,  1 Dec 2026 07:00:00 +0000 (UTC)\r
\r
Final-Recipient: rfc822; nobody@example.org\r
Original-Recipient: rfc822;nobody@example.org\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; mx.example.org\r
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address\r
    rejected: User unknown\r
\r
Final-Recipient: rfc822; full@example.org\r
Action: failed\r
Status: 5.2.2\r
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r
\r
--B1\r
Content-Type: text/rfc822-headers\r
\r
Return-Path: <bounces+7-0123456789abcdef@news.example.com>\r
From: News <news@news.example.com>\r
To: nobody@example.org\r
Subject: The digest\r
\r
--B1--\r
";

    #[test]
    fn a_postfix_report_names_each_failed_recipient_hard_or_soft() {
        let inbound = classify(POSTFIX_DSN.as_bytes(), None, None);
        let InboundKind::Bounce(bounces) = &inbound.kind else { panic!("{inbound:?}") };
        assert_eq!(bounces.len(), 2);
        assert_eq!(bounces[0].recipient.as_deref(), Some("nobody@example.org"));
        assert_eq!(bounces[0].status, "5.1.1");
        assert!(bounces[0].hard);
        assert!(bounces[0].diagnostic.as_deref().unwrap_or("").contains("User unknown"));
        assert_eq!(bounces[1].status, "5.2.2");
        assert!(!bounces[1].hard, "a full mailbox is soft");
        assert_eq!(inbound.sent_to[0], "bounces+7-0123456789abcdef@news.example.com");
        assert_eq!(inbound.quoted_return_paths, ["bounces+7-0123456789abcdef@news.example.com"]);
    }

    /// Generated by Postfix 3.7 on loopback: relaying to a server that answered `550 5.1.1` at
    /// RCPT, it returned this report to the VERP envelope sender (`deliverability/run` makes
    /// such reports afresh).
    #[test]
    fn a_report_from_a_real_postfix_is_a_hard_bounce_for_the_refused_recipient() {
        let raw = include_bytes!("../../tests/fixtures/postfix-dsn-user-unknown.eml");
        let inbound = classify(raw, None, None);
        let InboundKind::Bounce(bounces) = &inbound.kind else { panic!("{inbound:?}") };
        assert_eq!(bounces.len(), 1);
        assert_eq!(bounces[0].recipient.as_deref(), Some("nobody@example.org"));
        assert_eq!(bounces[0].status, "5.1.1");
        assert!(bounces[0].hard);
        assert!(inbound.sent_to.iter().any(|a| a == "bounces+d42-0123456789abcdef@news.example.com"));
        assert_eq!(inbound.quoted_return_paths, ["bounces+d42-0123456789abcdef@news.example.com"]);
    }

    #[test]
    fn a_delay_notice_is_not_a_bounce() {
        let delayed = POSTFIX_DSN.replace("Action: failed", "Action: delayed").replace("Status: 5.", "Status: 4.");
        assert!(matches!(classify(delayed.as_bytes(), None, None).kind, InboundKind::Ignored { .. }));
    }

    #[test]
    fn the_status_can_come_from_the_diagnostic_alone() {
        let no_status = POSTFIX_DSN.replace("Status: 5.1.1\r\n", "");
        let InboundKind::Bounce(b) = classify(no_status.as_bytes(), None, None).kind else { panic!() };
        assert_eq!(b[0].status, "5.1.1");
    }

    #[test]
    fn an_abuse_report_is_a_complaint_and_not_spam_is_not() {
        let arf = "From: fbl@isp.example\r
To: fbl@news.example.com\r
Subject: FW: complaint\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report; boundary=\"X\"\r
\r
--X\r
Content-Type: text/plain\r
\r
This is an email abuse report.\r
--X\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: abuse\r
User-Agent: SomeGenerator/1.0\r
Version: 1\r
Original-Rcpt-To: <ada@example.org>\r
\r
--X\r
Content-Type: message/rfc822\r
\r
Return-Path: <bounces+9-00aa@news.example.com>\r
From: news@news.example.com\r
To: ada@example.org\r
Subject: The digest\r
\r
Hello\r
--X--\r
";
        let inbound = classify(arf.as_bytes(), None, None);
        assert_eq!(
            inbound.kind,
            InboundKind::Complaint { recipient: Some("ada@example.org".into()), feedback_type: "abuse".into() }
        );
        assert_eq!(inbound.quoted_return_paths, ["bounces+9-00aa@news.example.com"]);
        let not_spam = arf.replace("Feedback-Type: abuse", "Feedback-Type: not-spam");
        assert!(matches!(classify(not_spam.as_bytes(), None, None).kind, InboundKind::Ignored { .. }));
    }

    #[test]
    fn vacation_replies_are_auto_replies() {
        let vacation = "From: ada@example.org\r\nTo: news@news.example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied (vacation)\r\n\r\nAway until Monday.\r\n";
        assert_eq!(classify(vacation.as_bytes(), None, None).kind, InboundKind::AutoReply);
        let outlook =
            "From: ada@example.org\r\nSubject: Automatic reply\r\nX-Auto-Response-Suppress: All, OOF\r\n\r\nAway.\r\n";
        assert_eq!(classify(outlook.as_bytes(), None, None).kind, InboundKind::AutoReply);
    }

    #[test]
    fn a_mail_to_the_unsubscribe_address_carries_its_token() {
        let mail = "From: Ada <ada@example.org>\r\nTo: unsubscribe@news.example.com\r\nSubject: unsubscribe-abc123\r\n\r\n\r\n";
        let inbound = classify(mail.as_bytes(), None, Some("unsubscribe@news.example.com"));
        assert_eq!(
            inbound.kind,
            InboundKind::Unsubscribe { token: Some("abc123".into()), from: Some("ada@example.org".into()) }
        );
        assert!(matches!(classify(mail.as_bytes(), None, None).kind, InboundKind::Ignored { .. }));
    }

    #[test]
    fn oversized_and_broken_input_is_ignored_with_a_reason() {
        let big = vec![b'a'; MAX_INBOUND_BYTES + 1];
        assert!(
            matches!(classify(&big, None, None).kind, InboundKind::Ignored { reason } if reason.contains("larger"))
        );
        for junk in [&b""[..], b"\xff\xfe\x00", b"Content-Type: multipart/report; boundary=\"\r\n\r\n--\r\n"] {
            assert!(matches!(classify(junk, None, None).kind, InboundKind::Ignored { .. }));
        }
    }

    #[test]
    fn enhanced_codes_are_found_in_free_text() {
        assert_eq!(enhanced_code("smtp; 550 5.1.1 <a@b>: unknown").as_deref(), Some("5.1.1"));
        assert_eq!(enhanced_code("4.4.1 (connection timed out)").as_deref(), Some("4.4.1"));
        assert_eq!(enhanced_code("version 1.2.3"), None);
        assert_eq!(enhanced_code("550 user unknown"), None);
    }

    fn nested(depth: usize, boundary: impl Fn(usize) -> String) -> Vec<u8> {
        let mut raw = b"MIME-Version: 1.0\r\n".to_vec();
        for i in 0..depth {
            let b = boundary(i);
            raw.extend(format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n--{b}\r\n").as_bytes());
        }
        raw.extend(b"Content-Type: text/plain\r\n\r\nx\r\n");
        raw
    }

    /// Runs `classify` on a thread with a small stack: a parser that recursed once per nesting
    /// level would overflow it long before the depth the checks allow.
    fn classify_on_a_small_stack(raw: Vec<u8>) -> Inbound {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || classify(&raw, None, None))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deep_nesting_is_refused_before_any_parser_runs() {
        for boundary in [|i: usize| format!("b{i}"), |_: usize| "same".to_owned()] {
            let inbound = classify_on_a_small_stack(nested(5_000, boundary));
            assert!(
                matches!(&inbound.kind, InboundKind::Ignored { reason } if reason.contains("nested")),
                "{inbound:?}"
            );
        }
        // Folded, in other cases, with line ends of CR alone: still counted.
        let folded = nested(MAX_DEPTH + 1, |i| format!("b{i}"))
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect::<Vec<u8>>();
        let folded = String::from_utf8(folded).unwrap().replace("Content-Type: multipart", "CONTENT-type:\r multipart");
        assert!(matches!(classify_on_a_small_stack(folded.into_bytes()).kind, InboundKind::Ignored { .. }));
        // Nesting that closes again before the next level opens is no deeper than one.
        let mut siblings = b"Content-Type: multipart/mixed; boundary=\"top\"\r\n\r\n".to_vec();
        for i in 0..(MAX_PARTS / 3) {
            siblings.extend(
                format!("--top\r\nContent-Type: multipart/alternative; boundary=\"s{i}\"\r\n\r\n--s{i}\r\nContent-Type: text/plain\r\n\r\nx\r\n--s{i}--\r\n")
                    .as_bytes(),
            );
        }
        siblings.extend(b"--top--\r\n");
        assert_eq!(shape(&siblings), Ok(()));
        assert_eq!(shape(&nested(MAX_DEPTH, |i| format!("b{i}"))), Ok(()));
    }

    #[test]
    fn a_message_of_many_parts_is_refused_and_a_huge_one_is_read_only_as_far_as_its_first_mib() {
        let mut flat = b"Content-Type: multipart/mixed; boundary=\"f\"\r\n\r\n".to_vec();
        while flat.len() < 9_800_000 {
            flat.extend(b"--f\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        let inbound = classify(&flat, None, None);
        assert!(matches!(&inbound.kind, InboundKind::Ignored { reason } if reason.contains("parts")), "{inbound:?}");

        // A real report with a quoted original of 9 MB: what we read comes first, and is read.
        let padded = POSTFIX_DSN
            .replace("The digest\r\n\r\n--B1--", &format!("The digest\r\n\r\n{}\r\n--B1--", "x".repeat(9_000_000)));
        assert!(matches!(classify(padded.as_bytes(), None, None).kind, InboundKind::Bounce(_)));
        // A delivery status placed after a first MiB of padding is not read at all.
        let late = POSTFIX_DSN.replace("I'm sorry", &"x".repeat(PARSED_BYTES));
        assert!(!matches!(classify(late.as_bytes(), None, None).kind, InboundKind::Bounce(_)));
    }

    #[test]
    fn a_report_is_read_for_at_most_a_hundred_recipients() {
        let block = "Final-Recipient: rfc822; r@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n";
        let many = POSTFIX_DSN.replace(
            "Final-Recipient: rfc822; nobody@example.org\r\n",
            &format!("{}Final-Recipient: rfc822; nobody@example.org\r\n", block.repeat(20_000)),
        );
        let InboundKind::Bounce(bounces) = classify(many.as_bytes(), None, None).kind else { panic!() };
        assert_eq!(bounces.len(), MAX_RECIPIENTS);
    }

    proptest::proptest! {
        /// Nested and oversized MIME of every shape: any depth up to 3,000 (each level with its
        /// own boundary, the same one, or none), parts beside parts, padding, line ends of every
        /// kind. Every message gets a verdict, on a small stack, without a panic.
        #[test]
        fn nested_and_oversized_mime_gets_a_verdict(
            depth in 0_usize..3_000,
            siblings in 0_usize..150,
            reuse in proptest::bool::ANY,
            pad in 0_usize..200_000,
            line_end in proptest::sample::select(vec!["\r\n", "\n", "\r"]),
            kind in proptest::sample::select(vec!["mixed", "report; report-type=delivery-status", "digest", "alternative"]),
        ) {
            let mut raw = String::new();
            for i in 0..depth {
                let b = if reuse { "b".to_owned() } else { format!("b{i}") };
                raw.push_str(&format!("Content-Type: multipart/{kind}; boundary=\"{b}\"{line_end}{line_end}--{b}{line_end}"));
            }
            for _ in 0..siblings {
                raw.push_str(&format!("Content-Type: message/delivery-status{line_end}{line_end}Final-Recipient: rfc822; a@b.c{line_end}Action: failed{line_end}{line_end}--b{line_end}"));
            }
            raw.push_str(&"p".repeat(pad));
            let inbound = classify_on_a_small_stack(raw.into_bytes());
            if let InboundKind::Bounce(bounces) = inbound.kind {
                proptest::prop_assert!(bounces.len() <= MAX_RECIPIENTS);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_get_a_verdict(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = classify(&bytes, None, Some("u@x.y"));
        }

        #[test]
        fn any_report_body_gets_a_verdict(body in "(?s).{0,600}") {
            let mail = format!("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n{body}\r\n--b--\r\n");
            let _ = classify(mail.as_bytes(), None, None);
        }
    }
}
