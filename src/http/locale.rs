//! The language a page is shown in: the visitor's (`Accept-Language`, negotiated against the
//! shipped locales) on pages that have no subscriber behind them, the subscriber's stored one on
//! pages reached through a link of theirs. Falls back to `subscriptions.default_locale`, never to
//! an error.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use uuid::Uuid;

use super::AppState;
use crate::domain::Locale;

/// The visitor's locale, from the request's `Accept-Language` (bounded: see
/// [`Locale::negotiate`]), or the default.
#[derive(Debug, Clone, Copy)]
pub struct RequestLocale(pub Locale);

impl FromRequestParts<AppState> for RequestLocale {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(negotiated(state, &parts.headers)))
    }
}

/// The locale `Accept-Language` asks for, or the default.
pub fn negotiated(state: &AppState, headers: &HeaderMap) -> Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Locale::negotiate)
        .unwrap_or_else(|| state.settings.subscriptions.default_locale())
}

/// A stored locale (`subscribers.locale`), or the default where none (or an unshipped one) is.
pub fn stored(state: &AppState, locale: Option<&str>) -> Locale {
    locale.and_then(Locale::parse).unwrap_or_else(|| state.settings.subscriptions.default_locale())
}

/// The locale of subscriber `id`, for a page reached through their link; `fallback` (the
/// request's) when they are gone or the database cannot say: a page is still shown.
pub async fn of_subscriber(state: &AppState, id: Uuid, fallback: Locale) -> Locale {
    match crate::store::subscribers::locale_of(&state.db, id).await {
        Ok(Some(locale)) => stored(state, locale.as_deref()),
        Ok(None) => fallback,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a subscriber's locale; showing the page in the visitor's");
            fallback
        }
    }
}
