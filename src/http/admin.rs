//! The admin API under `/admin`: articles, digests, subscribers. Every route needs
//! `Authorization: Bearer <admin.token>`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::input::{self, BodyKind};
#[allow(unused_imports)]
use super::openapi::{
    ArticleList, ArticleRequest, Created, DigestCreated, DigestProgress, DigestRequest, ErrorBody, SubscriberPage,
};
use super::AppState;
use crate::domain::{ArticleInput, SubscriberStatus, parse_idempotency_key};
use super::error::Error;
use crate::store::articles::{self, NewArticle};
use crate::store::{digests, subscribers};

/// Admin bodies carry whole articles.
const ADMIN_BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_article, list_articles))
        .routes(routes!(send_digest))
        .routes(routes!(preview_digest))
        .routes(routes!(digest_status))
        .routes(routes!(list_subscribers))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

async fn require_admin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Result<Response, Error> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    verify_admin_token(&state, peer, request.headers(), presented, request.uri().path())?;
    Ok(next.run(request).await)
}

/// Checks a presented admin token (bearer API and console sign-in alike). Compares in constant
/// time, so response timing does not leak how much of a guess was right. Each wrong token is
/// logged (client and route, never what was presented) and counted per client; a client past
/// `limits.admin_auth_failures_per_minute` gets 429, right token or not, until its allowance
/// refills, so a guess teaches it nothing.
pub(super) fn verify_admin_token(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    presented: &str,
    route: &str,
) -> Result<(), Error> {
    let ip = super::client_ip(peer, headers, state.settings.http.client_ip_header.as_deref());
    if let Err(retry_after_secs) = state.auth_failures.exhausted(ip) {
        tracing::debug!(client_ip = %ip, route, "admin authentication refused: too many wrong tokens");
        return Err(Error::TooManyRequests { retry_after_secs });
    }
    let expected = state.admin_token.expose_secret();
    let matches: bool = presented.as_bytes().ct_eq(expected.as_bytes()).into();
    if presented.is_empty() || !matches {
        let _ = state.auth_failures.check(ip);
        tracing::warn!(client_ip = %ip, route, "admin authentication failed");
        return Err(Error::Unauthorized);
    }
    Ok(())
}

/// A JSON object body, or a 4xx saying what is wrong with it.
fn json_object(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, Error> {
    if input::body_kind(headers)? != BodyKind::Json {
        return Err(Error::UnsupportedMediaType("Send JSON (Content-Type: application/json).".to_owned()));
    }
    let body = input::body(body)?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::BadRequest("Expected a JSON object.".to_owned())),
        Err(e) => Err(Error::BadRequest(format!("The body is not valid JSON ({e})."))),
    }
}

fn optional_text<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid(field, format!("The field \"{field}\" must be text."))),
    }
}

fn required_text<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, Error> {
    optional_text(map, field)?.ok_or_else(|| Error::invalid(field, format!("The field \"{field}\" is required.")))
}

/// Add an article (Markdown body).
#[utoipa::path(post, path = "/admin/articles", tag = "admin", security(("admin_token" = [])),
    request_body = ArticleRequest,
    responses(
        (status = 201, description = "Added", body = Created),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field to fix", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn add_article(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let map = json_object(&headers, body)?;
    let article = ArticleInput::parse(
        required_text(&map, "title")?,
        required_text(&map, "body")?,
        optional_text(&map, "url")?,
        optional_text(&map, "summary")?,
    )?;
    let id = articles::insert(&state.db, &NewArticle::written(&article))
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("article insert returned no id")))?;
    tracing::info!(article = %id, "article added");
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Articles, newest first.
#[utoipa::path(get, path = "/admin/articles", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "Articles", body = ArticleList),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn list_articles(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    let list = articles::list(&state.db, 500).await?;
    Ok(Json(json!({ "articles": list })))
}

