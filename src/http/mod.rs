//! HTTP: one module per resource, each with its `router()` (the operator resources serve both
//! the admin API and the console's pages); this file puts them together with the layers every
//! request passes through.

mod archive;
mod articles;
mod auth;
mod bots;
mod confirm;
mod connections;
mod console;
mod digests;
pub mod error;
mod health;
mod inbound;
mod input;
mod keys;
mod lists;
mod locale;
mod openapi;
pub mod pages;
mod preferences;
mod providers;
mod rate_limit;
mod segments;
mod session;
mod signup;
mod state;
mod subscribers;
mod unsubscribe;
mod webhooks;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::connections::{ConnectionLimits, serve};
use self::error::Error;
pub use self::rate_limit::RateLimiter;
pub use self::state::AppState;
use crate::store::subscribers::Origin;

/// Public forms carry an address and a name; nothing legitimate comes close to this.
const BODY_LIMIT: usize = 16 * 1024;
/// Admin API bodies carry whole articles.
const ADMIN_BODY_LIMIT: usize = 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (routes, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(signup::router())
        .merge(bots::router())
        .merge(confirm::router())
        .merge(unsubscribe::router())
        .merge(preferences::router())
        .merge(health::router())
        .merge(archive::router())
        .merge(articles::router())
        .merge(digests::router())
        .merge(subscribers::router())
        .merge(segments::router())
        .merge(inbound::router())
        .merge(providers::router())
        .merge(webhooks::router())
        .merge(lists::router())
        .merge(keys::router())
        .merge(console::router())
        .routes(routes!(openapi_json))
        .split_for_parts();
    let api = Arc::new(api);
    routes
        .layer(axum::Extension(api))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), pages::render_error_pages))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            Error::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        // Token pages must not leak their URL to other sites, and no page may be framed.
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            // Scripts and requests to ourselves only: the signup form's proof-of-work script.
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span)
                .on_request(())
                .on_response(|response: &Response<_>, latency: Duration, _: &Span| {
                    tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_secs_f64() * 1e3, "request");
                })
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// This document: OpenAPI 3 for every route.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json(
    axum::Extension(api): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json((*api).clone())
}

/// For the admin API's JSON routes (the console's forms keep the public limit).
fn admin_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(ADMIN_BODY_LIMIT)
}

/// For pages that carry a token (in their URL or their form): no cache, shared or private, may
/// keep them. The router adds `Referrer-Policy: no-referrer` to every response.
fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

async fn not_found() -> Error {
    Error::NotFound("There is nothing at this address.".to_owned())
}

/// The client's address for rate limits and the consent record. A forwarding header is believed
/// only when configured (we sit behind our own proxy), and then only its last entry: the one our
/// proxy wrote, not whatever the client claimed.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted_header: Option<&str>) -> IpAddr {
    trusted_header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| peer.ip())
}

pub fn origin(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Origin {
    Origin {
        ip: Some(client_ip(peer, headers, state.settings.http.client_ip_header.as_deref())),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_trusted_only_when_configured_and_only_its_last_hop() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.9"));
        assert_eq!(client_ip(peer, &headers, None), peer.ip());
        assert_eq!(client_ip(peer, &headers, Some("x-forwarded-for")).to_string(), "203.0.113.9");
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(peer, &headers, Some("x-forwarded-for")), peer.ip());
    }
}
