//! The admin token: the [`AdminAuth`] extractor for the bearer API, and the check the console's
//! sign-in shares with it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::Error;

/// Proof that the request carried `Authorization: Bearer <admin.token>`. Every admin API handler
/// takes it first, so nothing else about the request is looked at before the token.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("no peer address: {e}")))?;
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        verify_admin_token(state, peer, &parts.headers, presented, crate::telemetry::route(&parts.extensions))?;
        Ok(Self)
    }
}

/// Checks a presented admin token (bearer API and console sign-in alike). Compares in constant
/// time, so response timing does not leak how much of a guess was right. Each wrong token is
/// logged (client and route, never what was presented) and counted per client; a client past
/// `limits.admin_auth_failures_per_minute` gets 429, right token or not, until its allowance
/// refills, so a guess teaches it nothing.
pub fn verify_admin_token(
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
