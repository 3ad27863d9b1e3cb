//! Operator console sessions.

use sqlx::PgPool;

use crate::domain::TokenHash;

/// `admin_token` is the fingerprint of the admin token the operator signed in with.
pub async fn create(
    db: &PgPool,
    hash: &TokenHash,
    admin_token: &TokenHash,
    csrf: &str,
    ttl_secs: f64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO admin_sessions (hash, admin_token_hash, csrf, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        &hash.0[..],
        &admin_token.0[..],
        csrf,
        ttl_secs,
    )
    .execute(db)
    .await?;
    // Housekeeping on the side: sign-ins are rare, expired sessions few.
    sqlx::query!("DELETE FROM admin_sessions WHERE expires_at < now()").execute(db).await?;
    Ok(())
}

/// The session's CSRF token, if the session exists, has not expired, and was signed in with the
/// admin token whose fingerprint is `admin_token` (so rotating the token ends every session).
pub async fn csrf(db: &PgPool, hash: &TokenHash, admin_token: &TokenHash) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "SELECT csrf FROM admin_sessions WHERE hash = $1 AND admin_token_hash = $2 AND expires_at > now()",
        &hash.0[..],
        &admin_token.0[..],
    )
    .fetch_optional(db)
    .await
}

pub async fn delete(db: &PgPool, hash: &TokenHash) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM admin_sessions WHERE hash = $1", &hash.0[..]).execute(db).await?;
    Ok(())
}
