//! SendGrid's event webhook: a JSON array of events, signed with ECDSA P-256 over the
//! `X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw body, the signature
//! (ASN.1 DER, base64) in `X-Twilio-Email-Event-Webhook-Signature`. Events `bounce` (hard, unless
//! SendGrid classifies it as `type` `blocked`), `blocked` and `deferred` (soft) and `spamreport`
//! (complaint) are reports; the rest (processed, delivered, open, click …) is skipped.

use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde::Deserialize;

use super::{MAX_EVENTS, NotTheShape, ProviderReport, Reports, Verdict, bounce, bracketed, shaped, status_in};

/// The verification key SendGrid shows for a signed event webhook: base64 of a DER
/// SubjectPublicKeyInfo holding a P-256 key. Parsed once, when the configuration is read.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct VerificationKey(Vec<u8>);

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationKey(P-256)")
    }
}

const EC_PUBLIC_KEY: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

impl VerificationKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        // Pasted with or without the PEM frame.
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "is not base64 (paste the verification key SendGrid shows)".to_owned())?;
        let spki = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
            .map_err(|_| "is not a public key (base64 of a DER SubjectPublicKeyInfo)".to_owned())?;
        let curve = spki.algorithm.parameters_oid().ok();
        if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(P256) {
            return Err("is not an ECDSA P-256 public key".to_owned());
        }
        Ok(Self(spki.subject_public_key.raw_bytes().to_vec()))
    }

    /// Whether `signature` (base64 of an ASN.1 ECDSA signature) signs the timestamp followed by
    /// the body. A signature that is not base64, or of any wrong length, does not hold.
    pub fn verify(&self, timestamp: &str, body: &[u8], signature: &str) -> bool {
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.0).verify(&signed, &signature).is_ok()
    }
}

impl TryFrom<String> for VerificationKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

#[derive(Deserialize)]
struct Event {
    event: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(rename = "smtp-id", default)]
    smtp_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

pub fn reports(body: &[u8]) -> Result<Reports, NotTheShape> {
    let events: Vec<Event> = shaped(body, "SendGrid event")?;
    if events.len() > MAX_EVENTS {
        return Err(NotTheShape(format!("More than {MAX_EVENTS} events in one request.")));
    }
    let mut out = Reports::default();
    for e in events {
        let soft = |default| {
            let texts = [e.status.as_deref(), e.reason.as_deref(), e.response.as_deref()];
            let diagnostic = e.reason.clone().or(e.response.clone());
            bounce(false, e.email.as_deref(), status_in(&texts, default), diagnostic)
        };
        let verdict = match e.event.as_str() {
            // SendGrid reports blocks as bounces of type `blocked` too: a block may lift.
            "bounce" if e.kind.as_deref() == Some("blocked") => soft("4.0.0"),
            "bounce" => {
                let texts = [e.status.as_deref(), e.reason.as_deref()];
                bounce(true, e.email.as_deref(), status_in(&texts, "5.0.0"), e.reason.clone())
            }
            "blocked" | "deferred" => soft("4.0.0"),
            "spamreport" => Verdict::Complaint { feedback_type: "abuse".to_owned() },
            _ => {
                out.skipped += 1;
                continue;
            }
        };
        if e.email.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(NotTheShape::new("A SendGrid bounce or spam report without email."));
        }
        let message_id = e.smtp_id.as_deref().and_then(bracketed);
        out.reports.push(ProviderReport { verdict, recipient: e.email, envelope_sender: None, message_id });
    }
    Ok(out)
}
