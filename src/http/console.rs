//! The operator console: server-rendered pages under `/admin` for people with the admin token.
//!
//! Signing in exchanges the token for a session cookie (HttpOnly, SameSite=Strict, Secure when
//! base_url is https); the session row holds a CSRF token that every form must carry. Pages work
//! without JavaScript; the digest page refreshes itself while the digest is sending.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::input::{self, BodyKind};
#[allow(unused_imports)]
use super::openapi::ConsoleForm;
use super::pages;
use super::AppState;
use crate::domain::{ArticleInput, SubscriberStatus, Token, TokenHash, parse_idempotency_key};
use super::error::{Error, PageError};
use crate::mail::body_format;
use crate::store::articles::{self, NewArticle};
use crate::store::{digests, sessions, subscribers};

const COOKIE: &str = "broadsheet_session";
const SESSION_SECS: f64 = 12.0 * 3600.0;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard))
        .routes(routes!(login_page, login))
        .routes(routes!(logout))
        .routes(routes!(subscribers_page))
        .routes(routes!(articles_page, article_form))
        .routes(routes!(edit_article_page, edit_article_form))
        .routes(routes!(digests_page, digest_form))
        .routes(routes!(digest_page))
        .routes(routes!(retry_failed))
}

/// A signed-in operator. Pages that need one redirect to the sign-in page without it.
pub struct Session {
    hash: TokenHash,
    csrf: String,
}

pub enum NeedsSignIn {
    Redirect,
    Failed(PageError),
}

impl IntoResponse for NeedsSignIn {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect => Redirect::to("/admin/login").into_response(),
            Self::Failed(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NeedsSignIn;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, COOKIE).and_then(|v| Token::parse(v).ok()) else {
            return Err(NeedsSignIn::Redirect);
        };
        let hash = token.hash();
        match sessions::csrf(&state.db, &hash, &state.admin_token_hash).await {
            Ok(Some(csrf)) => Ok(Session { hash, csrf }),
            Ok(None) => Err(NeedsSignIn::Redirect),
            Err(e) => Err(NeedsSignIn::Failed(e.into())),
        }
    }
}

impl Session {
    /// Every state-changing form carries the session's CSRF token.
    fn check(&self, fields: &std::collections::HashMap<String, String>) -> Result<(), Error> {
        let sent = fields.get("csrf").map(String::as_str).unwrap_or("");
        if bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes())) && !sent.is_empty() {
            Ok(())
        } else {
            Err(Error::BadRequest("This form has expired. Reload the page and try again.".to_owned()))
        }
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn form(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<std::collections::HashMap<String, String>, Error> {
    let body = input::body(body)?;
    input::text_fields(input::body_kind(headers).unwrap_or(BodyKind::Form), &body)
}

fn page(name: &str, session: Option<&Session>, ctx: Value) -> Response {
    let csrf = session.map(|s| s.csrf.clone()).unwrap_or_default();
    // Console pages must never be cached by a shared proxy.
    let mut response = pages::page(StatusCode::OK, name, context! { csrf, ..ctx });
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The digest preview is mail HTML in a sandboxed srcdoc frame; nothing else loads.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    response
}

/// The console sign-in page.
#[utoipa::path(get, path = "/admin/login", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn login_page() -> Response {
    page("console/login.html", None, context! { error => Value::from(()) })
}

/// Exchange the admin token for a session cookie.
#[utoipa::path(post, path = "/admin/login", tag = "console", request_body(content = ConsoleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Signed in: to /admin, with the session cookie"), (status = 401, description = "Wrong token: the sign-in page again", content_type = "text/html", body = String), (status = 429, description = "Too many wrong tokens from this client; see Retry-After", content_type = "text/html", body = String), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let fields = form(&headers, body)?;
    let presented = fields.get("token").map(|t| t.trim()).unwrap_or("");
    match super::admin::verify_admin_token(&state, peer, &headers, presented, "/admin/login") {
        Ok(()) => {}
        Err(Error::Unauthorized) => {
            let mut response = page("console/login.html", None, context! { error => "That is not the admin token." });
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    }
    let session = Token::generate().map_err(|e| Error::Internal(e.into()))?;
    let csrf = Token::generate().map_err(|e| Error::Internal(e.into()))?;
    sessions::create(&state.db, &session.hash(), &state.admin_token_hash, csrf.expose(), SESSION_SECS).await?;
    let secure = if state.settings.http.base_url.is_https() { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session.expose(),
        SESSION_SECS as u64
    );
    tracing::info!("operator signed in to the console");
    let mut response = Redirect::to("/admin").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| Error::Internal(e.into()))?);
    Ok(response)
}

