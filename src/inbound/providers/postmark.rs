//! Postmark's bounce and spam complaint webhooks: one JSON object per request, `RecordType`
//! `Bounce` (its `Type` says how it failed) or `SpamComplaint`. Postmark proves a request is its
//! own with the HTTP Basic credentials in the webhook URL; [`credentials_match`] checks them.

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::{NotTheShape, ProviderReport, Reports, Verdict, bounce, bracketed, shaped, status_in};

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "RecordType")]
    record_type: String,
    #[serde(rename = "Type", default)]
    kind: Option<String>,
    #[serde(rename = "Email", default)]
    email: Option<String>,
    #[serde(rename = "Details", default)]
    details: Option<String>,
    #[serde(rename = "Description", default)]
    description: Option<String>,
    /// The raw bounce, when the webhook is set to include it: it quotes our Message-ID.
    #[serde(rename = "Content", default)]
    content: Option<String>,
}

/// Bounce types that end the mail: the address does not exist or cannot take mail.
const HARD: &[&str] = &["HardBounce", "BadEmailAddress", "ManuallyDeactivated"];
/// Bounce types that may pass: a full mailbox, a server down, a block for now.
const SOFT: &[&str] = &["SoftBounce", "Transient", "DnsError", "Blocked", "DMARCPolicy", "SMTPApiError"];

pub fn reports(body: &[u8]) -> Result<Reports, NotTheShape> {
    let record: Record = shaped(body, "Postmark")?;
    let mut out = Reports::default();
    let kind = record.kind.as_deref().unwrap_or_default();
    let verdict = match record.record_type.as_str() {
        "SpamComplaint" => Verdict::Complaint { feedback_type: "abuse".to_owned() },
        "Bounce" if kind == "SpamComplaint" => Verdict::Complaint { feedback_type: "abuse".to_owned() },
        "Bounce" if HARD.contains(&kind) || SOFT.contains(&kind) => {
            let hard = HARD.contains(&kind);
            let status = status_in(
                &[record.details.as_deref(), record.description.as_deref()],
                if hard { "5.0.0" } else { "4.0.0" },
            );
            let diagnostic = record.details.clone().filter(|d| !d.trim().is_empty()).or(Some(kind.to_owned()));
            bounce(hard, record.email.as_deref(), status, diagnostic)
        }
        // Auto-responders, subscription changes, deliveries, opens, clicks: nothing to decide.
        _ => {
            out.skipped = 1;
            return Ok(out);
        }
    };
    let Some(recipient) = record.email.filter(|e| !e.trim().is_empty()) else {
        return Err(NotTheShape::new("A Postmark bounce or complaint without Email."));
    };
    let message_id = record.content.as_deref().and_then(quoted_message_id);
    out.reports.push(ProviderReport { verdict, recipient: Some(recipient), envelope_sender: None, message_id });
    Ok(out)
}

/// The `Message-ID:` header line of the original a bounce's raw content quotes.
fn quoted_message_id(content: &str) -> Option<String> {
    content.lines().take(2000).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("message-id").then(|| bracketed(value)).flatten()
    })
}

/// Whether an `Authorization` header carries these Basic credentials. Both sides are hashed
/// first, so the comparison takes the same time whatever the lengths.
pub fn credentials_match(authorization: Option<&str>, username: &str, password: &SecretString) -> bool {
    let Some(encoded) = authorization.and_then(|a| {
        let (scheme, rest) = a.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
    }) else {
        return false;
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return false };
    let mut expected = username.as_bytes().to_vec();
    expected.push(b':');
    expected.extend_from_slice(password.expose_secret().as_bytes());
    bool::from(Sha256::digest(&given).ct_eq(&Sha256::digest(&expected)))
}
