//! Bounce and complaint reports from email providers' webhooks (Amazon SES through SNS,
//! Postmark, Mailgun, SendGrid): each request proven to be the provider's, read
//! (`inbound::providers`), and each report acted on by the same code as a report by mail
//! (`ops::inbound::bounced` and `complaint`).
//!
//! Who a report is about: the delivery its VERP tag names (the envelope sender the provider
//! quotes), else the delivery the `Message-ID` we set names, else the subscriber with the
//! recipient's address. The last is safe here and not for mail: anyone can mail the bounce
//! address, but only the provider can sign or authenticate a webhook.

mod sns;

use serde::Serialize;
use sqlx::PgPool;

pub use self::sns::SnsCertificates;
use super::OpsError;
use super::inbound::{self, InboundSettings, Processed};
use crate::config::{MailgunSettings, PostmarkSettings, SendgridSettings, SesSettings};
use crate::inbound::providers::{NotTheShape, ProviderReport, Reports, Verdict, mailgun, postmark, sendgrid};
use crate::store::bounces::{self, Target};
use crate::store::webhook_tokens;
use crate::telemetry::metrics::METRICS;

/// What a webhook request changed, as its answer says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// The decision for each bounce or complaint the request carried, in order.
    pub reports: Vec<Processed>,
    /// Events that are neither (deliveries, opens, clicks …): not acted on.
    pub skipped: u32,
    /// For an SNS subscription message: `confirmed` or `unsubscribed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<&'static str>,
}

impl From<NotTheShape> for OpsError {
    fn from(e: NotTheShape) -> Self {
        Self::Malformed(e.0)
    }
}

/// Counts a refusal for `/metrics` and passes it on.
fn refused(provider: &'static str, e: OpsError) -> OpsError {
    if matches!(e, OpsError::Unauthenticated(_) | OpsError::Malformed(_)) {
        METRICS.count_webhook(provider, "refused");
    }
    e
}

/// `POST /webhooks/ses`: an SNS message, see [`sns`].
pub async fn ses(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    config: &SesSettings,
    certificates: &SnsCertificates,
    body: &[u8],
) -> Result<Received, OpsError> {
    let reports = match sns::receive(config, certificates, body).await.map_err(|e| refused("ses", e))? {
        sns::Received::Reports(reports) => reports,
        sns::Received::Subscription(state) => return Ok(Received { subscription: Some(state), ..Default::default() }),
    };
    act(db, settings, "ses", reports).await
}

/// `POST /webhooks/postmark`: one record, with the Basic credentials of the webhook's URL.
pub async fn postmark(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    config: &PostmarkSettings,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<Received, OpsError> {
    if !postmark::credentials_match(authorization, &config.username, &config.password) {
        return Err(refused(
            "postmark",
            OpsError::Unauthenticated(
                "Wrong or missing credentials: put providers.postmark.username and password in the webhook URL."
                    .to_owned(),
            ),
        ));
    }
    let reports = postmark::reports(body).map_err(|e| refused("postmark", e.into()))?;
    act(db, settings, "postmark", reports).await
}

/// `POST /webhooks/mailgun`: the signature, its age and its token are checked, in that order,
/// before anything is done; the token is then kept, so the same request is taken once.
pub async fn mailgun(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    config: &MailgunSettings,
    body: &[u8],
) -> Result<Received, OpsError> {
    use secrecy::ExposeSecret as _;
    let signed = mailgun::parse(body).map_err(|e| refused("mailgun", e.into()))?;
    let unauthenticated = |why: &str| refused("mailgun", OpsError::Unauthenticated(why.to_owned()));
    if !signed.verify(config.signing_key.expose_secret().as_bytes()) {
        return Err(unauthenticated("The signature does not verify with providers.mailgun.signing_key."));
    }
    if !signed.is_fresh(chrono::Utc::now().timestamp()) {
        return Err(unauthenticated("The signature is more than 5 minutes old (or ahead of our clock)."));
    }
    // Kept twice the window: a timestamp may be up to the window ahead of our clock as well.
    let keep = (2 * mailgun::MAX_AGE_SECS) as f64;
    if !webhook_tokens::take(db, &signed.token, keep).await? {
        return Err(unauthenticated("This signature's token was used before: a replayed request is refused."));
    }
    let token = signed.token.clone();
    match act(db, settings, "mailgun", signed.reports()).await {
        Ok(received) => Ok(received),
        Err(e) => {
            // Mailgun retries what we fail to take, with the same token: let it through then.
            if let Err(forget) = webhook_tokens::forget(db, &token).await {
                tracing::warn!(error = %forget, "could not forget a Mailgun token after a failure");
            }
            Err(e)
        }
    }
}

/// `POST /webhooks/sendgrid`: an array of events, signed over the timestamp header and the body.
pub async fn sendgrid(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    config: &SendgridSettings,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Received, OpsError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(refused(
            "sendgrid",
            OpsError::Unauthenticated(
                "Missing X-Twilio-Email-Event-Webhook-Signature or -Timestamp: turn on the signed event webhook."
                    .to_owned(),
            ),
        ));
    };
    if !config.public_key.verify(timestamp, body, signature) {
        return Err(refused(
            "sendgrid",
            OpsError::Unauthenticated("The signature does not verify with providers.sendgrid.public_key.".to_owned()),
        ));
    }
    let reports = sendgrid::reports(body).map_err(|e| refused("sendgrid", e.into()))?;
    act(db, settings, "sendgrid", reports).await
}

/// Acts on each report, in order.
async fn act(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    provider: &'static str,
    reports: Reports,
) -> Result<Received, OpsError> {
    let mut received = Received { skipped: u32::try_from(reports.skipped).unwrap_or(u32::MAX), ..Default::default() };
    for report in &reports.reports {
        let processed = match target_of(db, settings, report).await? {
            None => Processed::ignored("a report about an address that is not a subscriber"),
            Some(target) => match &report.verdict {
                Verdict::Bounce(b) => inbound::bounced(db, settings, target, b).await?,
                Verdict::Complaint { feedback_type } => inbound::complaint(db, target, feedback_type).await?,
            },
        };
        METRICS.count_webhook(provider, processed.outcome);
        received.reports.push(processed);
    }
    let changed: u32 = received.reports.iter().map(|p| p.changed).sum();
    tracing::info!(
        provider,
        reports = received.reports.len(),
        skipped = received.skipped,
        changed,
        "webhook processed"
    );
    Ok(received)
}

/// Who a report is about (see the module's comment); `None` when nobody we know.
async fn target_of(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    report: &ProviderReport,
) -> Result<Option<Target>, OpsError> {
    if let (Some(bounce), Some(sender)) = (settings.bounce, report.envelope_sender.as_deref())
        && let Some(delivery) = bounce.delivery_in(sender)
        && let Some(target) = bounces::target_of_delivery(db, delivery).await?
    {
        return Ok(Some(target));
    }
    if let Some(id) = report.message_id.as_deref()
        && let Some(delivery) = crate::mail::delivery_of_message_id(id)
        && let Some(target) = bounces::target_of_message(db, delivery, id).await?
    {
        return Ok(Some(target));
    }
    match report.recipient.as_deref() {
        Some(recipient) => Ok(bounces::target_of_address(db, recipient.trim()).await?),
        None => Ok(None),
    }
}
