//! The webhook queue: one row per event and endpoint that asked for it, written by the statement
//! or transaction that makes the change (`signups`, `subscribers`, `tokens`, `bounces`,
//! `deliveries`, `chunks`, `digests`), and claimed, sent and recorded by the worker's webhook
//! chore. Every writer joins `webhook_endpoints` on the event's type, so with no endpoint that
//! wants the event nothing is written: the join over an empty (or small) table is the only cost.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::webhooks::ATTEMPTS_KEPT;

/// A message leased to a worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub endpoint_id: Uuid,
    /// `webhook-id`: the same on every try.
    pub msg_id: Uuid,
    pub event_type: String,
    /// The event's `data`, JSON text.
    pub data: String,
    pub created_at: DateTime<Utc>,
    /// Tries so far, this one included.
    pub attempts: i32,
    pub url: String,
    pub secret: String,
}

/// Claims up to `limit` due messages (`FOR UPDATE SKIP LOCKED`, so workers never wait for each
/// other) of enabled endpoints, leasing them for `lease_secs`, and no more of one endpoint than
/// `per_endpoint` less what it has in flight (`used`, by `endpoints`): one endpoint with a large
/// backlog, or one that hangs, cannot take every slot.
pub async fn claim(
    db: &PgPool,
    limit: i64,
    lease_secs: f64,
    per_endpoint: i64,
    endpoints: &[Uuid],
    used: &[i64],
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as!(
        Claimed,
        r#"
        WITH used AS (SELECT * FROM unnest($4::uuid[], $5::bigint[]) AS u(endpoint_id, n)),
        -- The first due rows, numbered per endpoint (window functions cannot take row locks, so
        -- the rows are locked below, by id).
        candidates AS (
            SELECT c.id, row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS rank,
                   $3::bigint - coalesce(u.n, 0) AS room
            FROM (SELECT m.id, m.endpoint_id, m.next_attempt_at FROM webhook_messages m
                  WHERE m.status = 'pending' AND m.next_attempt_at <= now()
                    AND (m.locked_until IS NULL OR m.locked_until <= now())
                    -- An endpoint at its share is left out before the limit: a backlog of its
                    -- rows must not fill the window and starve the others.
                    AND NOT EXISTS (SELECT 1 FROM used u WHERE u.endpoint_id = m.endpoint_id AND u.n >= $3)
                  ORDER BY m.next_attempt_at
                  LIMIT $1::bigint * 8) c
            LEFT JOIN used u ON u.endpoint_id = c.endpoint_id
        ),
        due AS (
            SELECT m.id FROM webhook_messages m JOIN candidates c ON c.id = m.id
            WHERE c.rank <= c.room AND m.status = 'pending'
              AND (m.locked_until IS NULL OR m.locked_until <= now())
            ORDER BY m.next_attempt_at
            LIMIT $1
            FOR UPDATE OF m SKIP LOCKED
        )
        UPDATE webhook_messages m
        SET locked_until = now() + make_interval(secs => $2), attempts = m.attempts + 1
        FROM due, webhook_endpoints e
        WHERE m.id = due.id AND e.id = m.endpoint_id AND e.enabled
        RETURNING m.id, m.endpoint_id, m.msg_id, m.type AS event_type, m.data::text AS "data!", m.created_at,
                  m.attempts, e.url, e.secret
        "#,
        limit,
        lease_secs,
        per_endpoint,
        endpoints,
        used,
    )
    .fetch_all(db)
    .await
}

/// How a try went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 2xx.
    Delivered,
    /// Tried again this many seconds from now.
    Retry { delay_secs: f64 },
    /// Given up: out of time, or the endpoint is gone.
    Failed,
    /// `410 Gone`: the message fails and the endpoint is disabled.
    Gone,
}

/// One try, for the record.
#[derive(Debug, Clone)]
pub struct Tried {
    pub id: i64,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub millis: i32,
    pub outcome: Outcome,
}

