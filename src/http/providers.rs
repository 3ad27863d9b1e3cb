//! `POST /webhooks/{ses,postmark,mailgun,sendgrid}`: bounce and complaint reports from the email
//! provider that relays our mail, for operators whose bounces never reach a VERP address. Each
//! route answers 404 until its provider is configured (`[providers.*]`); a request that does not
//! prove it is the provider's gets 401 and changes nothing; a body of another shape gets 400.
//! The checks and the decisions are `ops::providers`'s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{Error, ErrorBody};
use super::state::AppState;
use crate::ops::inbound::InboundSettings;
use crate::ops::providers::{self, Received};

/// A provider's report is a few kilobytes; SendGrid's batches stay well under this.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

const SENDGRID_SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const SENDGRID_TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ses))
        .routes(routes!(postmark))
        .routes(routes!(mailgun))
        .routes(routes!(sendgrid))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// What every webhook route may answer besides 200, declared once for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum WebhookRefusals {
    /// Not the provider's shape (valid JSON of another shape included)
    #[response(status = 400)]
    Malformed(ErrorBody),
    /// Bad signature or credentials, a stale or replayed request, or (SES) a topic or certificate
    /// host we do not take; nothing was changed
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// This provider is not configured
    #[response(status = 404)]
    NotConfigured(ErrorBody),
    /// Larger than 1 MiB
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The database, or (SES) the signing certificate, cannot be reached now; try again
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

fn not_configured(provider: &str) -> Error {
    Error::NotFound(format!("The {provider} webhook is not configured (see [providers.{provider}])."))
}

fn settings(state: &AppState) -> InboundSettings<'_> {
    InboundSettings {
        bounce: state.composer.bounce.as_ref(),
        unsubscribe_mailto: state.settings.mail.unsubscribe_mailto.as_deref(),
        soft_limit: state.settings.bounces.soft_limit,
        soft_window_days: state.settings.bounces.soft_window_days,
        token_keys: None,
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Amazon SES, through an SNS topic's HTTPS subscription: subscription confirmations are
/// confirmed, `Bounce` and `Complaint` notifications change their subscriber. SignatureVersion 1
/// and 2 are checked with the certificate at SigningCertURL (an Amazon SNS host).
#[utoipa::path(post, path = "/webhooks/ses", tag = "webhooks",
    request_body(content = String, content_type = "text/plain", description = "An Amazon SNS message (JSON; SNS sends it as text/plain)"),
    responses((status = 200, description = "What was decided, or the subscription confirmed", body = Received), WebhookRefusals))]
async fn ses(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Json<Received>, Error> {
    let config = state.settings.providers.ses.as_ref().ok_or_else(|| not_configured("ses"))?;
    let body = super::input::body(body)?;
    Ok(Json(providers::ses(&state.db, &settings(&state), config, &state.sns_certificates, &body).await?))
}

/// Postmark's bounce and spam complaint webhooks, with HTTP Basic credentials in the webhook URL
/// (`https://USER:PASSWORD@…/webhooks/postmark`).
#[utoipa::path(post, path = "/webhooks/postmark", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "A Postmark Bounce or SpamComplaint record"),
    responses((status = 200, description = "What was decided", body = Received), WebhookRefusals))]
async fn postmark(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Received>, Error> {
    let config = state.settings.providers.postmark.as_ref().ok_or_else(|| not_configured("postmark"))?;
    let body = super::input::body(body)?;
    let authorization = header_text(&headers, header::AUTHORIZATION.as_str());
    Ok(Json(providers::postmark(&state.db, &settings(&state), config, authorization, &body).await?))
}

/// Mailgun's webhooks (`failed` permanent or temporary, `complained`), signed with the webhook
/// signing key; a signature older than 5 minutes or a token seen before is refused.
#[utoipa::path(post, path = "/webhooks/mailgun", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "{\"signature\": {…}, \"event-data\": {…}}"),
    responses((status = 200, description = "What was decided", body = Received), WebhookRefusals))]
async fn mailgun(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Json<Received>, Error> {
    let config = state.settings.providers.mailgun.as_ref().ok_or_else(|| not_configured("mailgun"))?;
    let body = super::input::body(body)?;
    Ok(Json(providers::mailgun(&state.db, &settings(&state), config, &body).await?))
}

/// SendGrid's signed event webhook: an array of events (`bounce`, `blocked`, `deferred`,
/// `spamreport` acted on), signed with ECDSA P-256 over the timestamp header and the body.
#[utoipa::path(post, path = "/webhooks/sendgrid", tag = "webhooks",
    params(
        ("X-Twilio-Email-Event-Webhook-Signature" = String, Header, description = "base64 ECDSA signature"),
        ("X-Twilio-Email-Event-Webhook-Timestamp" = String, Header, description = "Unix seconds, signed with the body"),
    ),
    request_body(content = String, content_type = "application/json", description = "An array of SendGrid events"),
    responses((status = 200, description = "What was decided", body = Received), WebhookRefusals))]
async fn sendgrid(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Received>, Error> {
    let config = state.settings.providers.sendgrid.as_ref().ok_or_else(|| not_configured("sendgrid"))?;
    let body = super::input::body(body)?;
    let (timestamp, signature) = (header_text(&headers, SENDGRID_TIMESTAMP), header_text(&headers, SENDGRID_SIGNATURE));
    Ok(Json(providers::sendgrid(&state.db, &settings(&state), config, timestamp, signature, &body).await?))
}
