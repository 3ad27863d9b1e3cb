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
//! (Over 400 lines: 170 of them are tests with real-world report samples.)

use mailparse::{MailHeaderMap, ParsedMail};

/// Messages larger than this are not parsed at all (a report is a few kilobytes).
pub const MAX_INBOUND_BYTES: usize = 10 * 1024 * 1024;

/// Everything the classifier found in one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub kind: InboundKind,
    /// Envelope or header addresses the report was sent to (where a VERP tag would be).
    pub sent_to: Vec<String>,
    /// Return-Path addresses found in the original message the report quotes (ARF reports go
    /// to a plain address but quote our envelope sender).
    pub quoted_return_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// One entry per failed recipient the report names.
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
    let mut inbound = Inbound { kind: ignored("empty message"), sent_to: Vec::new(), quoted_return_paths: Vec::new() };
    if raw.len() > MAX_INBOUND_BYTES {
        inbound.kind = ignored(format!("message is larger than {} MB", MAX_INBOUND_BYTES / (1024 * 1024)));
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
    inbound.quoted_return_paths = quoted(&mail, "return-path");
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
/// recipient, separated by blank lines, each in header syntax.
fn delivery_status(part: &ParsedMail<'_>) -> InboundKind {
    let body = part.get_body_raw().unwrap_or_default();
    let mut bounces = Vec::new();
    let mut saw_recipient = false;
    for block in blocks(&body) {
        let Ok((fields, _)) = mailparse::parse_headers(&block) else { continue };
        let recipient = fields
            .get_first_value("Final-Recipient")
            .or_else(|| fields.get_first_value("Original-Recipient"))
            .map(|v| strip_address_type(&v));
        let Some(action) = fields.get_first_value("Action") else { continue };
        saw_recipient = true;
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

/// Splits a body into blocks at blank lines.
fn blocks(body: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    text.split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| format!("{}\n\n", b.replace('\n', "\r\n")).into_bytes())
        .collect()
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
        .or_else(|| quoted(mail, "to").into_iter().next());
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

fn quoted(mail: &ParsedMail<'_>, name: &str) -> Vec<String> {
    quoted_headers(mail).into_iter().filter(|(k, _)| k == name).filter_map(|(_, v)| address_in(&v)).collect()
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