/// Writes a batch of tries in one statement: each message's new state, and an attempt row for
/// the console for the newest [`ATTEMPTS_KEPT`] of each endpoint's (older ones would be trimmed
/// unread). Endpoints that answered 410 are disabled, with their pending messages failed, by a
/// statement of its own that runs only when one did. bench/run, signups with an endpoint
/// (`pg_stat_statements`, 60k events): 11.5k attempt rows instead of 58k, and 1,700 pages a batch
/// instead of 2,200.
pub async fn record(db: &PgPool, tried: &[Tried]) -> sqlx::Result<()> {
    if tried.is_empty() {
        return Ok(());
    }
    let n = tried.len();
    let (mut ids, mut statuses, mut errors, mut delays) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for t in tried {
        let (status, delay) = match t.outcome {
            Outcome::Delivered => ("delivered", 0.0),
            Outcome::Retry { delay_secs } => ("pending", delay_secs),
            Outcome::Failed | Outcome::Gone => ("failed", 0.0),
        };
        ids.push(t.id);
        statuses.push(status.to_owned());
        errors.push(t.error.clone());
        delays.push(delay);
    }
    // The newest tries come last; an endpoint's older ones beyond what is kept are not written.
    let mut per_endpoint: HashMap<Uuid, i64> = HashMap::new();
    let mut shown: Vec<&Tried> = tried
        .iter()
        .rev()
        .filter(|t| {
            let seen = per_endpoint.entry(t.endpoint_id).or_default();
            *seen += 1;
            *seen <= ATTEMPTS_KEPT
        })
        .collect();
    shown.reverse();
    let a_ids: Vec<i64> = shown.iter().map(|t| t.id).collect();
    let a_endpoints: Vec<Uuid> = shown.iter().map(|t| t.endpoint_id).collect();
    let a_types: Vec<String> = shown.iter().map(|t| t.event_type.clone()).collect();
    let a_codes: Vec<Option<i32>> = shown.iter().map(|t| t.status_code).collect();
    let a_errors: Vec<Option<String>> = shown.iter().map(|t| t.error.clone()).collect();
    let a_millis: Vec<i32> = shown.iter().map(|t| t.millis).collect();
    sqlx::query!(
        r#"
        WITH updated AS (
            UPDATE webhook_messages m
            SET status = r.status, last_error = r.error, locked_until = NULL,
                next_attempt_at = now() + make_interval(secs => r.delay)
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[]) AS r(id, status, error, delay)
            WHERE m.id = r.id
        )
        INSERT INTO webhook_attempts (endpoint_id, message_id, type, status_code, error, millis)
        SELECT a.endpoint_id, a.id, a.type, a.status_code, a.error, a.millis
        FROM unnest($5::bigint[], $6::uuid[], $7::text[], $8::int[], $9::text[], $10::int[])
            WITH ORDINALITY AS a(id, endpoint_id, type, status_code, error, millis, n)
        -- An endpoint deleted meanwhile has no attempts to show.
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = a.endpoint_id)
        -- In the order they ended: the console shows the newest (highest ids) first.
        ORDER BY a.n
        "#,
        &ids,
        &statuses,
        &errors as &[Option<String>],
        &delays,
        &a_ids,
        &a_endpoints,
        &a_types,
        &a_codes as &[Option<i32>],
        &a_errors as &[Option<String>],
        &a_millis,
    )
    .execute(db)
    .await?;
    let gone: Vec<Uuid> = tried.iter().filter(|t| t.outcome == Outcome::Gone).map(|t| t.endpoint_id).collect();
    if !gone.is_empty() {
        disable_gone(db, &gone).await?;
    }
    Ok(())
}

/// Endpoints that answered `410 Gone` are disabled, and their pending messages failed.
async fn disable_gone(db: &PgPool, endpoints: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        WITH disabled AS (
            UPDATE webhook_endpoints e
            SET enabled = false, disabled_reason = 'the endpoint answered 410 Gone at ' || now()::text
            WHERE e.enabled AND e.id = ANY($1)
            RETURNING e.id
        )
        UPDATE webhook_messages m SET status = 'failed', last_error = 'the endpoint was disabled (410 Gone)',
                                      locked_until = NULL
        FROM disabled WHERE m.endpoint_id = disabled.id AND m.status = 'pending'
        "#,
        endpoints,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Gives leased messages back (a stopping worker's unsent ones), without spending a try.
pub async fn release(db: &PgPool, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE webhook_messages SET locked_until = NULL, attempts = greatest(attempts - 1, 0)
         WHERE id = ANY($1) AND status = 'pending'",
        ids,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Housekeeping: each endpoint's attempts beyond the newest `keep`, and settled messages older
/// than `days`, go.
pub async fn trim(db: &PgPool, keep: i64, days: f64) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM webhook_attempts a
         USING (SELECT e.id, (SELECT x.id FROM webhook_attempts x WHERE x.endpoint_id = e.id
                              ORDER BY x.id DESC OFFSET $1 LIMIT 1) AS oldest_gone
                FROM webhook_endpoints e) cut
         WHERE a.endpoint_id = cut.id AND a.id <= cut.oldest_gone",
        keep,
    )
    .execute(db)
    .await?;
    sqlx::query!(
        "DELETE FROM webhook_messages WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1::float8 * 86400)",
        days,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `digest.finished`: every started digest with no open chunk and no pending delivery is marked
/// finished, with its event, in one statement. Returns how many finished.
pub async fn finish_digests(db: &PgPool) -> sqlx::Result<u64> {
    let finished = sqlx::query_scalar!(
        r#"
        WITH finished AS (
            UPDATE digests g SET finished_at = now()
            WHERE g.state = 'sending' AND g.finished_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM digest_chunks c WHERE c.digest_id = g.id AND NOT c.done)
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.digest_id = g.id AND d.status = 'pending')
            RETURNING g.id, g.subject, g.recipients
        ),
        counted AS (
            SELECT f.id, f.subject, f.recipients,
                   count(d.id) FILTER (WHERE d.status = 'sent') AS sent,
                   count(d.id) FILTER (WHERE d.status = 'failed') AS failed,
                   count(d.id) FILTER (WHERE d.status = 'skipped') AS skipped
            FROM finished f LEFT JOIN deliveries d ON d.digest_id = f.id
            GROUP BY f.id, f.subject, f.recipients
        ),
        events AS (
            INSERT INTO webhook_messages (endpoint_id, type, data)
            SELECT e.id, 'digest.finished',
                   jsonb_build_object('id', c.id, 'subject', c.subject, 'recipients', c.recipients,
                                      'sent', c.sent, 'failed', c.failed, 'skipped', c.skipped)
            FROM counted c JOIN webhook_endpoints e ON e.enabled AND 'digest.finished' = ANY(e.events)
        )
        SELECT count(*) AS "n!" FROM finished
        "#,
    )
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(finished).unwrap_or(0))
}
