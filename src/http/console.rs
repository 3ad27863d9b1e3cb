//! The operator console's frame: sign-in, sign-out, the overview, and [`page`], which every
//! console page renders through. Each resource's pages live with its API (`articles.rs`,
//! `digests.rs`, `subscribers.rs`). Pages work without JavaScript.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::verify_admin_token;
use super::error::{Error, PageError};
use super::input::PageForm;
use super::pages;
use super::session::{CsrfForm, SESSION_SECS, Session, expired_cookie, session_cookie};
use crate::domain::Token;
use crate::store::{digests, sessions};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard)).routes(routes!(login_page, login)).routes(routes!(logout))
}

/// A console page: with the session's CSRF token for its forms, never cached, and a CSP that
/// lets the digest preview (mail HTML in a sandboxed srcdoc frame) show and nothing else load.
pub fn page(state: &AppState, name: &str, session: Option<&Session>, ctx: Value) -> Response {
    let csrf = session.map(|s| s.csrf.clone()).unwrap_or_default();
    // Every time on a console page shows in `digests.timezone`, through the `when` filter.
    let timezone = state.settings.timezone().name();
    // Console pages must never be cached by a shared proxy.
    // The console is English: the operator's tool, not a reader's page.
    let locale = crate::domain::Locale::En;
    let mut response = pages::page(state, StatusCode::OK, locale, name, context! { csrf, timezone, ..ctx });
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    response
}

/// The sign-in form.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    /// The admin token.
    pub token: String,
}

/// A console form with nothing but the session's CSRF token (sign-out, "retry failed").
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: String,
}

/// The console sign-in page.
#[utoipa::path(get, path = "/admin/login", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn login_page(State(state): State<AppState>) -> Response {
    page(&state, "console/login.html", None, context! { error => Value::from(()) })
}

/// Exchange the admin token for a session cookie.
#[utoipa::path(post, path = "/admin/login", tag = "console", request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Signed in: to /admin, with the session cookie"), (status = 401, description = "Wrong token: the sign-in page again", content_type = "text/html", body = String), (status = 429, description = "Too many wrong tokens from this client; see Retry-After", content_type = "text/html", body = String), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    match verify_admin_token(&state, peer, &headers, form.token.trim(), "/admin/login") {
        Ok(()) => {}
        Err(Error::Unauthorized) => {
            let mut response =
                page(&state, "console/login.html", None, context! { error => "That is not the admin token." });
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    }
    let session = Token::generate().map_err(|e| Error::Internal(e.into()))?;
    let csrf = Token::generate().map_err(|e| Error::Internal(e.into()))?;
    sessions::create(&state.db, &session.hash(), &state.admin_token_hash, csrf.expose(), SESSION_SECS).await?;
    let secure = state.settings.http.base_url.is_https();
    tracing::info!("operator signed in to the console");
    Ok((jar.add(session_cookie(&session, secure)), Redirect::to("/admin")).into_response())
}

/// End the session.
#[utoipa::path(post, path = "/admin/logout", tag = "console", request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn logout(
    State(state): State<AppState>,
    session: Session,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    sessions::delete(&state.db, &session.hash).await?;
    Ok((jar.add(expired_cookie()), Redirect::to("/admin/login")).into_response())
}

/// Console overview: subscribers by status, recent digests.
#[utoipa::path(get, path = "/admin", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn dashboard(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let recent = digests::recent(&state.db, 10).await?;
    let counts = status_counts(&state).await?;
    let checkup = crate::ops::doctor::check(&state.settings);
    // This process's counters, since it started: each `serve` process counts its own.
    let refused: Vec<Value> = crate::telemetry::metrics::METRICS
        .refusals()
        .into_iter()
        .map(|(reason, count)| context! { reason => reason, count => count })
        .collect();
    Ok(page(
        &state,
        "console/dashboard.html",
        Some(&session),
        context! { counts => counts, digests => recent, checkup => checkup, refused => refused },
    ))
}

/// Subscribers by status, for the console's pages.
pub async fn status_counts(state: &AppState) -> Result<Value, Error> {
    let counts: Vec<Value> = crate::store::subscribers::counts(&state.db)
        .await?
        .into_iter()
        .map(|(status, n)| context! { status => crate::domain::SubscriberStatus::as_str(status), count => n })
        .collect();
    Ok(Value::from(counts))
}
