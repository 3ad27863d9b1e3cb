//! API keys: stored by the SHA-256 of the key, never the key.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{KeyName, Scopes, TokenHash};

/// A key as listed: everything but its hash.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyRow {
    pub name: String,
    #[schema(value_type = Vec<crate::domain::Scope>)]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// To the minute: a key used all the time is written at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once revoked; a revoked key is refused (401) and stays listed.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live key found by its hash.
pub struct LiveKey {
    pub id: i64,
    pub name: String,
    pub scopes: Scopes,
    /// `last_used_at` is older than a minute (or unset): worth writing again.
    pub stale: bool,
}

/// The new key's row, or `None` when a live key already has this name.
pub async fn insert(db: &PgPool, name: &KeyName, hash: &TokenHash, scopes: &Scopes) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        "INSERT INTO api_keys (name, hash, scopes) VALUES ($1, $2, $3)
         ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
         RETURNING name, scopes, created_at, last_used_at, revoked_at",
        name.as_str(),
        &hash.0[..],
        &scopes.names(),
    )
    .fetch_optional(db)
    .await
}

/// Live keys by name, then revoked ones, most recently revoked first.
pub async fn list(db: &PgPool) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        "SELECT name, scopes, created_at, last_used_at, revoked_at FROM api_keys
         ORDER BY revoked_at IS NOT NULL, revoked_at DESC, name",
    )
    .fetch_all(db)
    .await
}

/// Revokes the live key of this name; false when there is none.
pub async fn revoke(db: &PgPool, name: &KeyName) -> sqlx::Result<bool> {
    let done =
        sqlx::query!("UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", name.as_str())
            .execute(db)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The live key with this hash (a revoked or unknown one is `None`).
pub async fn find_live(db: &PgPool, hash: &TokenHash) -> sqlx::Result<Option<LiveKey>> {
    let row = sqlx::query!(
        r#"SELECT id, name, scopes,
                  (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS "stale!"
           FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"#,
        &hash.0[..],
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| LiveKey { id: r.id, name: r.name, scopes: Scopes::from_stored(&r.scopes), stale: r.stale }))
}

/// Records a use. The condition repeats the minute so that requests racing past a stale read
/// write once between them.
pub async fn touch(db: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        id,
    )
    .execute(db)
    .await?;
    Ok(())
}
