//! Console sessions: the [`Session`] extractor (session cookie → session row, bound to the admin
//! token it was signed in with) and [`CsrfForm`], a console form whose CSRF token has been
//! checked against the session's.
//!
//! Signing in exchanges the admin token for a session cookie (HttpOnly, SameSite=Strict, Secure
//! when base_url is https); only the SHA-256 of the cookie's token is stored, with a CSRF token
//! that every form must carry.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{Error, PageError};
use super::input::{FromFields, form_fields};
use crate::domain::{Token, TokenHash};
use crate::store::sessions;

const COOKIE: &str = "broadsheet_session";
pub const SESSION_SECS: f64 = 12.0 * 3600.0;

/// A signed-in operator. Pages that need one redirect to the sign-in page without it.
#[derive(Clone)]
pub struct Session {
    pub hash: TokenHash,
    pub csrf: String,
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

impl<E: Into<Error>> From<E> for NeedsSignIn {
    fn from(e: E) -> Self {
        Self::Failed(PageError(e.into()))
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NeedsSignIn;

    /// Looked up once per request: a [`CsrfForm`] in the same handler reuses it.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(session.clone());
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(COOKIE).and_then(|c| Token::parse(c.value()).ok()) else {
            return Err(NeedsSignIn::Redirect);
        };
        let hash = token.hash();
        match sessions::csrf(&state.db, &hash, &state.admin_token_hash).await {
            Ok(Some(csrf)) => {
                let session = Session { hash, csrf };
                parts.extensions.insert(session.clone());
                Ok(session)
            }
            Ok(None) => Err(NeedsSignIn::Redirect),
            Err(e) => Err(e.into()),
        }
    }
}

/// The cookie that carries a new session.
pub fn session_cookie(session: &Token, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, session.expose().to_owned()))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(SESSION_SECS as i64))
        .secure(secure)
        .build()
}

/// The same cookie, emptied and expired: the browser forgets the session.
pub fn expired_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build((COOKIE, "")).path("/admin").http_only(true).same_site(SameSite::Strict).build();
    cookie.make_removal();
    cookie
}

/// A console form from a signed-in operator, carrying the session's CSRF token: without a
/// session, to the sign-in page; with a missing or wrong CSRF token, `400`.
pub struct CsrfForm<T>(pub T);

impl<T: FromFields> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = NeedsSignIn;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let mut fields = form_fields(Request::from_parts(parts, body)).await?;
        let sent = fields.remove("csrf").unwrap_or_default();
        let matches: bool = sent.as_bytes().ct_eq(session.csrf.as_bytes()).into();
        if sent.is_empty() || !matches {
            return Err(Error::BadRequest("This form has expired. Reload the page and try again.".to_owned()).into());
        }
        fields.insert("csrf".to_owned(), sent);
        Ok(Self(T::from_fields(fields)))
    }
}
