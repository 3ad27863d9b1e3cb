//! Admin credentials: the [`Authorized`] extractor every admin API handler takes first, naming
//! the scope its route needs, and the admin-token check the console's sign-in shares with it.
//!
//! A bearer token is either `admin.token` (every scope) or an API key (`bsk_…`, the scopes it
//! was created with). There is no extractor without a scope, so a new admin route cannot be
//! written without saying which one it needs; `tests/api/keys.rs` walks the OpenAPI document to
//! check that each route refuses a key without its documented scope.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::Error;
use crate::domain::{ApiKey, Scope, Scopes};
use crate::store::api_keys;

/// The scope a route needs, as a type, so that a handler names it in its signature.
pub trait RequiredScope {
    const SCOPE: Scope;
}

/// The marker types for [`Authorized`], one per [`Scope`].
pub mod scope {
    use super::{RequiredScope, Scope};

    macro_rules! scopes {
        ($($(#[$meta:meta])* $name:ident),* $(,)?) => {$(
            $(#[$meta])*
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Scope = Scope::$name;
            }
        )*};
    }

    scopes!(
        SubscribersRead,
        SubscribersWrite,
        ListsRead,
        ListsWrite,
        ArticlesWrite,
        DigestsRead,
        DigestsWrite,
        WebhooksWrite,
        InboundWrite,
        KeysWrite,
    );
}

/// Proof that the request carried `Authorization: Bearer …` with `admin.token` or a live API key
/// holding `S`'s scope: otherwise 401 (no, a wrong, or a revoked credential) or 403 naming the
/// scope the key lacks. Nothing else about the request is looked at before it.
pub struct Authorized<S: RequiredScope> {
    /// Everything the credential holds, for a route that hands scopes on (creating a key).
    pub granted: Scopes,
    required: PhantomData<S>,
}

impl<S: RequiredScope> Authorized<S> {
    /// Refuses to hand on a scope the credential itself lacks, naming the first such scope: a
    /// key holding `keys:write` cannot mint a key stronger than itself.
    pub fn may_grant(&self, wanted: &Scopes) -> Result<(), Error> {
        match wanted.iter().find(|s| !self.granted.contains(*s)) {
            Some(missing) => Err(Error::MissingScope(missing)),
            None => Ok(()),
        }
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authorized<S> {
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
        let route = crate::telemetry::route(&parts.extensions);
        let granted = authenticate(state, peer, &parts.headers, presented, route).await?;
        if !granted.contains(S::SCOPE) {
            tracing::info!(route, scope = %S::SCOPE, "admin request refused: the key lacks the scope");
            return Err(Error::MissingScope(S::SCOPE));
        }
        Ok(Self { granted, required: PhantomData })
    }
}

/// The scopes a presented bearer token holds: all of them for `admin.token`, a live key's own
/// for an API key. A wrong, unknown or revoked one counts against the client like a wrong admin
/// token did (see [`verify_admin_token`]).
async fn authenticate(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    presented: &str,
    route: &str,
) -> Result<Scopes, Error> {
    let ip = refuse_if_exhausted(state, peer, headers, route)?;
    if is_admin_token(state, presented) {
        return Ok(Scopes::all());
    }
    // Found by its hash through a unique index: no secret is compared in memory, and what the
    // index lookup's timing could reveal is about a hash, which tells nothing about a key.
    let key = match ApiKey::presented_hash(presented) {
        Some(hash) => api_keys::find_live(&state.db, &hash).await?,
        None => None,
    };
    if let Some(key) = key {
        if key.stale {
            // Bookkeeping: a failure here must not refuse a request that is allowed.
            if let Err(e) = api_keys::touch(&state.db, key.id).await {
                tracing::warn!(error = %e, key = key.name, "could not record when an API key was used");
            }
        }
        tracing::Span::current().record("api_key", key.name.as_str());
        return Ok(key.scopes);
    }
    Err(refused(state, ip, route))
}

/// Checks a presented admin token (the console's sign-in). Compares in constant time, so
/// response timing does not leak how much of a guess was right. Each wrong token is logged
/// (client and route, never what was presented) and counted per client; a client past
/// `limits.admin_auth_failures_per_minute` gets 429, right token or not, until its allowance
/// refills, so a guess teaches it nothing.
pub fn verify_admin_token(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    presented: &str,
    route: &str,
) -> Result<(), Error> {
    let ip = refuse_if_exhausted(state, peer, headers, route)?;
    if is_admin_token(state, presented) { Ok(()) } else { Err(refused(state, ip, route)) }
}

fn refuse_if_exhausted(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    route: &str,
) -> Result<std::net::IpAddr, Error> {
    let ip = super::client_ip(peer, headers, state.settings.http.client_ip_header.as_deref());
    if let Err(retry_after_secs) = state.auth_failures.exhausted(ip) {
        tracing::debug!(client_ip = %ip, route, "admin authentication refused: too many wrong tokens");
        return Err(Error::TooManyRequests { retry_after_secs });
    }
    Ok(ip)
}

fn is_admin_token(state: &AppState, presented: &str) -> bool {
    let expected = state.admin_token.expose_secret();
    let matches: bool = presented.as_bytes().ct_eq(expected.as_bytes()).into();
    !presented.is_empty() && matches
}

fn refused(state: &AppState, ip: std::net::IpAddr, route: &str) -> Error {
    let _ = state.auth_failures.check(ip);
    tracing::warn!(client_ip = %ip, route, "admin authentication failed");
    Error::Unauthorized
}
