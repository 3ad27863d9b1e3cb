//! `POST /admin/inbound`: one inbound mail (a bounce report, a complaint, an automatic reply, an
//! unsubscribe request) as raw `message/rfc822`, for setups where a mail hook calls HTTP instead
//! of piping to `broadsheet inbound`. The same decision as the command.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Authorized, scope};
use super::error::{AdminRefusals, Error, ErrorBody};
use super::state::AppState;
use crate::inbound::MAX_INBOUND_BYTES;
use crate::ops::inbound::{self, InboundSettings, Processed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive)).layer(DefaultBodyLimit::max(MAX_INBOUND_BYTES))
}

#[derive(Deserialize, IntoParams)]
struct InboundQuery {
    /// The address the message was delivered to (where a VERP tag would be), if the hook knows it.
    recipient: Option<String>,
}

/// Process one inbound mail: bounce reports (RFC 3464) and complaints (ARF) change the
/// subscriber they name; auto-replies and anything else are ignored with a reason.
#[utoipa::path(post, path = "/admin/inbound", tag = "admin", security(("admin_token" = ["inbound:write"])),
    params(InboundQuery),
    request_body(content = String, content_type = "text/plain", description = "The raw message (any content type, e.g. message/rfc822), at most 10 MB"),
    responses(
        (status = 200, description = "What was decided", body = Processed),
        (status = 400, description = "No message in the body", body = ErrorBody),
        (status = 413, description = "Larger than 10 MB", body = ErrorBody),
        AdminRefusals,
    ))]
async fn receive(
    _: Authorized<scope::InboundWrite>,
    State(state): State<AppState>,
    query: Result<Query<InboundQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Processed>, Error> {
    let Query(query) = query.map_err(|_| Error::BadRequest("recipient must be one address.".to_owned()))?;
    let body = super::input::body(body)?;
    if body.is_empty() {
        return Err(Error::BadRequest("Send the raw message as the request body.".to_owned()));
    }
    let settings = InboundSettings {
        bounce: state.composer.bounce.as_ref(),
        unsubscribe_mailto: state.settings.mail.unsubscribe_mailto.as_deref(),
        soft_limit: state.settings.bounces.soft_limit,
        soft_window_days: state.settings.bounces.soft_window_days,
        token_keys: Some(&state.token_keys),
    };
    let recipient = query.recipient.as_deref().filter(|r| !r.trim().is_empty());
    let processed = inbound::process(&state.db, &settings, &body, recipient).await?;
    tracing::info!(outcome = processed.outcome, changed = processed.changed, "inbound mail processed");
    Ok(Json(processed))
}
