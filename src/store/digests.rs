//! Digests: a subject, its articles, and one delivery per recipient.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

pub use crate::domain::DigestContent;
use crate::domain::{Article, BodyFormat, DigestStatus};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Created {
    pub id: Uuid,
    pub recipients: i64,
    /// False when an earlier request with the same idempotency key made it.
    #[serde(skip)]
    pub new: bool,
}

/// Creates the digest and queues one delivery per confirmed subscriber, all in one transaction:
/// the recipient list is exactly the confirmed subscribers at this moment. The deliveries are one
/// `INSERT … SELECT`, so a million recipients cost one statement, not a million round trips.
pub async fn create(
    db: &PgPool,
    subject: &str,
    articles: &[Uuid],
    idempotency_key: Option<&str>,
) -> sqlx::Result<Created> {
    let mut tx = db.begin().await?;
    if let Some(key) = idempotency_key {
        // Serialise requests that carry the same key, so two retries racing cannot both create.
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key).execute(&mut *tx).await?;
        let existing = sqlx::query!("SELECT id, recipients FROM digests WHERE idempotency_key = $1", key)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            return Ok(Created { id: row.id, recipients: i64::from(row.recipients), new: false });
        }
    }
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO digests (id, subject, idempotency_key, recipients) VALUES ($1, $2, $3, 0)",
        id,
        subject,
        idempotency_key,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO digest_articles (digest_id, article_id, position)
         SELECT $1, a, p::int FROM unnest($2::uuid[]) WITH ORDINALITY AS t(a, p)",
        id,
        articles,
    )
    .execute(&mut *tx)
    .await?;
    let queued = sqlx::query!(
        "INSERT INTO deliveries (kind, subscriber_id, digest_id)
         SELECT 'digest', s.id, $1 FROM subscribers s WHERE s.status = 'confirmed'",
        id,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let recipients = i64::try_from(queued).unwrap_or(i64::MAX);
    sqlx::query!("UPDATE digests SET recipients = $2 WHERE id = $1", id, i32::try_from(recipients).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if recipients >= BULK {
        // A big digest multiplies the queue in one statement; autovacuum notices only a minute
        // or so later, and until then every plan on the queue is made for the table it was.
        super::deliveries::analyze(db).await;
    }
    Ok(Created { id, recipients, new: true })
}

/// Inserts beyond this many rows refresh the queue's statistics at once.
const BULK: i64 = 10_000;

pub async fn by_idempotency_key(db: &PgPool, key: &str) -> sqlx::Result<Option<Created>> {
    let row =
        sqlx::query!("SELECT id, recipients FROM digests WHERE idempotency_key = $1", key).fetch_optional(db).await?;
    Ok(row.map(|r| Created { id: r.id, recipients: i64::from(r.recipients), new: false }))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Progress {
    pub id: Uuid,
    /// `sending` while anything is pending, then `done`.
    pub status: DigestStatus,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub recipients: i64,
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
    /// Recipients who left before their turn came.
    pub skipped: i64,
    /// Recipients of this digest whose address bounced for good (at send time or by report).
    pub bounced: i64,
    /// Recipients who reported this digest as spam.
    pub complained: i64,
}

pub async fn progress(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Progress>> {
    let row = sqlx::query!(
        r#"SELECT d.id, d.subject, d.created_at, d.recipients,
                  count(*) FILTER (WHERE x.status = 'sent') AS "sent!",
                  count(*) FILTER (WHERE x.status = 'pending') AS "pending!",
                  count(*) FILTER (WHERE x.status = 'failed') AS "failed!",
                  count(*) FILTER (WHERE x.status = 'skipped') AS "skipped!",
                  (SELECT count(*) FROM bounces b JOIN deliveries y ON y.id = b.delivery_id
                   WHERE y.digest_id = d.id AND b.kind = 'hard') AS "bounced!",
                  (SELECT count(*) FROM bounces b JOIN deliveries y ON y.id = b.delivery_id
                   WHERE y.digest_id = d.id AND b.kind = 'complaint') AS "complained!"
           FROM digests d LEFT JOIN deliveries x ON x.digest_id = d.id
           WHERE d.id = $1
           GROUP BY d.id"#,
        id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Progress {
        id: r.id,
        status: DigestStatus::of(r.pending),
        subject: r.subject,
        created_at: r.created_at,
        recipients: i64::from(r.recipients),
        sent: r.sent,
        pending: r.pending,
        failed: r.failed,
        skipped: r.skipped,
        bounced: r.bounced,
        complained: r.complained,
    }))
}

/// What the worker needs to render a digest: fetched once per digest, then cached.
pub async fn content(db: &PgPool, id: Uuid) -> sqlx::Result<Option<DigestContent>> {
    let Some(subject) = sqlx::query_scalar!("SELECT subject FROM digests WHERE id = $1", id).fetch_optional(db).await?
    else {
        return Ok(None);
    };
    let articles = sqlx::query_as!(
        Article,
        r#"SELECT a.id, a.title, a.body, a.body_format AS "body_format: BodyFormat", a.url, a.summary, a.created_at, da.digest_id AS "digest_id?"
           FROM digest_articles da JOIN articles a ON a.id = da.article_id
           WHERE da.digest_id = $1 ORDER BY da.position"#,
        id,
    )
    .fetch_all(db)
    .await?;
    Ok(Some(DigestContent { id: Some(id), subject, articles }))
}

/// The most recent digests with their counts, newest first.
pub async fn recent(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Progress>> {
    let rows = sqlx::query!(
        r#"SELECT d.id, d.subject, d.created_at, d.recipients,
                  count(x.id) FILTER (WHERE x.status = 'sent') AS "sent!",
                  count(x.id) FILTER (WHERE x.status = 'pending') AS "pending!",
                  count(x.id) FILTER (WHERE x.status = 'failed') AS "failed!",
                  count(x.id) FILTER (WHERE x.status = 'skipped') AS "skipped!",
                  (SELECT count(*) FROM bounces b JOIN deliveries y ON y.id = b.delivery_id
                   WHERE y.digest_id = d.id AND b.kind = 'hard') AS "bounced!",
                  (SELECT count(*) FROM bounces b JOIN deliveries y ON y.id = b.delivery_id
                   WHERE y.digest_id = d.id AND b.kind = 'complaint') AS "complained!"
           FROM (SELECT * FROM digests ORDER BY created_at DESC LIMIT $1) d
           LEFT JOIN deliveries x ON x.digest_id = d.id
           GROUP BY d.id, d.subject, d.created_at, d.recipients
           ORDER BY d.created_at DESC"#,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Progress {
            id: r.id,
            status: DigestStatus::of(r.pending),
            subject: r.subject,
            created_at: r.created_at,
            recipients: i64::from(r.recipients),
            sent: r.sent,
            pending: r.pending,
            failed: r.failed,
            skipped: r.skipped,
            bounced: r.bounced,
            complained: r.complained,
        })
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub email: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Failed deliveries of a digest with the server's last reply.
pub async fn failures(db: &PgPool, id: Uuid, limit: i64) -> sqlx::Result<Vec<Failure>> {
    sqlx::query_as!(
        Failure,
        "SELECT s.email, d.attempts, d.last_error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE d.digest_id = $1 AND d.status = 'failed' ORDER BY d.id LIMIT $2",
        id,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Puts a digest's failed deliveries back in the queue with a fresh attempt budget.
pub async fn retry_failed(db: &PgPool, id: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_by = NULL, locked_until = NULL
         WHERE digest_id = $1 AND status = 'failed'",
        id,
    )
    .execute(db)
    .await?
    .rows_affected())
}
