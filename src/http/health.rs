//! `/health`: the process is up. `/ready`: it can reach its database.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::store::retry;
use crate::telemetry::metrics;

/// Whether the process (and, for `/ready`, its database) is up.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (health); `ready` or `unavailable` (readiness)
    pub status: &'static str,
    /// Readiness only: `ok`, `unreachable` or `timeout`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}

/// Prometheus metrics: signups, confirmations, unsubscribes, deliveries by outcome, SMTP
/// latency, queue depth, messages in flight.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    // A digest's recipients have no row until their mail has gone: those left in open chunks wait too.
    let depth = sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending')
                  + (SELECT coalesce(sum(waiting), 0) FROM digest_chunks_waiting)::int8 AS "n!""#
    )
    .fetch_one(&state.db);
    let depth = tokio::time::timeout(Duration::from_secs(2), depth).await.ok().and_then(Result::ok);
    // The feed's render count is kept by its cache in this router's state, not process-wide.
    let text = metrics::METRICS.render(depth, state.feed.renders());
    ([(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text)
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok", database: None })
}

/// The database is reachable.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready", body = Health), (status = 503, description = "The database is unreachable", body = Health)))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    // Run again on a fresh connection if the first was dead: after a restart of Postgres the
    // service is ready as soon as a fresh connection works, and a probe should say so.
    let db = &state.db;
    let check = retry::once(db, "readiness", || sqlx::query_scalar!("SELECT 1 AS \"one!\"").fetch_one(db));
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(Health { status: "ready", database: Some("ok") })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable", database: Some("unreachable") }))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable", database: Some("timeout") })),
    }
}