/// End the session.
#[utoipa::path(post, path = "/admin/logout", tag = "console", request_body(content = ConsoleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    session.check(&form(&headers, body)?)?;
    sessions::delete(&state.db, &session.hash).await?;
    let mut response = Redirect::to("/admin/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("broadsheet_session=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

async fn counts(state: &AppState) -> Result<Value, Error> {
    let counts: Vec<Value> = subscribers::counts(&state.db)
        .await?
        .into_iter()
        .map(|(status, n)| context! { status => status_word(status), count => n })
        .collect();
    Ok(Value::from(counts))
}

fn status_word(status: SubscriberStatus) -> &'static str {
    match status {
        SubscriberStatus::Pending => "pending",
        SubscriberStatus::Confirmed => "confirmed",
        SubscriberStatus::Unsubscribed => "unsubscribed",
        SubscriberStatus::Bounced => "bounced",
    }
}

/// Console overview: subscribers by status, recent digests.
#[utoipa::path(get, path = "/admin", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn dashboard(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let recent = digests::recent(&state.db, 10).await?;
    Ok(page("console/dashboard.html", Some(&session), context! { counts => counts(&state).await?, digests => recent }))
}

#[derive(Deserialize)]
struct SubscriberQuery {
    q: Option<String>,
    status: Option<String>,
    page: Option<i64>,
}

/// Subscribers: counts, search by address, pages.
#[utoipa::path(get, path = "/admin/ui/subscribers", tag = "console", params(("q" = Option<String>, Query, description = "Part of an address"), ("status" = Option<String>, Query, description = "pending, confirmed, unsubscribed or bounced"), ("page" = Option<i64>, Query, description = "From 1")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 422, description = "Unknown status", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn subscribers_page(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<SubscriberQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|_| Error::BadRequest("page must be a whole number.".to_owned()))?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            serde_json::from_value::<SubscriberStatus>(serde_json::Value::String(s.to_owned()))
                .map_err(|_| Error::invalid("status", "Unknown status."))?,
        ),
    };
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().any(char::is_control) || q.len() > 320) {
        return Err(Error::invalid("q", "Search for part of an address: one line of at most 320 characters.").into());
    }
    let page_no = query.page.unwrap_or(1).clamp(1, 1_000_000);
    const PER_PAGE: i64 = 50;
    let rows = subscribers::page(&state.db, status, search, PER_PAGE + 1, (page_no - 1) * PER_PAGE).await?;
    let more = rows.len() as i64 > PER_PAGE;
    let rows: Vec<_> = rows.into_iter().take(PER_PAGE as usize).collect();
    Ok(page(
        "console/subscribers.html",
        Some(&session),
        context! {
            counts => counts(&state).await?, rows => rows, q => search.unwrap_or(""),
            status => query.status.unwrap_or_default(), page => page_no, more => more,
        },
    ))
}

/// Articles and the form to add one.
#[utoipa::path(get, path = "/admin/ui/articles", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn articles_page(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    articles_view(&state, &session, context! {}).await
}

async fn articles_view(state: &AppState, session: &Session, extra: Value) -> Result<Response, PageError> {
    let list = articles::list(&state.db, 200).await?;
    Ok(page("console/articles.html", Some(session), context! { articles => list, ..extra }))
}

