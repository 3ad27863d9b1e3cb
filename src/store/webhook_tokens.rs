//! Tokens of signed webhooks already taken (Mailgun's), so a replayed request is refused by every
//! process alike.

use sqlx::PgPool;

/// Records `token`; false when it was seen before. Entries older than `keep_secs` go first.
pub async fn take(db: &PgPool, token: &str, keep_secs: f64) -> sqlx::Result<bool> {
    sqlx::query!("DELETE FROM webhook_tokens WHERE seen_at < now() - make_interval(secs => $1::float8)", keep_secs)
        .execute(db)
        .await?;
    let taken = sqlx::query!("INSERT INTO webhook_tokens (token) VALUES ($1) ON CONFLICT DO NOTHING", token)
        .execute(db)
        .await?
        .rows_affected();
    Ok(taken == 1)
}

/// Forgets `token`, so the provider's retry of a request we failed to act on is taken.
pub async fn forget(db: &PgPool, token: &str) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM webhook_tokens WHERE token = $1", token).execute(db).await?;
    Ok(())
}
