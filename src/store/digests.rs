//! Digests: a subject, its articles, their recipients (`store::chunks`), a delivery per recipient.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use crate::domain::DigestContent;
use crate::domain::{Article, BodyFormat, DigestList, DigestStatus, Segment};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Created {
    pub id: Uuid,
    /// Those confirmed when it started; 0 while it is scheduled.
    pub recipients: i64,
    /// `sending`, or `scheduled` with a `send_at`.
    pub status: DigestStatus,
    /// When a scheduled digest starts (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<DateTime<Utc>>,
    /// False when an earlier request with the same idempotency key made it.
    #[serde(skip)]
    pub new: bool,
}

/// Creates the digest. Without `send_at` it starts at once: its recipients, the subscribers
/// confirmed at this moment, are set down in the same transaction (in chunks of ids, one
/// statement whatever their number; each recipient's delivery row is written when their mail
/// has gone, see `store::chunks`). With `send_at` it waits, `scheduled`, for a worker to start it
/// ([`start_due`]).
pub async fn create(
    db: &PgPool,
    list: i32,
    segment: Option<&Segment>,
    subject: &str,
    articles: &[Uuid],
    idempotency_key: Option<&str>,
    send_at: Option<DateTime<Utc>>,
) -> sqlx::Result<Created> {
    let mut tx = db.begin().await?;
    if let Some(key) = idempotency_key {
        // Serialise requests that carry the same key, so two retries racing cannot both create.
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key).execute(&mut *tx).await?;
        if let Some(existing) = by_key(&mut tx, key).await? {
            return Ok(existing);
        }
    }
    let created = create_in(&mut tx, list, segment, subject, articles, idempotency_key, send_at).await?;
    tx.commit().await?;
    Ok(created)
}