/// One form, two buttons: "Preview" renders the Markdown below the form; "Save" adds the article.
/// Preview or save a new article.
#[utoipa::path(post, path = "/admin/ui/articles", tag = "console", request_body(content = ConsoleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn article_form(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let fields = form(&headers, body)?;
    session.check(&fields)?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let (title, body_md, url, summary) = (get("title"), get("body"), get("url"), get("summary"));
    let typed = context! { title => title, body => body_md, url => url, summary => summary };
    let parsed = ArticleInput::parse(&title, &body_md, Some(&url), Some(&summary));
    match (fields.get("action").map(String::as_str), parsed) {
        (_, Err(e)) => {
            articles_view(&state, &session, context! { form => typed, error => e.message, field => e.field }).await
        }
        (Some("save"), Ok(article)) => {
            articles::insert(&state.db, &NewArticle::written(&article)).await?;
            Ok(Redirect::to("/admin/ui/articles").into_response())
        }
        (_, Ok(article)) => {
            let preview = Value::from_safe_string(render_off_thread(false, article.body).await?);
            articles_view(&state, &session, context! { form => typed, preview => preview }).await
        }
    }
}

/// An article body as preview HTML, on a blocking thread (Markdown and the HTML sanitiser are CPU
/// work on up to 512 KiB).
async fn render_off_thread(html: bool, body: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        if html { crate::mail::html_to_html(&body) } else { crate::mail::markdown_to_html(&body) }
    })
    .await
    .map_err(|e| Error::Internal(e.into()))
}

fn article_id(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound("There is no such article.".to_owned()))
}

/// Edit an article not yet mailed.
#[utoipa::path(get, path = "/admin/ui/articles/{id}", tag = "console", params(("id" = String, Path, description = "Article id")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn edit_article_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = article_id(&id)?;
    let article =
        articles::get(&state.db, id).await?.ok_or_else(|| Error::NotFound("There is no such article.".to_owned()))?;
    let typed = context! { title => article.title, body => article.body, url => article.url.unwrap_or_default(), summary => article.summary.unwrap_or_default() };
    Ok(page(
        "console/article.html",
        Some(&session),
        context! { id => id, form => typed, sent => article.digest_id.is_some(), html => body_format::is_html(&article.body_format) },
    ))
}

/// Preview or save changes to an article.
#[utoipa::path(post, path = "/admin/ui/articles/{id}", tag = "console", params(("id" = String, Path, description = "Article id")), request_body(content = ConsoleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn edit_article_form(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let id = article_id(&id)?;
    let fields = form(&headers, body)?;
    session.check(&fields)?;
    let existing =
        articles::get(&state.db, id).await?.ok_or_else(|| Error::NotFound("There is no such article.".to_owned()))?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let (title, body_text, url, summary) = (get("title"), get("body"), get("url"), get("summary"));
    let typed = context! { title => title, body => body_text, url => url, summary => summary };
    let sent = existing.digest_id.is_some();
    let html = body_format::is_html(&existing.body_format);
    let view = |extra: Value| {
        page(
            "console/article.html",
            Some(&session),
            context! { id => id, form => typed.clone(), sent => sent, html => html, ..extra },
        )
    };
    let parsed = match ArticleInput::parse(&title, &body_text, Some(&url), Some(&summary)) {
        Ok(article) => article,
        Err(e) => return Ok(view(context! { error => e.message, field => e.field })),
    };
    if fields.get("action").map(String::as_str) != Some("save") {
        let preview = render_off_thread(html, parsed.body.clone()).await?;
        return Ok(view(context! { preview => Value::from_safe_string(preview) }));
    }
    // HTML is stored sanitised, so that rendering can use it as it is.
    let (body, format) = if html {
        let raw = parsed.body.clone();
        let clean = tokio::task::spawn_blocking(move || crate::mail::sanitize_html(&raw))
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        (clean, body_format::SANITISED_HTML)
    } else {
        (parsed.body.clone(), body_format::MARKDOWN)
    };
    let update = NewArticle {
        title: &parsed.title,
        body: &body,
        url: parsed.url.as_deref(),
        summary: parsed.summary.as_deref(),
        source_id: None,
        body_format: format,
    };
    if !articles::update(&state.db, id, &update).await? {
        return Ok(view(context! { error => "This article has gone out in a digest and can no longer be changed." }));
    }
    Ok(Redirect::to("/admin/ui/articles").into_response())
}

