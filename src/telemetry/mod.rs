//! Logging (human-readable locally, JSON in production, filtered by `RUST_LOG`), the helpers
//! that keep addresses and credentials out of it (`redact`), and the `/metrics` counters.
//!
//! Request spans carry the method, the route and a request id: the route as written in the
//! router (`/admin/subscribers/{email}`), never the path the client sent nor its query string,
//! since paths carry addresses and queries tokens (`/unsubscribe?token=…`).

pub mod metrics;
mod redact;

use axum::extract::MatchedPath;
use axum::http::{Extensions, Request};
use tracing::Span;
use tracing_subscriber::EnvFilter;

pub use self::redact::{redact_url, without_addresses};

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn";

/// Installs the global subscriber. A second call (tests build many apps) is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
}

/// The span every request runs in; `x-request-id` is set by the layer in front of this one.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = route(request.extensions()),
        request_id = %request_id,
        // The name of the API key the request was made with, once it is known (never the key).
        api_key = tracing::field::Empty,
    )
}

/// What a log line may say about where a request went: the template of the route it matched, or
/// a fixed placeholder when it matched none (a 404 on whatever the client made up).
pub fn route(extensions: &Extensions) -> &str {
    extensions.get::<MatchedPath>().map_or(NO_ROUTE, MatchedPath::as_str)
}

const NO_ROUTE: &str = "(no route)";