/// [`create`] inside the caller's transaction (the scheduler's tick), without the idempotency check.
pub async fn create_in(
    tx: &mut PgConnection,
    list: i32,
    segment: Option<&Segment>,
    subject: &str,
    articles: &[Uuid],
    idempotency_key: Option<&str>,
    send_at: Option<DateTime<Utc>>,
) -> sqlx::Result<Created> {
    let id = Uuid::new_v4();
    let state = if send_at.is_some() { "scheduled" } else { "sending" };
    sqlx::query!(
        "INSERT INTO digests (id, subject, idempotency_key, recipients, state, send_at, started_at, list_id, segment)
         VALUES ($1, $2, $3, 0, $4, $5, CASE WHEN $4 = 'sending' THEN now() END, $6, $7)",
        id,
        subject,
        idempotency_key,
        state,
        send_at,
        list,
        segment.map(Segment::as_str),
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
    let (recipients, status) = match send_at {
        Some(_) => (0, DigestStatus::Scheduled),
        None => (queue_recipients(tx, id, list, segment).await?, DigestStatus::Sending),
    };
    Ok(Created { id, recipients, status, send_at, new: true })
}

/// The list's members confirmed now (those the segment matches, with one) become the digest's
/// recipients (in chunks, `store::chunks`), in the caller's transaction, with `digest.started` for
/// the webhook endpoints that want it.
async fn queue_recipients(tx: &mut PgConnection, id: Uuid, list: i32, segment: Option<&Segment>) -> sqlx::Result<i64> {
    let recipients = match segment {
        None => super::chunks::create(tx, id, list).await?,
        Some(segment) => {
            let resolved = super::segments::resolve(&mut *tx, segment).await?;
            super::segments::create_chunks(tx, id, list, &resolved).await?
        }
    };
    sqlx::query!(
        "WITH started AS (UPDATE digests SET recipients = $2 WHERE id = $1 RETURNING id, subject, recipients, started_at)
         INSERT INTO webhook_messages (endpoint_id, type, data)
         SELECT e.id, 'digest.started',
                jsonb_build_object('id', s.id, 'subject', s.subject, 'recipients', s.recipients, 'started_at', s.started_at)
         FROM started s JOIN webhook_endpoints e ON e.enabled AND 'digest.started' = ANY(e.events)",
        id,
        i32::try_from(recipients).unwrap_or(i32::MAX),
    )
    .execute(&mut *tx)
    .await?;
    Ok(recipients)
}

/// Starts the scheduled digest due longest ago (`send_at <= now`), if any: claims its row
/// (`FOR UPDATE SKIP LOCKED`, so workers never wait for each other), marks it `sending` and
/// sets down the subscribers confirmed now as its recipients, all in one transaction. A worker
/// that dies half-way leaves the row `scheduled` and nothing set down; the next one starts it.
/// Returns the digest and its recipients.
pub async fn start_due(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<Option<(Uuid, i64)>> {
    let mut tx = db.begin().await?;
    let Some(due) = sqlx::query!(
        "SELECT id, list_id, segment FROM digests WHERE state = 'scheduled' AND send_at <= $1
         ORDER BY send_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let id = due.id;
    sqlx::query!("UPDATE digests SET state = 'sending', started_at = now() WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let recipients = match due.segment.as_deref().map(Segment::parse) {
        None => queue_recipients(&mut tx, id, due.list_id, None).await?,
        Some(Ok(segment)) => queue_recipients(&mut tx, id, due.list_id, Some(&segment)).await?,
        // Only parsed segments are stored, so this is a segment a later version reads
        // differently: it goes to nobody rather than to the whole list.
        Some(Err(e)) => {
            tracing::error!(digest = %id, error = %e, "a scheduled digest's segment no longer parses; it goes to nobody");
            0
        }
    };
    tx.commit().await?;
    Ok(Some((id, recipients)))
}

/// How cancelling a digest went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    Cancelled,
    /// Already started (or sent): too late.
    Started,
    /// Cancelled before: nothing to do.
    AlreadyCancelled,
    NotFound,
}

/// Cancels a scheduled digest and gives its articles back to the next digest. The update waits
/// for a worker that is starting it right now and then finds it started.
pub async fn cancel(db: &PgPool, id: Uuid) -> sqlx::Result<Cancelled> {
    let mut tx = db.begin().await?;
    let done = sqlx::query!("UPDATE digests SET state = 'cancelled' WHERE id = $1 AND state = 'scheduled'", id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if done == 1 {
        sqlx::query!("DELETE FROM digest_articles WHERE digest_id = $1", id).execute(&mut *tx).await?;
        tx.commit().await?;
        return Ok(Cancelled::Cancelled);
    }
    let state = sqlx::query_scalar!("SELECT state FROM digests WHERE id = $1", id).fetch_optional(&mut *tx).await?;
    Ok(match state.as_deref() {
        None => Cancelled::NotFound,
        Some("cancelled") => Cancelled::AlreadyCancelled,
        Some(_) => Cancelled::Started,
    })
}

async fn by_key(tx: &mut PgConnection, key: &str) -> sqlx::Result<Option<Created>> {
    let row = sqlx::query!("SELECT id, recipients, state, send_at FROM digests WHERE idempotency_key = $1", key)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.map(|r| Created {
        id: r.id,
        recipients: i64::from(r.recipients),
        status: DigestStatus::from_state(&r.state, 1),
        send_at: r.send_at,
        new: false,
    }))
}

pub async fn by_idempotency_key(db: &PgPool, key: &str) -> sqlx::Result<Option<Created>> {
    let mut conn = db.acquire().await?;
    by_key(&mut conn, key).await
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Progress {
    pub id: Uuid,
    /// `scheduled` until it starts, `sending` while anything is pending, then `done`; or `cancelled`.
    pub status: DigestStatus,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    /// When a scheduled digest starts, or started.
    pub send_at: Option<DateTime<Utc>>,
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
        r#"SELECT d.id, d.subject, d.created_at, d.recipients, d.state, d.send_at,
                  count(*) FILTER (WHERE x.status = 'sent') AS "sent!",
                  count(*) FILTER (WHERE x.status = 'pending')
                    + (SELECT coalesce(sum(w.waiting), 0) FROM digest_chunks_waiting w WHERE w.digest_id = d.id)::int8
                    AS "pending!",
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
        status: DigestStatus::from_state(&r.state, r.pending),
        subject: r.subject,
        created_at: r.created_at,
        send_at: r.send_at,
        recipients: i64::from(r.recipients),
        sent: r.sent,
        pending: r.pending,
        failed: r.failed,
        skipped: r.skipped,
        bounced: r.bounced,
        complained: r.complained,
    }))
}

/// A digest's subject and articles in order: what its mail, its archive page and the archive's
/// feed show. The worker fetches it once per digest and caches the rendered view.
pub async fn content(db: &PgPool, id: Uuid) -> sqlx::Result<Option<DigestContent>> {
    let Some(digest) = sqlx::query!(
        "SELECT d.subject, l.slug, l.name FROM digests d JOIN lists l ON l.id = d.list_id WHERE d.id = $1",
        id,
    )
    .fetch_optional(db)
    .await?
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
    let list = Some(DigestList { slug: digest.slug, name: digest.name });
    Ok(Some(DigestContent { id: Some(id), subject: digest.subject, articles, list }))
}