/// The next digest's preview and the send form.
#[utoipa::path(get, path = "/admin/ui/digests", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn digests_page(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let preview = crate::digest::preview(&state.db, &state.composer, None, None).await;
    let (preview_html, nothing) = match preview {
        Ok(rendered) => (rendered.html, Value::from(())),
        Err(Error::Invalid { message, .. }) => (String::new(), Value::from(message)),
        Err(e) => return Err(e.into()),
    };
    let recent = digests::recent(&state.db, 20).await?;
    let confirmed = confirmed_count(&state).await?;
    Ok(page(
        "console/digests.html",
        Some(&session),
        context! { preview_html => preview_html, nothing => nothing, digests => recent, confirmed => confirmed, confirm_step => false },
    ))
}

async fn confirmed_count(state: &AppState) -> Result<i64, Error> {
    Ok(subscribers::counts(&state.db)
        .await?
        .into_iter()
        .find(|(s, _)| *s == SubscriberStatus::Confirmed)
        .map_or(0, |(_, n)| n))
}

/// First press shows "send to N recipients?"; the second (with `confirmed=yes`) queues it.
/// Send: first the confirmation step, then (confirmed=yes) the digest.
#[utoipa::path(post, path = "/admin/ui/digests", tag = "console", request_body(content = ConsoleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 422, description = "Nothing to send", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn digest_form(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let fields = form(&headers, body)?;
    session.check(&fields)?;
    let subject = fields.get("subject").map(|s| s.trim()).filter(|s| !s.is_empty());
    if fields.get("confirmed").map(String::as_str) != Some("yes") {
        let confirmed = confirmed_count(&state).await?;
        // A fresh key per confirmation step: pressing "send" twice sends once, while the next
        // digest gets a key of its own.
        let key = Token::generate().map_err(|e| Error::Internal(e.into()))?;
        return Ok(page(
            "console/digests.html",
            Some(&session),
            context! { confirm_step => true, confirmed => confirmed, subject => subject.unwrap_or(""), key => key.expose(), digests => Vec::<Value>::new(), preview_html => "", nothing => Value::from(()) },
        ));
    }
    // The form's own key makes a double-submitted confirmation harmless.
    let key = match fields.get("key").filter(|k| !k.is_empty()) {
        Some(k) => Some(parse_idempotency_key(k).map_err(Error::from)?),
        None => None,
    };
    let created =
        crate::digest::send(&state.db, &state.settings.newsletter_name(), subject, None, key.as_deref()).await?;
    if created.new {
        tracing::info!(digest = %created.id, recipients = created.recipients, "digest queued from the console");
        state.wake.notify_one();
    }
    Ok(Redirect::to(&format!("/admin/ui/digests/{}", created.id)).into_response())
}

/// A digest's progress and failures; refreshes itself while sending.
#[utoipa::path(get, path = "/admin/ui/digests/{id}", tag = "console", params(("id" = String, Path, description = "Digest id")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn digest_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("There is no such digest.".to_owned()))?;
    let progress = digests::progress(&state.db, id)
        .await?
        .ok_or_else(|| Error::NotFound("There is no such digest.".to_owned()))?;
    let failures = digests::failures(&state.db, id, 200).await?;
    let done = progress.sent + progress.failed + progress.skipped;
    let percent = if progress.recipients > 0 { done * 100 / progress.recipients } else { 100 };
    Ok(page(
        "console/digest.html",
        Some(&session),
        context! { digest => progress, failures => failures, percent => percent },
    ))
}

/// Queue a digest's failed deliveries again.
#[utoipa::path(post, path = "/admin/ui/digests/{id}/retry", tag = "console", params(("id" = String, Path, description = "Digest id")), request_body(content = ConsoleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn retry_failed(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    session.check(&form(&headers, body)?)?;
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("There is no such digest.".to_owned()))?;
    let n = digests::retry_failed(&state.db, id).await?;
    tracing::info!(digest = %id, deliveries = n, "failed deliveries queued again");
    state.wake.notify_one();
    Ok(Redirect::to(&format!("/admin/ui/digests/{id}")).into_response())
}
