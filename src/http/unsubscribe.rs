//! `GET /unsubscribe?token=` shows a page with a button; `POST /unsubscribe` (token in the query
//! or the form) unsubscribes. The POST is also RFC 8058's one-click unsubscribe: a mail client
//! sends `List-Unsubscribe=One-Click` to the URL from the `List-Unsubscribe` header, with no
//! cookies and no other fields. Idempotent.
//!
//! Not rate-limited per IP: one-click requests arrive from a few mailbox providers' servers, and
//! refusing someone's unsubscribe is worse than serving a few extra requests.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::confirm::{TokenQuery, form_in};
use super::error::{Error, PageError};
use super::pages;
use crate::store::tokens;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(unsubscribe_page, unsubscribe)).layer(super::no_store())
}

/// The unsubscribe button's form, and RFC 8058's one-click body (`List-Unsubscribe=One-Click`,
/// the token in the URL's query).
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct UnsubscribeForm {
    /// The token from the link in the mail (base64url).
    pub token: Option<String>,
    /// RFC 8058: `One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    pub list_unsubscribe: Option<String>,
}

fn invalid(state: &AppState) -> Response {
    pages::page(state, StatusCode::BAD_REQUEST, "unsubscribe_invalid.html", context! {})
}

/// The page behind the visible unsubscribe link: a button; changes nothing.
#[utoipa::path(get, path = "/unsubscribe", tag = "subscriptions",
    params(TokenQuery),
    responses(
        (status = 200, description = "A page with an unsubscribe button", content_type = "text/html", body = String),
        (status = 400, description = "Missing or malformed token", content_type = "text/html", body = String),
    ))]
async fn unsubscribe_page(State(state): State<AppState>, query: Result<Query<TokenQuery>, QueryRejection>) -> Response {
    // Only the signature is checked here (no database): a forged link gets no button.
    match TokenQuery::token(query).filter(|t| state.token_keys.check(t).is_some()) {
        Some(token) => pages::page(&state, StatusCode::OK, "unsubscribe.html", context! { token => token.trim() }),
        None => invalid(&state),
    }
}

/// Unsubscribes; also RFC 8058 one-click (`List-Unsubscribe=One-Click`). Idempotent.
#[utoipa::path(post, path = "/unsubscribe", tag = "subscriptions",
    params(TokenQuery),
    request_body(content(
        (UnsubscribeForm = "application/x-www-form-urlencoded"),
        (UnsubscribeForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Unsubscribed", content_type = "text/html", body = String),
        (status = 400, description = "Unknown, expired or malformed token", content_type = "text/html", body = String),
        (status = 413, description = "The body is too large", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn unsubscribe(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let form: UnsubscribeForm = form_in(&headers, body)?;
    let one_click = form.list_unsubscribe.as_deref() == Some("One-Click");
    let Some(token) = form.token.or_else(|| TokenQuery::token(query)).and_then(|t| state.token_keys.check(&t)) else {
        return Ok(invalid(&state));
    };
    let mut tx = state.db.begin().await.map_err(Error::unavailable)?;
    let origin = super::origin(&state, peer, &headers);
    let Some((id, changed)) = tokens::unsubscribe_with_token(&mut tx, &token, &origin).await? else {
        return Ok(invalid(&state));
    };
    if changed {
        tracing::info!(subscriber = %id, one_click, "unsubscribed");
        crate::telemetry::metrics::inc(&crate::telemetry::metrics::METRICS.unsubscribes);
    }
    tx.commit().await?;
    Ok(pages::page(&state, StatusCode::OK, "unsubscribed.html", context! {}))
}
