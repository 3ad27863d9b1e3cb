//! Mailgun's webhooks: `{"signature": {timestamp, token, signature}, "event-data": {…}}`, the
//! signature being hex HMAC-SHA256 of timestamp and token with the webhook signing key. Events
//! `failed` (`severity` `permanent` or `temporary`) and `complained` are reports; the rest is
//! skipped. A signature older than [`MAX_AGE_SECS`] is refused, and so is a token seen before
//! (the caller remembers tokens: see `store::webhook_tokens`).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::{NotTheShape, ProviderReport, Reports, Verdict, bounce, bracketed, shaped, status_in, text_of};

/// How far a signature's timestamp may be from our clock, either way.
pub const MAX_AGE_SECS: i64 = 5 * 60;
/// Mailgun's tokens are 50 characters; anything much longer is not one.
const MAX_TOKEN_LEN: usize = 256;

#[derive(Deserialize)]
struct Webhook {
    signature: SignatureFields,
    #[serde(rename = "event-data")]
    event_data: EventData,
}

#[derive(Deserialize)]
struct SignatureFields {
    timestamp: Value,
    token: String,
    signature: String,
}

#[derive(Deserialize)]
struct EventData {
    event: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    envelope: Option<Envelope>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(rename = "delivery-status", default)]
    delivery_status: Option<DeliveryStatus>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    sender: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    headers: Option<Headers>,
}

#[derive(Deserialize)]
struct Headers {
    #[serde(rename = "message-id", default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct DeliveryStatus {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "enhanced-code", default)]
    enhanced_code: Option<String>,
}

/// A Mailgun webhook, read but not yet believed: check [`Signed::verify`] and [`Signed::is_fresh`]
/// and remember [`Signed::token`] before acting on [`Signed::reports`].
pub struct Signed {
    pub timestamp: String,
    pub token: String,
    signature: String,
    reports: Reports,
}

pub fn parse(body: &[u8]) -> Result<Signed, NotTheShape> {
    let webhook: Webhook = shaped(body, "Mailgun")?;
    let timestamp = text_of(&webhook.signature.timestamp)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| NotTheShape::new("signature.timestamp must be a number of seconds."))?;
    if webhook.signature.token.is_empty() || webhook.signature.token.len() > MAX_TOKEN_LEN {
        return Err(NotTheShape::new("signature.token is not a Mailgun token."));
    }
    let e = webhook.event_data;
    let mut reports = Reports::default();
    let verdict = match (e.event.as_str(), e.severity.as_deref()) {
        ("failed", Some(severity @ ("permanent" | "temporary"))) => {
            let hard = severity == "permanent";
            let status = e.delivery_status.as_ref();
            let code = status.and_then(|s| s.code.as_ref()).and_then(text_of);
            let texts = [
                status.and_then(|s| s.enhanced_code.as_deref()),
                status.and_then(|s| s.message.as_deref()),
                status.and_then(|s| s.description.as_deref()),
            ];
            let diagnostic = status
                .and_then(|s| s.message.clone().filter(|m| !m.is_empty()).or(s.description.clone()))
                .map(|m| match &code {
                    Some(code) => format!("{code} {m}"),
                    None => m,
                })
                .or(e.reason.clone());
            bounce(hard, e.recipient.as_deref(), status_in(&texts, if hard { "5.0.0" } else { "4.0.0" }), diagnostic)
        }
        ("failed", _) => return Err(NotTheShape::new("event-data.severity must be permanent or temporary.")),
        ("complained", _) => Verdict::Complaint { feedback_type: "abuse".to_owned() },
        _ => {
            reports.skipped = 1;
            return Ok(Signed {
                timestamp,
                token: webhook.signature.token,
                signature: webhook.signature.signature,
                reports,
            });
        }
    };
    if e.recipient.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(NotTheShape::new("event-data.recipient is missing."));
    }
    let message_id = e.message.and_then(|m| m.headers).and_then(|h| h.message_id).as_deref().and_then(bracketed);
    reports.reports.push(ProviderReport {
        verdict,
        recipient: e.recipient,
        envelope_sender: e.envelope.and_then(|en| en.sender),
        message_id,
    });
    Ok(Signed { timestamp, token: webhook.signature.token, signature: webhook.signature.signature, reports })
}

impl Signed {
    /// Whether the signature is the HMAC of timestamp and token under `key`. A signature that is
    /// not 64 hex digits does not hold; the comparison is constant-time (`Mac::verify_slice`).
    pub fn verify(&self, key: &[u8]) -> bool {
        let Some(given) = hex(&self.signature) else { return false };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
        mac.update(self.timestamp.as_bytes());
        mac.update(self.token.as_bytes());
        given.len() == 32 && mac.verify_slice(&given).is_ok()
    }

    /// Whether the timestamp is within [`MAX_AGE_SECS`] of `now` (Unix seconds).
    pub fn is_fresh(&self, now: i64) -> bool {
        self.timestamp.parse::<i64>().is_ok_and(|t| (now - t).abs() <= MAX_AGE_SECS)
    }

    /// The reports, once the signature, the time and the token have been checked.
    pub fn reports(self) -> Reports {
        self.reports
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() % 2 != 0 || text.len() > 128 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}