fn article_ids(map: &Map<String, Value>) -> Result<Option<Vec<Uuid>>, Error> {
    let bad = || Error::invalid("article_ids", "article_ids must be a list of article ids (UUIDs).");
    match map.get("article_ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// Queue a digest for every confirmed subscriber; the worker sends it.
#[utoipa::path(post, path = "/admin/digests", tag = "admin", security(("admin_token" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key returns the same digest")),
    request_body = DigestRequest,
    responses(
        (status = 202, description = "Queued", body = DigestCreated),
        (status = 400, description = "Not valid JSON, or a bad Idempotency-Key", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "No articles to send, or an unknown article", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn send_digest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    // An empty body means "all defaults".
    let map = match &body {
        Ok(b) if b.is_empty() => Map::new(),
        _ => json_object(&headers, body)?,
    };
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(parse_idempotency_key(v.to_str().unwrap_or("\u{0}"))?),
    };
    let subject = optional_text(&map, "subject")?;
    let ids = article_ids(&map)?;
    let newsletter = state.settings.newsletter_name();
    let created = crate::digest::send(&state.db, &newsletter, subject, ids.as_deref(), key.as_deref()).await?;
    if created.new {
        tracing::info!(digest = %created.id, recipients = created.recipients, "digest queued");
        state.wake.notify_one();
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": created.id, "recipients": created.recipients }))))
}

/// A digest's progress.
#[utoipa::path(get, path = "/admin/digests/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The digest id")),
    responses(
        (status = 200, description = "Counts", body = DigestProgress),
        (status = 404, description = "No such digest", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn digest_status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, Error> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound(format!("There is no digest {id:?}.")))?;
    let progress =
        digests::progress(&state.db, id).await?.ok_or_else(|| Error::NotFound(format!("There is no digest {id}.")))?;
    Ok(Json(serde_json::to_value(progress).map_err(|e| Error::Internal(e.into()))?))
}

#[derive(Deserialize)]
struct PreviewQuery {
    articles: Option<String>,
    subject: Option<String>,
    format: Option<String>,
}

/// The next digest as it will be mailed.
#[utoipa::path(get, path = "/admin/digests/preview", tag = "admin", security(("admin_token" = [])),
    params(
        ("articles" = Option<String>, Query, description = "Comma-separated article ids (default: not yet sent)"),
        ("subject" = Option<String>, Query, description = "Subject to show"),
        ("format" = Option<String>, Query, description = "html (default) or text"),
    ),
    responses(
        (status = 200, description = "The rendered mail", content_type = "text/html", body = String),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "No articles, or a bad article id", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn preview_digest(
    State(state): State<AppState>,
    query: Result<Query<PreviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|e| Error::BadRequest(format!("Bad query string: {e}")))?;
    let ids = match query.articles.as_deref() {
        None | Some("") => None,
        Some(list) => Some(
            list.split(',')
                .map(|s| Uuid::parse_str(s.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| Error::invalid("articles", "articles must be a comma-separated list of article ids."))?,
        ),
    };
    let rendered = crate::digest::preview(&state.db, &state.composer, query.subject.as_deref(), ids.as_deref()).await?;
    Ok(match query.format.as_deref() {
        Some("text") => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], rendered.text).into_response(),
        // The preview is mail HTML: it needs its inline styles, and nothing in it runs.
        _ => (
            [(header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:")],
            Html(rendered.html),
        )
            .into_response(),
    })
}

#[derive(Deserialize)]
struct SubscriberQuery {
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Subscribers, newest first, with counts by status.
#[utoipa::path(get, path = "/admin/subscribers", tag = "admin", security(("admin_token" = [])),
    params(
        ("status" = Option<String>, Query, description = "pending, confirmed, unsubscribed or bounced"),
        ("page" = Option<i64>, Query, description = "From 1"),
        ("per_page" = Option<i64>, Query, description = "1 to 500, default 50"),
    ),
    responses(
        (status = 200, description = "A page of subscribers", body = SubscriberPage),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "An unknown status", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn list_subscribers(
    State(state): State<AppState>,
    query: Result<Query<SubscriberQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Error> {
    let Query(query) = query.map_err(|_| Error::BadRequest("page and per_page must be whole numbers.".to_owned()))?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(serde_json::from_value::<SubscriberStatus>(Value::String(s.to_owned())).map_err(|_| {
            Error::invalid("status", "status must be one of pending, confirmed, unsubscribed, bounced.")
        })?),
    };
    let per_page = query.per_page.unwrap_or(50).clamp(1, 500);
    let page = query.page.unwrap_or(1).max(1);
    let rows = subscribers::page(&state.db, status, None, per_page, (page - 1).saturating_mul(per_page)).await?;
    let counts: BTreeMap<String, i64> = subscribers::counts(&state.db)
        .await?
        .into_iter()
        .map(|(s, n)| (serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), n))
        .collect();
    Ok(Json(json!({ "subscribers": rows, "counts": counts, "page": page, "per_page": per_page })))
}
