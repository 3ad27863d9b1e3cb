//! The delivery queue: one row per outgoing message.
//!
//! Rows are claimed in batches with `FOR UPDATE SKIP LOCKED` through the partial index of pending
//! rows. A claim leases the row to one worker (`locked_by`, `locked_until`) and changes no
//! indexed column, so on the free space the table keeps in each page (fill factor 60) Postgres
//! writes it, and each lease renewal, as a heap-only update: no new index entries. Measured on
//! 100k queued rows, claim plus outcome per 128-row batch: 7.7 ms with the claim moving
//! `next_attempt_at` (indexed), 5.6 ms without it at fill factor 60 (7.5 and 7.3 ms with only one
//! of the two). The claim scan skips leased rows by `locked_until` (at most the rows in flight,
//! a few hundred per worker), and a crashed worker's rows become claimable when their leases
//! end. Results are written back in batches, and only by the worker that still holds the lease;
//! while a worker holds rows it renews their leases, so a row whose outcome is still on its way
//! to the table is never claimed by another worker.
//!
//! Statements that touch claimed rows find them by primary key, whatever the statistics say. With
//! `status = 'pending'` in the outcome write, the planner matched the partial index
//! `deliveries_due` and, before the table was analysed after a burst, scanned every pending row
//! for each batch (measured: 1–2.6 s per 500 rows). Without it, it still chose a sequential scan
//! of the whole table up to a few hundred thousand rows (30 ms a batch at 60k). So these
//! statements test `locked_by` only (a row holds one only while pending: claims set it, outcomes
//! and hand-backs clear it) and run with sequential scans and hash/merge joins off (renewals for
//! their transaction, `by_primary_key`; outcome writes for the recorder's whole connection,
//! `OutcomeWriter`), leaving one plan: a primary-key lookup per row (7 ms per 500 rows, the same
//! at 60k and 1M pending).

use sqlx::{ConnectOptions as _, Connection as _, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{DeliveryStatus, SubscriberEmail, SubscriberStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "delivery_kind", rename_all = "lowercase")]
pub enum DeliveryKind {
    Confirmation,
    Digest,
    /// After confirming (`subscriptions.welcome`).
    Welcome,
    /// The one reminder to confirm (`subscriptions.reminder_after_hours`), with a fresh link.
    Reminder,
}

impl DeliveryKind {
    /// Whether a message of this kind is still wanted for a subscriber of this status when its
    /// turn comes: a reminder only while pending, a digest or welcome only while confirmed, a
    /// confirmation while pending or confirmed (a confirmed address that asked to join a
    /// double-opt-in list confirms it with the link).
    pub fn wanted_for(self, status: SubscriberStatus) -> bool {
        match self {
            Self::Confirmation => matches!(status, SubscriberStatus::Pending | SubscriberStatus::Confirmed),
            Self::Reminder => status == SubscriberStatus::Pending,
            Self::Digest | Self::Welcome => status == SubscriberStatus::Confirmed,
        }
    }

    /// Whether the message carries a confirmation link.
    pub fn confirms(self) -> bool {
        matches!(self, Self::Confirmation | Self::Reminder)
    }
}

/// A delivery this worker now holds, with what it needs to render the message.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub kind: DeliveryKind,
    pub attempts: i32,
    pub subscriber_id: Uuid,
    pub digest_id: Option<Uuid>,
    pub email: SubscriberEmail,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    /// The subscriber's `token_version`, which a confirmation link carries.
    pub token_version: i32,
    /// The subscriber's attributes as JSON text, which digest templates may show
    /// (`subscriber.attributes.KEY`); `None` where the sender did not read them.
    pub attributes: Option<String>,
    /// The subscriber's language; `None`: the configured default.
    pub locale: Option<String>,
}

