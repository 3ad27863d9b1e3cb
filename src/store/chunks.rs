//! A digest's recipients, in chunks leased to one worker at a time (see the migration
//! `digest_chunks`). A digest mail's delivery row is written once, with its outcome: the ids are
//! drawn from the table's sequence when the chunk is taken, so the VERP tag and the bounce
//! records name the row the outcome will create.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::deliveries::{Claimed, DeliveryKind, Outcome};
use crate::domain::{DeliveryStatus, SubscriberEmail, SubscriberStatus};

/// Recipients per chunk: a lease covers this many sends, and a worker that dies mid-chunk leaves
/// at most this many for the next one to look up (it sends only to those without a row).
pub const CHUNK: i64 = 256;

/// Splits the subscribers confirmed now into chunks of [`CHUNK`] for digest `id`, in the caller's
/// transaction, and returns how many recipients that is. One statement, whatever the list's size.
pub async fn create(tx: &mut PgConnection, digest: Uuid) -> sqlx::Result<i64> {
    let recipients = sqlx::query_scalar!(
        r#"WITH numbered AS (
               SELECT id, (row_number() OVER (ORDER BY id) - 1) / $2 AS chunk
               FROM subscribers WHERE status = 'confirmed'
           ),
           chunks AS (
               INSERT INTO digest_chunks (digest_id, recipients, size)
               SELECT $1, array_agg(id ORDER BY id), count(*)::int FROM numbered GROUP BY chunk ORDER BY chunk
               RETURNING size
           )
           SELECT coalesce(sum(size), 0)::int8 AS "n!" FROM chunks"#,
        digest,
        CHUNK,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(recipients)
}

/// A chunk this worker now holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leased {
    pub id: i64,
    pub digest: Uuid,
}

/// Leases the oldest open chunk nobody holds. The lease changes no indexed column.
pub async fn claim(db: &PgPool, worker: Uuid, lease_secs: f64) -> sqlx::Result<Option<Leased>> {
    let row = sqlx::query!(
        "UPDATE digest_chunks c
         SET locked_by = $1, locked_until = now() + make_interval(secs => $2), attempts = c.attempts + 1
         FROM (SELECT id FROM digest_chunks
               WHERE NOT done AND (locked_until IS NULL OR locked_until <= now())
               ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) open
         WHERE c.id = open.id
         RETURNING c.id, c.digest_id",
        worker,
        lease_secs,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Leased { id: r.id, digest: r.digest_id }))
}

/// The recipients of a leased chunk who have no delivery row for its digest yet (all of them,
/// unless an earlier holder got part of the way), each with the id its row will have. Subscribers
/// erased since the digest started are gone from the table, and from this list.
pub async fn recipients(db: &PgPool, chunk: Leased) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as!(
        Claimed,
        r#"SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) AS "id!",
                  'digest' AS "kind!: DeliveryKind", 1 AS "attempts!", s.id AS subscriber_id,
                  c.digest_id AS "digest_id?", s.email AS "email: SubscriberEmail", s.name,
                  s.status AS "status: SubscriberStatus", s.token_version
           FROM digest_chunks c CROSS JOIN LATERAL unnest(c.recipients) AS r(id)
           JOIN subscribers s ON s.id = r.id
           WHERE c.id = $1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.digest_id = c.digest_id AND d.subscriber_id = r.id)"#,
        chunk.id,
    )
    .fetch_all(db)
    .await
}

/// Extends the leases of chunks this worker holds; returns those renewed. A chunk locked right
/// now is skipped, not waited for: the only writer that locks it is our own counter update.
pub async fn renew(db: &PgPool, worker: Uuid, ids: &[i64], lease_secs: f64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "UPDATE digest_chunks c SET locked_until = now() + make_interval(secs => $3)
         FROM (SELECT id FROM digest_chunks WHERE id = ANY($1) AND locked_by = $2 FOR UPDATE SKIP LOCKED) mine
         WHERE c.id = mine.id RETURNING c.id",
        ids,
        worker,
        lease_secs,
    )
    .fetch_all(db)
    .await
}

/// Lets chunks go: `done` ones need nothing more (their list of ids goes: the delivery rows say who
/// got the digest); the others (sends handed back unstarted) go back to the queue at once, for
/// whoever claims them next to send what is left.
pub async fn release(db: &PgPool, worker: Uuid, ids: &[i64], done: &[bool]) -> sqlx::Result<u64> {
    let released = sqlx::query!(
        "UPDATE digest_chunks c
         SET done = c.done OR r.done, recipients = CASE WHEN r.done THEN '{}' ELSE c.recipients END,
             locked_by = NULL, locked_until = NULL, attempts = greatest(c.attempts - 1, 0)
         FROM unnest($1::bigint[], $3::bool[]) AS r(id, done)
         WHERE c.id = r.id AND c.locked_by = $2",
        ids,
        worker,
        done,
    )
    .execute(db)
    .await?;
    Ok(released.rows_affected())
}

/// The outcome of a send to a chunk's recipient, whose delivery row does not exist yet.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    pub id: i64,
    pub subscriber: Uuid,
    pub digest: Uuid,
}

/// What a batch of outcomes does to one chunk: `written` more rows, and whether that was the
/// chunk's last send (`finished`), and if so whether every recipient got a row (`done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub chunk: i64,
    pub written: i32,
    pub finished: bool,
    pub done: bool,
}

