//! `GET /unsubscribe?token=` shows a page with a button; `POST /unsubscribe` (token in the query
//! or the form) unsubscribes. The POST is also RFC 8058's one-click unsubscribe: a mail client
//! sends `List-Unsubscribe=One-Click` to the URL from the `List-Unsubscribe` header, with no
//! cookies and no other fields. Idempotent.
//!
//! A digest's links carry `&list=SLUG` beside the token: they leave that list only, and the page
//! also offers to leave everything. Without `list` (the confirmation mail's "this wasn't me",
//! and every link mailed before lists existed) the address leaves everything. The slug is not
//! signed: the token proves who, and whoever holds it may leave any of their lists.
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
use super::confirm::form_in;
use super::error::{Error, PageError};
use super::locale::{self, RequestLocale};
use super::pages;
use crate::domain::{LinkToken, ListSlug, Locale};
use crate::store::lists::{self, List};
use crate::store::retry;
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
    /// The list to leave; without it, everything.
    pub list: Option<String>,
    /// RFC 8058: `One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    pub list_unsubscribe: Option<String>,
}

/// The link's query: the token and, in a digest's links, the list to leave.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeQuery {
    /// The token from the mail's link (also accepted as a form field on POST)
    token: Option<String>,
    /// The slug of the list to leave (a digest's links); without it, everything
    list: Option<String>,
}

impl UnsubscribeQuery {
    fn parts(query: Result<Query<Self>, QueryRejection>) -> (Option<String>, Option<String>) {
        query.ok().map_or((None, None), |Query(q)| (q.token, q.list))
    }
}

/// The list a link names, if it names one; `Err` when it names one that does not exist (the
/// link was damaged: leaving everything instead would do more than was asked).
async fn list_named(state: &AppState, raw: Option<&str>) -> Result<Option<List>, Option<Error>> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let slug = ListSlug::parse(raw).map_err(|_| None)?;
    // The signup's copy of the lists first: after a digest, one-click requests come in bursts.
    let known = state.public_lists.all(&state.db).await.map_err(|e| Some(Error::from(e)))?;
    if let Some(list) = known.iter().find(|l| l.slug == slug.as_str()) {
        return Ok(Some(list.clone()));
    }
    match lists::by_slug(&state.db, &slug).await {
        Ok(Some(list)) => Ok(Some(list)),
        Ok(None) => Err(None),
        Err(e) => Err(Some(Error::from(e))),
    }
}

fn invalid(state: &AppState, locale: Locale) -> Response {
    pages::page(state, StatusCode::BAD_REQUEST, locale, "unsubscribe_invalid.html", context! {})
}

/// The page behind the visible unsubscribe link: a button; changes nothing.
#[utoipa::path(get, path = "/unsubscribe", tag = "subscriptions",
    params(UnsubscribeQuery),
    responses(
        (status = 200, description = "A page with an unsubscribe button (with `list`: one to leave that list, one to leave everything)", content_type = "text/html", body = String),
        (status = 400, description = "Missing or malformed token, or a list that does not exist", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn unsubscribe_page(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    query: Result<Query<UnsubscribeQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let (token, list) = UnsubscribeQuery::parts(query);
    // Only the signature is checked here (the person is not looked up, but for their language):
    // a forged link gets no button.
    let Some((token, checked)) = token.and_then(|t| state.token_keys.check(&t).map(|c| (t, c))) else {
        return Ok(invalid(&state, visitor));
    };
    let list = match list_named(&state, list.as_deref()).await {
        Ok(list) => list,
        Err(None) => return Ok(invalid(&state, visitor)),
        Err(Some(e)) => return Err(e.into()),
    };
    let locale = match checked {
        LinkToken::Signed(claims) => locale::of_subscriber(&state, claims.subscriber, visitor).await,
        LinkToken::Stored(_) => visitor,
    };
    let (slug, name) = list.map_or((None, None), |l| (Some(l.slug), Some(l.name)));
    Ok(pages::page(
        &state,
        StatusCode::OK,
        locale,
        "unsubscribe.html",
        context! { token => token.trim(), list => slug, list_name => name },
    ))
}

/// Unsubscribes; also RFC 8058 one-click (`List-Unsubscribe=One-Click`). Idempotent.
#[utoipa::path(post, path = "/unsubscribe", tag = "subscriptions",
    params(UnsubscribeQuery),
    request_body(content(
        (UnsubscribeForm = "application/x-www-form-urlencoded"),
        (UnsubscribeForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Unsubscribed", content_type = "text/html", body = String),
        (status = 400, description = "Unknown, expired or malformed token, or a list that does not exist", content_type = "text/html", body = String),
        (status = 413, description = "The body is too large", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn unsubscribe(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<UnsubscribeQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let form: UnsubscribeForm = form_in(&headers, body)?;
    let one_click = form.list_unsubscribe.as_deref() == Some("One-Click");
    let (query_token, query_list) = UnsubscribeQuery::parts(query);
    // A form's fields speak for themselves: the "leave everything" button sends a token and no
    // list, whatever the page's address said. A one-click POST has only the URL's query.
    let from_form = form.token.is_some();
    let list_raw = if from_form { form.list } else { query_list };
    let Some(token) = form.token.or(query_token).and_then(|t| state.token_keys.check(&t)) else {
        return Ok(invalid(&state, visitor));
    };
    let list = match list_named(&state, list_raw.as_deref()).await {
        Ok(list) => list,
        Err(None) => return Ok(invalid(&state, visitor)),
        Err(Some(e)) => return Err(e.into()),
    };
    let origin = super::origin(&state, peer, &headers);
    // Run again on a fresh connection if the first was dead (a restart of Postgres). Safe after a
    // first run that committed unanswered: the second finds them gone and records nothing.
    let (db, token, origin, chosen) = (&state.db, &token, &origin, list.as_ref());
    let left = retry::once(db, "unsubscribe", || async move {
        let mut tx = db.begin().await?;
        let left = match chosen {
            Some(list) => tokens::leave_list_with_token(&mut tx, token, list, origin).await?,
            None => tokens::unsubscribe_with_token(&mut tx, token, origin).await?,
        };
        tx.commit().await?;
        Ok::<_, sqlx::Error>(left)
    })
    .await?;
    let Some((id, changed)) = left else {
        return Ok(invalid(&state, visitor));
    };
    if changed {
        match &list {
            Some(list) => tracing::info!(subscriber = %id, list = %list.slug, one_click, "left a list"),
            None => {
                tracing::info!(subscriber = %id, one_click, "unsubscribed");
                crate::telemetry::metrics::inc(&crate::telemetry::metrics::METRICS.unsubscribes);
            }
        }
    }
    let list_name = list.map(|l| l.name);
    // A one-click POST comes from the mail client, which reads no page: no look-up for it (they
    // come in bursts after a digest).
    let locale = if one_click { visitor } else { locale::of_subscriber(&state, id, visitor).await };
    Ok(pages::page(&state, StatusCode::OK, locale, "unsubscribed.html", context! { list_name => list_name }))
}