pub async fn claim(db: &PgPool, worker: Uuid, limit: i64, lease_secs: f64) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as!(
        Claimed,
        r#"
        WITH due AS (
            SELECT id FROM deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()
              AND (locked_until IS NULL OR locked_until <= now())
            ORDER BY next_attempt_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE deliveries d
        SET locked_by = $2,
            locked_until = now() + make_interval(secs => $3),
            attempts = d.attempts + 1
        FROM due, subscribers s
        WHERE d.id = due.id AND s.id = d.subscriber_id
        RETURNING d.id, d.kind AS "kind: DeliveryKind", d.attempts, d.subscriber_id, d.digest_id,
                  s.email AS "email: SubscriberEmail", s.name, s.status AS "status: SubscriberStatus",
                  s.token_version, s.attributes::text AS attributes, s.locale
        "#,
        limit,
        worker,
        lease_secs,
    )
    .fetch_all(db)
    .await
}

/// How long until the next pending row comes due (zero if one is due now), if any is pending.
/// A leased row comes due when its lease ends. Only the first rows of the pending index are
/// read, so the answer costs the same whatever the backlog; should all of them be leased, it may
/// be later than the truth, and the claimer's one-second poll covers that.
pub async fn next_due_in(db: &PgPool) -> sqlx::Result<Option<f64>> {
    sqlx::query_scalar!(
        r#"SELECT greatest(extract(epoch FROM min(greatest(next_attempt_at, coalesce(locked_until, next_attempt_at))) - now()), 0)::float8 AS "secs"
           FROM (SELECT next_attempt_at, locked_until FROM deliveries WHERE status = 'pending'
                 ORDER BY next_attempt_at LIMIT 1000) head"#
    )
    .fetch_one(db)
    .await
}

/// How one claimed delivery ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        message_id: String,
    },
    /// Try again after this many seconds.
    Retry {
        error: String,
        after_secs: f64,
    },
    /// The mail server was unreachable: try again after this many seconds, and do not count
    /// this attempt (the message was never offered).
    Postponed {
        error: String,
        after_secs: f64,
    },
    Failed {
        error: String,
    },
    /// The recipient's server refused them for good (5xx to RCPT or to the message): the
    /// delivery fails and the subscriber becomes `bounced`, in the same write.
    Bounced {
        error: String,
    },
    /// Nothing to send any more (the subscriber left, or already confirmed).
    Skipped {
        reason: &'static str,
    },
}

/// The recorder's own connection, outside the pool, with the planner held to primary-key
/// lookups (see the module documentation) for its whole session: the settings travel in the
/// startup packet, so each batch of outcomes costs one statement and one round trip, where a
/// pooled connection needed four (BEGIN, the settings, the write, COMMIT). At a trickle of
/// signups, a batch is one or two rows, and those round trips were most of its cost.
pub struct OutcomeWriter {
    pub(super) conn: PgConnection,
}

impl OutcomeWriter {
    pub async fn connect(db: &PgPool) -> sqlx::Result<Self> {
        let options = (*db.connect_options()).clone().options(PRIMARY_KEY_ONLY);
        Ok(Self { conn: options.connect().await? })
    }

    /// Writes a batch of outcomes in one statement. Rows whose lease another worker has taken
    /// over are left alone: that worker now owns them.
    pub async fn record(&mut self, worker: Uuid, results: &[(i64, Outcome)]) -> sqlx::Result<u64> {
        record(&mut self.conn, worker, results).await
    }

    pub async fn close(self) -> sqlx::Result<()> {
        self.conn.close().await
    }
}

/// Planner settings that leave a batch of ids one plan, a primary-key lookup per row. JIT goes
/// off too: "off" only prices the other plans out (at 1e10), and a price that high would make
/// any plan look worth compiling.
const PRIMARY_KEY_ONLY: [(&str, &str); 4] =
    [("enable_seqscan", "off"), ("enable_hashjoin", "off"), ("enable_mergejoin", "off"), ("jit", "off")];