/// Writes the delivery rows of a batch of chunk sends, each with its outcome, in one statement. A
/// row that exists already (the chunk's lease was lost and the new holder wrote it first) is left
/// as it is. Retries become ordinary pending rows, which the delivery queue takes from there.
pub async fn record(conn: &mut PgConnection, results: &[(Fresh, Outcome)]) -> sqlx::Result<u64> {
    let n = results.len();
    let (mut ids, mut subscribers, mut digests) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut statuses, mut attempts, mut delays) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut errors, mut message_ids, mut bounced) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::new());
    for (fresh, outcome) in results {
        ids.push(fresh.id);
        subscribers.push(fresh.subscriber);
        digests.push(fresh.digest);
        let row = OutcomeRow::of(outcome);
        statuses.push(row.status);
        attempts.push(row.attempts);
        delays.push(row.delay);
        errors.push(row.error);
        message_ids.push(row.message_id);
        if matches!(outcome, Outcome::Bounced { .. }) {
            bounced.push(fresh.id);
        }
    }
    // A hard bounce at send time marks the subscriber in the same statement, as for queued rows.
    let inserted = sqlx::query_scalar!(
        r#"
        WITH inserted AS (
            INSERT INTO deliveries (id, kind, subscriber_id, digest_id, status, attempts, next_attempt_at,
                                    last_error, message_id, sent_at)
            OVERRIDING SYSTEM VALUE
            SELECT r.id, 'digest', r.subscriber, r.digest, r.status, r.attempts, now() + make_interval(secs => r.delay),
                   r.error, r.message_id, CASE WHEN r.status = 'sent' THEN now() END
            FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::delivery_status[], $5::int[], $6::float8[],
                        $7::text[], $8::text[]) AS r(id, subscriber, digest, status, attempts, delay, error, message_id)
            ON CONFLICT DO NOTHING
            RETURNING id, subscriber_id, last_error
        ),
        marked AS (
            UPDATE subscribers s SET status = 'bounced', updated_at = now()
            FROM inserted i
            WHERE i.id = ANY($9) AND s.id = i.subscriber_id AND s.status IN ('pending', 'confirmed')
        ),
        recorded AS (
            INSERT INTO bounces (subscriber_id, delivery_id, kind, status, diagnostic, source)
            SELECT subscriber_id, id, 'hard',
                   coalesce(substring(last_error FROM '\m[245]\.[0-9]{1,3}\.[0-9]{1,3}\M'), '5.0.0'), last_error, 'smtp'
            FROM inserted WHERE id = ANY($9)
        )
        SELECT count(*) AS "n!" FROM inserted
        "#,
        &ids,
        &subscribers,
        &digests,
        &statuses as &[DeliveryStatus],
        &attempts,
        &delays,
        &errors as &[Option<String>],
        &message_ids as &[Option<String>],
        &bounced,
    )
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(inserted).unwrap_or(0))
}

/// Adds a batch's rows to their chunks' counters, and lets go of the chunks it finished (a done
/// one drops its list of ids, as in [`release`]). A
/// statement of its own, after the rows': the chunk row stays locked only for this short update,
/// never for a long row write, so the renewals that keep the chunk's other sends leased meanwhile
/// are not held up (in one statement with the rows, a write slower than a lease let the lease run
/// out and another worker send part of the chunk again).
pub async fn count(conn: &mut PgConnection, worker: Uuid, chunks: &[Progress]) -> sqlx::Result<u64> {
    let chunk_ids: Vec<i64> = chunks.iter().map(|c| c.chunk).collect();
    let written: Vec<i32> = chunks.iter().map(|c| c.written).collect();
    let finished: Vec<bool> = chunks.iter().map(|c| c.finished).collect();
    let done: Vec<bool> = chunks.iter().map(|c| c.done).collect();
    let counted = sqlx::query!(
        "UPDATE digest_chunks c
         SET written = c.written + u.written,
             done = c.done OR u.done,
             recipients = CASE WHEN u.done THEN '{}' ELSE c.recipients END,
             locked_by = CASE WHEN u.finished THEN NULL ELSE c.locked_by END,
             locked_until = CASE WHEN u.finished THEN NULL ELSE c.locked_until END
         FROM unnest($1::bigint[], $2::int[], $3::bool[], $4::bool[]) AS u(id, written, finished, done)
         WHERE c.id = u.id AND c.locked_by = $5",
        &chunk_ids,
        &written,
        &finished,
        &done,
        worker,
    )
    .execute(conn)
    .await?;
    Ok(counted.rows_affected())
}

/// How an outcome reads as a new delivery row.
struct OutcomeRow {
    status: DeliveryStatus,
    /// Attempts made: this one, unless the server was never reached.
    attempts: i32,
    delay: f64,
    error: Option<String>,
    message_id: Option<String>,
}

impl OutcomeRow {
    fn of(outcome: &Outcome) -> Self {
        let row = |status, attempts, delay, error: Option<&str>| OutcomeRow {
            status,
            attempts,
            delay,
            error: error.map(str::to_owned),
            message_id: None,
        };
        match outcome {
            Outcome::Sent { message_id } => {
                OutcomeRow { message_id: Some(message_id.clone()), ..row(DeliveryStatus::Sent, 1, 0.0, None) }
            }
            Outcome::Retry { error, after_secs } => row(DeliveryStatus::Pending, 1, *after_secs, Some(error)),
            Outcome::Postponed { error, after_secs } => row(DeliveryStatus::Pending, 0, *after_secs, Some(error)),
            Outcome::Failed { error } | Outcome::Bounced { error } => row(DeliveryStatus::Failed, 1, 0.0, Some(error)),
            Outcome::Skipped { reason } => row(DeliveryStatus::Skipped, 0, 0.0, Some(reason)),
        }
    }
}