/// The most recent digests with their counts, newest first.
pub async fn recent(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Progress>> {
    let rows = sqlx::query!(
        r#"SELECT d.id, d.subject, d.created_at, d.recipients, d.state, d.send_at,
                  count(x.id) FILTER (WHERE x.status = 'sent') AS "sent!",
                  count(x.id) FILTER (WHERE x.status = 'pending')
                    + (SELECT coalesce(sum(w.waiting), 0) FROM digest_chunks_waiting w WHERE w.digest_id = d.id)::int8
                    AS "pending!",
                  count(x.id) FILTER (WHERE x.status = 'failed') AS "failed!",
                  count(x.id) FILTER (WHERE x.status = 'skipped') AS "skipped!",
                  (SELECT count(*) FROM bounces b JOIN deliveries y ON y.id = b.delivery_id
                   WHERE y.digest_id = d.id AND b.kind = 'hard') AS "bounced!",
                  (SELECT count(*) FROM bounces b JOIN deliveries y ON y.id = b.delivery_id
                   WHERE y.digest_id = d.id AND b.kind = 'complaint') AS "complained!"
           FROM (SELECT * FROM digests ORDER BY created_at DESC LIMIT $1) d
           LEFT JOIN deliveries x ON x.digest_id = d.id
           GROUP BY d.id, d.subject, d.created_at, d.recipients, d.state, d.send_at
           ORDER BY d.created_at DESC"#,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Progress {
            id: r.id,
            status: DigestStatus::from_state(&r.state, r.pending),
            subject: r.subject,
            created_at: r.created_at,
            send_at: r.send_at,
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

/// A sent (or sending) digest as the public archive lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Archived {
    pub id: Uuid,
    pub subject: String,
    pub started_at: DateTime<Utc>,
    /// The list it went to: its slug and name.
    pub list_slug: String,
    pub list_name: String,
}

/// Started digests to public lists (to one list, with `list`), newest first, a page at a time,
/// and how many there are in all. Digests to private lists are never in the public archive.
pub async fn archive(db: &PgPool, list: Option<i32>, limit: i64, offset: i64) -> sqlx::Result<(Vec<Archived>, i64)> {
    let rows = sqlx::query_as!(
        Archived,
        r#"SELECT d.id, d.subject, d.started_at AS "started_at!", l.slug AS list_slug, l.name AS list_name
           FROM digests d JOIN lists l ON l.id = d.list_id
           WHERE d.state = 'sending' AND l.public AND ($1::int4 IS NULL OR d.list_id = $1)
           ORDER BY d.started_at DESC, d.id LIMIT $2 OFFSET $3"#,
        list,
        limit,
        offset,
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM digests d JOIN lists l ON l.id = d.list_id
           WHERE d.state = 'sending' AND l.public AND ($1::int4 IS NULL OR d.list_id = $1)"#,
        list,
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// One started digest to a public list for the archive; none while it is scheduled, after it was
/// cancelled, or when its list is private.
pub async fn archived(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Archived>> {
    sqlx::query_as!(
        Archived,
        r#"SELECT d.id, d.subject, d.started_at AS "started_at!", l.slug AS list_slug, l.name AS list_name
           FROM digests d JOIN lists l ON l.id = d.list_id
           WHERE d.id = $1 AND d.state = 'sending' AND l.public"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// Claims a tick of a list's schedule for the caller's transaction: false when it was handled
/// (or is being handled, the insert waits for that transaction) by someone else.
pub async fn claim_tick(tx: &mut PgConnection, list: i32, tick: DateTime<Utc>) -> sqlx::Result<bool> {
    let inserted =
        sqlx::query!("INSERT INTO digest_ticks (list_id, tick) VALUES ($1, $2) ON CONFLICT DO NOTHING", list, tick)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(inserted == 1)
}

/// Notes the digest a tick sent.
pub async fn tick_sent(tx: &mut PgConnection, list: i32, tick: DateTime<Utc>, digest: Uuid) -> sqlx::Result<()> {
    sqlx::query!("UPDATE digest_ticks SET digest_id = $3 WHERE list_id = $1 AND tick = $2", list, tick, digest)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A digest as a list's page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ListDigest {
    pub id: Uuid,
    pub subject: String,
    /// `scheduled` or `sending` (sending, or sent: its page tells which)
    pub state: String,
    pub recipients: i32,
    pub created_at: DateTime<Utc>,
    pub send_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
}

/// The newest digests to one list.
pub async fn recent_to_list(db: &PgPool, list: i32, limit: i64) -> sqlx::Result<Vec<ListDigest>> {
    sqlx::query_as!(
        ListDigest,
        r#"SELECT id, subject, state::text AS "state!", recipients, created_at, send_at, started_at
           FROM digests WHERE list_id = $1 ORDER BY created_at DESC, id LIMIT $2"#,
        list,
        limit,
    )
    .fetch_all(db)
    .await
}