async fn record(conn: &mut PgConnection, worker: Uuid, results: &[(i64, Outcome)]) -> sqlx::Result<u64> {
    if results.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(results.len());
    let mut statuses = Vec::with_capacity(results.len());
    let mut errors = Vec::with_capacity(results.len());
    let mut message_ids = Vec::with_capacity(results.len());
    let mut delays = Vec::with_capacity(results.len());
    let mut uncounted = Vec::with_capacity(results.len());
    let mut bounced = Vec::with_capacity(results.len());
    for (id, outcome) in results {
        ids.push(*id);
        uncounted.push(matches!(outcome, Outcome::Postponed { .. }));
        bounced.push(matches!(outcome, Outcome::Bounced { .. }));
        let row = OutcomeRow::of(outcome);
        statuses.push(row.status);
        errors.push(row.error);
        message_ids.push(row.message_id);
        delays.push(row.delay);
    }
    // A hard bounce at send time changes the subscriber in the same statement as the outcome.
    let done = sqlx::query_scalar!(
        r#"
        WITH done AS (
            UPDATE deliveries d
            SET status = r.status,
                last_error = coalesce(r.error, d.last_error),
                message_id = coalesce(r.message_id, d.message_id),
                sent_at = CASE WHEN r.status = 'sent' THEN now() ELSE d.sent_at END,
                next_attempt_at = now() + make_interval(secs => r.delay),
                attempts = CASE WHEN r.uncounted THEN greatest(d.attempts - 1, 0) ELSE d.attempts END,
                locked_by = NULL,
                locked_until = NULL
            FROM unnest($1::bigint[], $2::delivery_status[], $3::text[], $4::text[], $5::float8[], $7::bool[],
                        $8::bool[])
                 AS r(id, status, error, message_id, delay, uncounted, bounced)
            WHERE d.id = r.id AND d.locked_by = $6
            RETURNING d.id, d.subscriber_id, r.bounced, r.error
        ),
        marked AS (
            UPDATE subscribers s SET status = 'bounced', updated_at = now()
            FROM done
            WHERE done.bounced AND s.id = done.subscriber_id AND s.status IN ('pending', 'confirmed')
            RETURNING s.id, s.email, s.name, s.status
        ),
        events AS (
            INSERT INTO webhook_messages (endpoint_id, type, data)
            SELECT e.id, 'subscriber.bounced', jsonb_build_object('id', m.id, 'email', m.email, 'name', m.name,
                                                                  'status', m.status, 'kind', 'hard', 'source', 'smtp')
            FROM marked m JOIN webhook_endpoints e ON e.enabled AND 'subscriber.bounced' = ANY(e.events)
        ),
        recorded AS (
            INSERT INTO bounces (subscriber_id, delivery_id, kind, status, diagnostic, source)
            SELECT subscriber_id, id, 'hard',
                   coalesce(substring(error FROM '\m[245]\.[0-9]{1,3}\.[0-9]{1,3}\M'), '5.0.0'), error, 'smtp'
            FROM done WHERE bounced
        )
        SELECT count(*) AS "n!" FROM done
        "#,
        &ids,
        &statuses as &[DeliveryStatus],
        &errors as &[Option<String>],
        &message_ids as &[Option<String>],
        &delays,
        worker,
        &uncounted,
        &bounced,
    )
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(done).unwrap_or(0))
}

/// How an outcome reads as a delivery row: the same for a queued row's update and for a digest
/// chunk send's insert (`store::chunks`).
pub(super) struct OutcomeRow {
    pub status: DeliveryStatus,
    /// Whether the attempt counts: not when the server was never reached, nor for a skip.
    pub attempted: bool,
    /// Seconds until the next try (a retry).
    pub delay: f64,
    pub error: Option<String>,
    pub message_id: Option<String>,
}

impl OutcomeRow {
    pub(super) fn of(outcome: &Outcome) -> Self {
        let row = |status, attempted, delay, error: Option<&str>| OutcomeRow {
            status,
            attempted,
            delay,
            error: error.map(str::to_owned),
            message_id: None,
        };
        match outcome {
            Outcome::Sent { message_id } => {
                OutcomeRow { message_id: Some(message_id.clone()), ..row(DeliveryStatus::Sent, true, 0.0, None) }
            }
            Outcome::Retry { error, after_secs } => row(DeliveryStatus::Pending, true, *after_secs, Some(error)),
            Outcome::Postponed { error, after_secs } => row(DeliveryStatus::Pending, false, *after_secs, Some(error)),
            Outcome::Failed { error } | Outcome::Bounced { error } => {
                row(DeliveryStatus::Failed, true, 0.0, Some(error))
            }
            Outcome::Skipped { reason } => row(DeliveryStatus::Skipped, false, 0.0, Some(reason)),
        }
    }
}

