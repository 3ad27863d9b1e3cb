//! Webhook endpoints: added, listed and removed by operators, with their last attempts for the
//! console. The messages queued for them are in `store::webhook_messages`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// An endpoint as the API and the console show it: never with its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// False once the endpoint answered `410 Gone`; nothing more is sent to it.
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Messages waiting for it (new or to be retried).
    pub pending: i64,
}

/// One try at delivering a message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub endpoint_id: Uuid,
    pub message_id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub at: DateTime<Utc>,
    /// The HTTP status the endpoint answered, absent when none came (timeout, refused address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub millis: i32,
}

/// Attempts kept per endpoint; older ones are trimmed by the worker.
pub const ATTEMPTS_KEPT: i64 = 20;

pub async fn insert(db: &PgPool, id: Uuid, url: &str, events: &[String], secret: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO webhook_endpoints (id, url, events, secret) VALUES ($1, $2, $3, $4)",
        id,
        url,
        events,
        secret,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list(db: &PgPool) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        r#"SELECT e.id, e.url, e.events, e.enabled, e.disabled_reason, e.created_at,
                  (SELECT count(*) FROM webhook_messages m WHERE m.endpoint_id = e.id AND m.status = 'pending')
                    AS "pending!"
           FROM webhook_endpoints e ORDER BY e.created_at, e.id"#,
    )
    .fetch_all(db)
    .await
}

/// Removes the endpoint and the messages still queued for it. Whether it existed.
pub async fn remove(db: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!("DELETE FROM webhook_endpoints WHERE id = $1", id).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

/// The last [`ATTEMPTS_KEPT`] attempts of every endpoint, newest first.
pub async fn recent_attempts(db: &PgPool) -> sqlx::Result<Vec<Attempt>> {
    sqlx::query_as!(
        Attempt,
        r#"SELECT a.endpoint_id AS "endpoint_id!", a.message_id AS "message_id!", a.type AS "event_type!",
                  a.at AS "at!", a.status_code, a.error, a.millis AS "millis!"
           FROM webhook_endpoints e
           CROSS JOIN LATERAL (SELECT * FROM webhook_attempts a WHERE a.endpoint_id = e.id
                               ORDER BY a.id DESC LIMIT $1) a
           ORDER BY e.created_at, a.id DESC"#,
        ATTEMPTS_KEPT,
    )
    .fetch_all(db)
    .await
}
