//! `/health`: the process is up. `/ready`: it can reach its database.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[allow(unused_imports)]
use super::openapi::Health;
use serde_json::{Value, json};

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}

/// Prometheus metrics: signups, confirmations, unsubscribes, deliveries by outcome, SMTP
/// latency, queue depth, messages in flight.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let depth =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM deliveries WHERE status = 'pending'"#).fetch_one(&state.db);
    let depth = tokio::time::timeout(Duration::from_secs(2), depth).await.ok().and_then(Result::ok);
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::METRICS.render(depth),
    )
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Up", body = Health)))]
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database is reachable.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready", body = Health), (status = 503, description = "The database is unreachable", body = Health)))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let check = sqlx::query_scalar!("SELECT 1 AS \"one!\"").fetch_one(&state.db);
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(json!({ "status": "ready", "database": "ok" }))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": "unreachable" })))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": "timeout" }))),
    }
}