/// For the rest of the transaction, [`PRIMARY_KEY_ONLY`]: the planner may reach rows only
/// through an index and join only by nested loop (see the module documentation for why it must
/// not choose).
async fn by_primary_key(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT set_config('enable_seqscan', 'off', true) AS seqscan, set_config('enable_hashjoin', 'off', true) AS hashjoin,
                set_config('enable_mergejoin', 'off', true) AS mergejoin, set_config('jit', 'off', true) AS jit"
    )
    .fetch_one(tx)
    .await?;
    Ok(())
}

/// Hands back rows this worker claimed but never started (shutdown), without counting an attempt.
pub async fn release(db: &PgPool, worker: Uuid, ids: &[i64]) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE deliveries
         SET locked_by = NULL, locked_until = NULL, next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
         WHERE id = ANY($1) AND locked_by = $2",
        ids,
        worker,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Extends the leases of rows this worker still holds (waiting for a send slot, being sent, or
/// waiting for their outcome to be written) and returns the ids renewed. Rows locked right now
/// are skipped rather than waited for: the only writer that locks our rows is our own outcome
/// write, which is about to settle them.
pub async fn renew(db: &PgPool, worker: Uuid, ids: &[i64], lease_secs: f64) -> sqlx::Result<Vec<i64>> {
    let mut tx = db.begin().await?;
    by_primary_key(&mut tx).await?;
    let renewed = sqlx::query_scalar!(
        "UPDATE deliveries d
         SET locked_until = now() + make_interval(secs => $3)
         FROM (SELECT id FROM deliveries WHERE id = ANY($1) AND locked_by = $2 FOR UPDATE SKIP LOCKED) mine
         WHERE d.id = mine.id
         RETURNING d.id",
        ids,
        worker,
        lease_secs,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(renewed)
}

/// Refreshes the queue's statistics. Analysing samples a fixed number of rows (under a second for
/// a million); it waits at most a second for its lock (another analyse or a vacuum running is
/// just as good), and failing is harmless: autovacuum analyses too, only later.
pub async fn analyze(db: &PgPool) {
    let analyzed = async {
        let mut tx = db.begin().await?;
        sqlx::query("SET LOCAL lock_timeout = '1s'").execute(&mut *tx).await?;
        sqlx::query("ANALYZE deliveries").execute(&mut *tx).await?;
        tx.commit().await
    };
    if let Err(e) = analyzed.await {
        tracing::info!(error = %e, "analysing the delivery queue failed; autovacuum will");
    }
}

/// What the statistics collector says about the queue table.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueHealth {
    /// Rows changed since the statistics were last gathered.
    pub changed: i64,
    /// The row count the planner's statistics assume (zero if never analysed).
    pub assumed_rows: f64,
    pub live: i64,
    pub dead: i64,
}

pub async fn health(db: &PgPool) -> sqlx::Result<QueueHealth> {
    let row = sqlx::query!(
        r#"SELECT s.n_mod_since_analyze AS "changed!", greatest(c.reltuples, 0)::float8 AS "rows!",
                  s.n_live_tup AS "live!", s.n_dead_tup AS "dead!"
           FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
           WHERE s.relname = 'deliveries'"#
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map_or_else(QueueHealth::default, |r| QueueHealth {
        changed: r.changed,
        assumed_rows: r.rows,
        live: r.live,
        dead: r.dead,
    }))
}

/// Reclaims the queue's dead rows. `VACUUM` cannot run in a transaction, so the lock timeout is
/// set on the session (one connection, reset afterwards); it does not block inserts or updates.
pub async fn vacuum(db: &PgPool) {
    if let Err(e) = vacuum_with_timeout(db).await {
        tracing::info!(error = %e, "vacuuming the delivery queue failed; autovacuum will");
    }
}

async fn vacuum_with_timeout(db: &PgPool) -> sqlx::Result<()> {
    let mut conn = db.acquire().await?;
    sqlx::query("SET lock_timeout = '1s'").execute(&mut *conn).await?;
    let done = sqlx::query("VACUUM deliveries").execute(&mut *conn).await;
    sqlx::query("RESET lock_timeout").execute(&mut *conn).await?;
    done.map(|_| ())
}
