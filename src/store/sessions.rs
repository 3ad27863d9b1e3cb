//! Operator console sessions.

use sqlx::PgPool;

use crate::domain::TokenHash;

pub async fn create(db: &PgPool, hash: &TokenHash, csrf: &str, ttl_secs: f64) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO admin_sessions (hash, csrf, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
        &hash.0[..],
        csrf,
        ttl_secs,
    )
    .execute(db)
    .await?;
    // Housekeeping on the side: sign-ins are rare, expired sessions few.
    sqlx::query!("DELETE FROM admin_sessions WHERE expires_at < now()").execute(db).await?;
    Ok(())
}

/// The session's CSRF token, if the session exists and has not expired.
pub async fn csrf(db: &PgPool, hash: &TokenHash) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("SELECT csrf FROM admin_sessions WHERE hash = $1 AND expires_at > now()", &hash.0[..])
        .fetch_optional(db)
        .await
}

pub async fn delete(db: &PgPool, hash: &TokenHash) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM admin_sessions WHERE hash = $1", &hash.0[..]).execute(db).await?;
    Ok(())
}
