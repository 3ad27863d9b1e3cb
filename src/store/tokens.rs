//! Confirmation and unsubscribe tokens, stored only as SHA-256 hashes.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::TokenHash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "token_purpose", rename_all = "lowercase")]
pub enum TokenPurpose {
    Confirm,
    Unsubscribe,
}

pub struct NewToken {
    pub hash: TokenHash,
    pub subscriber_id: Uuid,
    pub purpose: TokenPurpose,
    pub expires_at: DateTime<Utc>,
}

/// Deletes up to `limit` tokens that expired more than a day ago (until then a stale link still
/// gets the "this link has expired" page rather than "unknown link"). Every digest stores one
/// token per recipient, so without this the table would only grow. Returns how many went.
pub async fn purge_expired(db: &PgPool, limit: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM subscription_tokens WHERE hash IN (
             SELECT hash FROM subscription_tokens WHERE expires_at < now() - interval '1 day' LIMIT $1)",
        limit,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// One round trip for a whole batch of outgoing mails.
pub async fn insert_many(db: &PgPool, tokens: &[NewToken]) -> sqlx::Result<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    let hashes: Vec<Vec<u8>> = tokens.iter().map(|t| t.hash.0.to_vec()).collect();
    let subscribers: Vec<Uuid> = tokens.iter().map(|t| t.subscriber_id).collect();
    let purposes: Vec<String> = tokens
        .iter()
        .map(|t| match t.purpose {
            TokenPurpose::Confirm => "confirm".to_owned(),
            TokenPurpose::Unsubscribe => "unsubscribe".to_owned(),
        })
        .collect();
    let expiries: Vec<DateTime<Utc>> = tokens.iter().map(|t| t.expires_at).collect();
    sqlx::query!(
        "INSERT INTO subscription_tokens (hash, subscriber_id, purpose, expires_at)
         SELECT h, s, p::token_purpose, e FROM unnest($1::bytea[], $2::uuid[], $3::text[], $4::timestamptz[]) AS t(h, s, p, e)",
        &hashes,
        &subscribers,
        &purposes,
        &expiries,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What a confirmation token turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmToken {
    /// Valid, unused and unexpired: it is now used.
    Fresh(Uuid),
    /// Already used, and its subscriber is confirmed: a second click is harmless.
    AlreadyConfirmed,
    /// Unknown, expired, or used by a subscriber who is not confirmed.
    Invalid,
}

/// Marks the token used in the same statement that checks it, so two concurrent clicks cannot
/// both win.
pub async fn use_confirm_token(conn: &mut PgConnection, hash: &TokenHash) -> sqlx::Result<ConfirmToken> {
    let fresh = sqlx::query_scalar!(
        "UPDATE subscription_tokens SET used_at = now()
         WHERE hash = $1 AND purpose = 'confirm' AND used_at IS NULL AND expires_at > now()
         RETURNING subscriber_id",
        &hash.0[..],
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = fresh {
        return Ok(ConfirmToken::Fresh(id));
    }
    let confirmed = sqlx::query_scalar!(
        r#"SELECT EXISTS (
             SELECT 1 FROM subscription_tokens t JOIN subscribers s ON s.id = t.subscriber_id
             WHERE t.hash = $1 AND t.purpose = 'confirm' AND t.used_at IS NOT NULL AND s.status = 'confirmed'
           ) AS "confirmed!""#,
        &hash.0[..],
    )
    .fetch_one(conn)
    .await?;
    Ok(if confirmed { ConfirmToken::AlreadyConfirmed } else { ConfirmToken::Invalid })
}

/// Once a subscriber has confirmed or left, the other confirmation links in their inbox are spent.
pub async fn retire_confirm_tokens(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE subscription_tokens SET used_at = now()
         WHERE subscriber_id = $1 AND purpose = 'confirm' AND used_at IS NULL",
        subscriber_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Unsubscribe tokens stay valid for repeated use (the link is in every mail, and mail clients
/// may POST it more than once) until they expire.
pub async fn unsubscribe_subject(conn: &mut PgConnection, hash: &TokenHash) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT subscriber_id FROM subscription_tokens
         WHERE hash = $1 AND purpose = 'unsubscribe' AND expires_at > now()",
        &hash.0[..],
    )
    .fetch_optional(conn)
    .await
}
