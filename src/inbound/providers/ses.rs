//! Amazon SES notifications (the `Message` of an SNS notification): `Bounce` with `bounceType`
//! `Permanent` (hard) or `Transient`/`Undetermined` (soft), `Complaint`, and the rest (`Delivery`,
//! `Send`, `Open` …) skipped. Both shapes SES publishes are read: notifications
//! (`notificationType`) and event publishing (`eventType`).

use serde::Deserialize;

use super::{NotTheShape, ProviderReport, Reports, Verdict, bounce, bracketed, shaped, status_in};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(default)]
    notification_type: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    bounce: Option<SesBounce>,
    #[serde(default)]
    complaint: Option<SesComplaint>,
    mail: Mail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesBounce {
    bounce_type: String,
    bounced_recipients: Vec<BouncedRecipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncedRecipient {
    email_address: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesComplaint {
    complained_recipients: Vec<Recipient>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    /// The envelope sender (MAIL FROM) the message left with.
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    common_headers: Option<CommonHeaders>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommonHeaders {
    #[serde(default)]
    message_id: Option<String>,
}

/// Reads one SES notification.
pub fn reports(message: &str) -> Result<Reports, NotTheShape> {
    let n: Notification = shaped(message.as_bytes(), "Amazon SES")
        .map_err(|e| NotTheShape(e.0.replacen("The body", "The SNS Message", 1)))?;
    let kind =
        n.notification_type.as_deref().or(n.event_type.as_deref()).ok_or_else(|| {
            NotTheShape::new("The SNS Message is not an Amazon SES notification (no notificationType).")
        })?;
    // Our Message-ID: the header SES keeps, else the common header (SES puts its own id in
    // `mail.messageId`, which is not ours).
    let message_id = n
        .mail
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Message-ID"))
        .map(|h| h.value.as_str())
        .or(n.mail.common_headers.as_ref().and_then(|c| c.message_id.as_deref()))
        .and_then(bracketed);
    let report = |verdict, recipient: &str| ProviderReport {
        verdict,
        recipient: Some(recipient.to_owned()),
        envelope_sender: n.mail.source.clone(),
        message_id: message_id.clone(),
    };
    let mut out = Reports::default();
    match kind {
        "Bounce" => {
            let b = n.bounce.as_ref().ok_or_else(|| NotTheShape::new("A Bounce notification without `bounce`."))?;
            let hard = b.bounce_type == "Permanent";
            for r in b.bounced_recipients.iter().take(super::MAX_EVENTS) {
                let default = if hard { "5.0.0" } else { "4.0.0" };
                let status = status_in(&[r.status.as_deref(), r.diagnostic_code.as_deref()], default);
                let verdict = bounce(hard, Some(&r.email_address), status, r.diagnostic_code.clone());
                out.reports.push(report(verdict, &r.email_address));
            }
        }
        "Complaint" => {
            let c = n
                .complaint
                .as_ref()
                .ok_or_else(|| NotTheShape::new("A Complaint notification without `complaint`."))?;
            let feedback_type = c.complaint_feedback_type.clone().unwrap_or_else(|| "abuse".to_owned());
            for r in c.complained_recipients.iter().take(super::MAX_EVENTS) {
                let verdict = Verdict::Complaint { feedback_type: feedback_type.clone() };
                out.reports.push(report(verdict, &r.email_address));
            }
        }
        _ => out.skipped = 1,
    }
    Ok(out)
}
