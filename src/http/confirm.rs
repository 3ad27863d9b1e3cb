//! `GET /subscriptions/confirm?token=` shows a page and changes nothing: mail scanners open
//! every link. `POST /subscriptions/confirm` (form field `token`) confirms.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{Error, PageError};
use super::input::{self, BodyKind, FromFields};
use super::locale::{self, RequestLocale};
use super::pages;
use crate::domain::{LinkToken, Locale};
use crate::store::retry;
use crate::store::subscribers::{self, ConsentAction};
use crate::store::tokens::{self, ConfirmLink, ConfirmToken};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(confirm_page, confirm)).layer(super::no_store())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token from the mail's link (also accepted as a form field on POST)
    token: Option<String>,
}

impl TokenQuery {
    pub fn token(query: Result<Query<Self>, QueryRejection>) -> Option<String> {
        query.ok().and_then(|Query(q)| q.token)
    }
}

/// The confirm button's form.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    /// The token from the link in the mail (base64url).
    pub token: Option<String>,
}

fn invalid(state: &AppState, locale: Locale) -> Response {
    pages::page(state, StatusCode::BAD_REQUEST, locale, "confirm_invalid.html", context! {})
}

fn expired(state: &AppState, locale: Locale) -> Response {
    pages::page(state, StatusCode::GONE, locale, "confirm_invalid.html", context! { expired => true })
}

/// The page of a genuine link is in its subscriber's language; `fallback` (the visitor's) for a
/// stored link of an earlier release, which names nobody until it is used.
async fn locale_of(state: &AppState, token: &LinkToken, fallback: Locale) -> Locale {
    match token {
        LinkToken::Signed(claims) => locale::of_subscriber(state, claims.subscriber, fallback).await,
        LinkToken::Stored(_) => fallback,
    }
}

/// The page the mail links to: shows a button and changes nothing (link scanners open links).
/// It shows the button only for a link that could confirm: signed by us for confirming and
/// unexpired (or a stored link of an earlier release, looked up but not used); any other gets,
/// at once, the page saying the link does not work and offering a new one.
#[utoipa::path(get, path = "/subscriptions/confirm", tag = "subscriptions",
    params(TokenQuery),
    responses(
        (status = 200, description = "A page with a confirm button", content_type = "text/html", body = String),
        (status = 400, description = "Missing, malformed, forged or not a confirmation token: a page offering a new link", content_type = "text/html", body = String),
        (status = 410, description = "The link has expired: a page offering a new link", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn confirm_page(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Some(raw) = TokenQuery::token(query) else { return Ok(invalid(&state, visitor)) };
    let Some(token) = state.token_keys.check(&raw) else { return Ok(invalid(&state, visitor)) };
    // It only reads: run again if the connection was dead (a restart of Postgres).
    let (db, checked) = (&state.db, &token);
    Ok(match retry::once(db, "confirm page", || tokens::confirm_link(db, checked, chrono::Utc::now())).await? {
        ConfirmLink::Good => {
            let locale = locale_of(&state, &token, visitor).await;
            pages::page(&state, StatusCode::OK, locale, "confirm.html", context! { token => raw.trim() })
        }
        ConfirmLink::Expired => expired(&state, locale_of(&state, &token, visitor).await),
        ConfirmLink::Invalid => invalid(&state, visitor),
    })
}

/// Confirms the subscription. Harmless to repeat.
#[utoipa::path(post, path = "/subscriptions/confirm", tag = "subscriptions",
    params(TokenQuery),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Confirmed (or already confirmed)", content_type = "text/html", body = String),
        (status = 400, description = "Unknown, used or expired token: a page offering a new link", content_type = "text/html", body = String),
        (status = 413, description = "The body is too large", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn confirm(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let origin = super::origin(&state, peer, &headers);
    if let Some(ip) = origin.ip {
        state.limiter.check(ip).map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })?;
    }
    let form: TokenForm = form_in(&headers, body)?;
    let Some(token) = form.token.or_else(|| TokenQuery::token(query)).and_then(|t| state.token_keys.check(&t)) else {
        return Ok(invalid(&state, visitor));
    };

    // Run again on a fresh connection if the first was dead (a restart of Postgres). Safe after a
    // first run that committed unanswered: the token's version moved on, so the second finds the
    // address confirmed and writes nothing (no second consent record, no second welcome).
    let (db, token, origin, welcome) = (&state.db, &token, &origin, state.settings.subscriptions.welcome);
    let outcome = retry::once(db, "confirm", || async move {
        let mut tx = db.begin().await?;
        let outcome = tokens::confirm(&mut tx, token, chrono::Utc::now()).await?;
        match outcome {
            ConfirmToken::Fresh(id) => {
                subscribers::record_consent(&mut tx, id, ConsentAction::Confirm, origin).await?;
                tokens::retire_stored_confirm_tokens(&mut tx, id).await?;
                if welcome {
                    // In the confirming transaction: confirmed means welcomed, exactly once.
                    crate::store::lifecycle::queue_welcome(&mut tx, id).await?;
                }
            }
            ConfirmToken::Joined(id) => {
                subscribers::record_consent(&mut tx, id, ConsentAction::Confirm, origin).await?;
            }
            ConfirmToken::AlreadyConfirmed | ConfirmToken::Invalid => {}
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(outcome)
    })
    .await?;
    let confirmed_now = match outcome {
        ConfirmToken::Fresh(id) => {
            tracing::info!(subscriber = %id, "subscription confirmed");
            crate::telemetry::metrics::inc(&crate::telemetry::metrics::METRICS.confirmations);
            Some(true)
        }
        ConfirmToken::Joined(id) => {
            tracing::info!(subscriber = %id, "lists joined");
            Some(true)
        }
        ConfirmToken::AlreadyConfirmed => Some(false),
        ConfirmToken::Invalid => None,
    };
    if confirmed_now == Some(true) && welcome {
        // After the commit, so the worker finds the welcome mail when it looks.
        state.wake.notify_one();
    }
    Ok(match confirmed_now {
        Some(now) => {
            let locale = locale_of(&state, token, visitor).await;
            pages::page(&state, StatusCode::OK, locale, "confirmed.html", context! { already => !now })
        }
        None => invalid(&state, visitor),
    })
}

/// A token page's form: from the body when there is one (a form, or JSON), else every field
/// missing, so that the token can come from the query string.
pub fn form_in<T: FromFields>(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<T, Error> {
    let body = input::body(body)?;
    let fields = if body.is_empty() {
        HashMap::new()
    } else {
        let kind = input::body_kind(headers).unwrap_or(BodyKind::Form);
        input::text_fields(kind, &body)?
    };
    Ok(T::from_fields(fields))
}
