//! `GET /unsubscribe?token=` shows a page with a button; `POST /unsubscribe` (token in the query
//! or the form) unsubscribes. The POST is also RFC 8058's one-click unsubscribe: a mail client
//! sends `List-Unsubscribe=One-Click` to the URL from the `List-Unsubscribe` header, with no
//! cookies and no other fields. Idempotent.
//!
//! Not rate-limited per IP: one-click requests arrive from a few mailbox providers' servers, and
//! refusing someone's unsubscribe is worse than serving a few extra requests.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use minijinja::context;

use super::confirm::{TokenQuery, token_from};
use super::pages;
use crate::app::AppState;
use crate::domain::Token;
use crate::error::{Error, PageError};
use crate::store::subscribers::{self, ConsentAction};
use crate::store::tokens;

pub fn router() -> Router<AppState> {
    Router::new().route("/unsubscribe", get(unsubscribe_page).post(unsubscribe))
}

fn invalid() -> Response {
    pages::page(StatusCode::BAD_REQUEST, "unsubscribe_invalid.html", context! {})
}

async fn unsubscribe_page(query: Result<Query<TokenQuery>, QueryRejection>) -> Response {
    let token =
        token_from(query, &HeaderMap::new(), Ok(Bytes::new())).ok().flatten().and_then(|t| Token::parse(&t).ok());
    match token {
        Some(token) => pages::page(StatusCode::OK, "unsubscribe.html", context! { token => token.expose() }),
        None => invalid(),
    }
}

async fn unsubscribe(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let Some(token) = token_from(query, &headers, body)?.and_then(|t| Token::parse(&t).ok()) else {
        return Ok(invalid());
    };
    let mut tx = state.db.begin().await.map_err(Error::unavailable)?;
    let Some(id) = tokens::unsubscribe_subject(&mut tx, &token.hash()).await? else {
        return Ok(invalid());
    };
    if subscribers::unsubscribe(&mut tx, id).await? {
        let origin = super::origin(&state, peer, &headers);
        subscribers::record_consent(&mut tx, id, ConsentAction::Unsubscribe, &origin).await?;
        // "This wasn't me": the confirmation links still in the inbox must stop working too.
        tokens::retire_confirm_tokens(&mut tx, id).await?;
        tracing::info!(subscriber = %id, "unsubscribed");
    }
    tx.commit().await?;
    Ok(pages::page(StatusCode::OK, "unsubscribed.html", context! {}))
}
