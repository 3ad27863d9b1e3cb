//! Writes delivery outcomes to the queue table in batches.
//!
//! Outcomes reach the recorder through a bounded channel. When writes fall behind, the channel
//! fills, finished sends wait to hand in their outcome while still holding their send slot, the
//! send loop finds no free slot, the queue to it fills, and the claimer stops claiming: a slow
//! database slows sending down instead of piling up sent-but-unrecorded rows. Until its outcome
//! is written a row stays held, its lease renewed (see `leases`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, mpsc};

use super::TIMING;
use super::leases::{Leases, Settled};
use crate::store::chunks::{Finished, Fresh};
use crate::store::deliveries::{Outcome, OutcomeWriter};
use crate::store::retry;

/// At most this many outcomes go into one write.
pub const FLUSH_AT: usize = 500;
/// Failed writes are retried this often (the database may be restarting, ~50 s in all) before
/// the rows are let go, for their leases to run out and bring them back.
const TRIES: u32 = 20;

/// Batches smaller than this wait up to [`GATHER`] for more outcomes before they are written.
/// Confirmations at a steady signup rate are such a trickle: nothing waits on their outcome, and
/// waiting 5 ms rather than 2 ms (and up to 32 rather than 16) cut the transactions Postgres
/// commits per signup from 0.37 to 0.32 and its CPU per signup by a tenth (bench/run, 8
/// connections, two alternating pairs).
const TRICKLE: usize = 32;
const GATHER: Duration = Duration::from_millis(5);
/// Batches that arrive faster than a trickle (a digest) wait up to [`BULK_GATHER`] to reach this
/// size (or the outcome channel's, if smaller): a write's fixed cost (planning, commit, round
/// trip) is about that of 40 rows, and written as soon as they arrived, a digest's batches stayed
/// near 36 rows at 21,000 messages a second.
const BULK: usize = 160;
const BULK_GATHER: Duration = Duration::from_millis(5);

pub type Outcomes = mpsc::Sender<(i64, Outcome)>;

/// Collects outcomes and writes them in batches. There is no timer: each write takes whatever
/// arrived while the previous one ran, so batches grow with the send rate while an outcome waits
/// at most one write (a few ms) when the database keeps up.
pub async fn run(
    db: PgPool,
    worker: uuid::Uuid,
    mut received: mpsc::Receiver<(i64, Outcome)>,
    leases: Arc<Leases>,
    wake: Arc<Notify>,
) {
    let mut pending: Vec<(i64, Outcome)> = Vec::with_capacity(FLUSH_AT);
    // Opened at the first write and again after a failed one (the database may have restarted).
    let mut writer: Option<OutcomeWriter> = None;
    // No more than the channel holds: what is sent but unrecorded stays within the bound that
    // the channel's size sets (see the module documentation).
    let bulk = BULK.min(received.max_capacity());
    while received.recv_many(&mut pending, FLUSH_AT).await > 0 {
        // A trickle (confirmations at a steady signup rate) would cost a statement per row or
        // two: give more outcomes a moment to arrive. Faster ones (a digest) wait a little longer
        // for a fuller batch.
        if pending.len() < TRICKLE {
            gather(&mut received, &mut pending, TRICKLE, GATHER).await;
        } else if pending.len() < bulk {
            gather(&mut received, &mut pending, bulk, BULK_GATHER).await;
        }
        // Sends to a digest chunk's recipients become rows now; the rest are rows already.
        let ids: Vec<i64> = pending.iter().map(|(id, _)| *id).collect();
        let Settled { queued, fresh, finished } = leases.settle(pending.drain(..));
        let mut batch = Batch { queued, fresh, finished, fresh_written: false };
        let mut tries = 0;
        loop {
            let started = Instant::now();
            let written = batch_write(&db, &mut writer, worker, &mut batch).await;
            match written {
                Ok(()) => {
                    tracing::debug!(
                        target: TIMING,
                        record_ms = started.elapsed().as_secs_f64() * 1e3,
                        rows = ids.len(),
                        "recorded"
                    );
                    // A retry may now be due sooner than the claim loop's nap: let it look again.
                    if batch.outcomes().any(|o| matches!(o, Outcome::Retry { .. })) {
                        wake.notify_one();
                    }
                    break;
                }
                // The recorder's connection found dead (a restart of Postgres): at once, on a
                // fresh one. Safe if the first write committed unanswered: an outcome is written
                // only to a row still leased to this worker, and a chunk send's row only once.
                Err(e) if tries == 0 && retry::is_dead_connection(&e) => {
                    tries += 1;
                    retry::saw_dead_connection();
                    tracing::info!(error = %e, rows = ids.len(), "the outcome writer's connection was dead; writing again on a fresh one");
                }
                Err(e) if tries < TRIES => {
                    tries += 1;
                    tracing::warn!(error = %e, rows = ids.len(), "recording delivery outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(tries))).await;
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        rows = ids.len(),
                        "giving up recording outcomes; their leases will return the rows (sent ones go out again)"
                    );
                    // A digest chunk with sends of this batch must not be marked done by a later
                    // batch: these recipients have no row, and one whose send failed would
                    // never get the digest. Let go of it undone instead, for the next holder.
                    if !batch.fresh_written {
                        leases.unrecorded(batch.fresh.iter().map(|(f, _)| f.id));
                    }
                    break;
                }
            }
        }
        leases.let_go(ids);
    }
    if let Some(writer) = writer {
        let _ = writer.close().await;
    }
}

/// Adds outcomes to `pending` until it holds `size` of them or `within` has passed.
async fn gather(
    received: &mut mpsc::Receiver<(i64, Outcome)>,
    pending: &mut Vec<(i64, Outcome)>,
    size: usize,
    within: Duration,
) {
    let _ = tokio::time::timeout(within, async {
        while pending.len() < size {
            let room = size - pending.len();
            if received.recv_many(pending, room).await == 0 {
                break;
            }
        }
    })
    .await;
}

/// One batch of outcomes: for rows already in the queue, and for digest chunk sends, whose rows
/// are written now (with their chunks' counters).
struct Batch {
    queued: Vec<(i64, Outcome)>,
    fresh: Vec<(Fresh, Outcome)>,
    /// Chunks whose last send is in this batch.
    finished: Vec<Finished>,
    /// The chunk sends' rows are written (a retry after the other write failed does not repeat it).
    fresh_written: bool,
}

impl Batch {
    fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.queued.iter().map(|(_, o)| o).chain(self.fresh.iter().map(|(_, o)| o))
    }
}

/// Writes a batch on the recorder's connection, opening it first if need be (and dropping it
/// after a failure: the database may have restarted).
async fn batch_write(
    db: &PgPool,
    writer: &mut Option<OutcomeWriter>,
    worker: uuid::Uuid,
    batch: &mut Batch,
) -> sqlx::Result<()> {
    let w = match writer {
        Some(w) => w,
        None => writer.insert(OutcomeWriter::connect(db).await?),
    };
    let written = async {
        if !batch.fresh_written && !batch.fresh.is_empty() {
            w.record_chunk_sends(worker, &batch.fresh, &batch.finished).await?;
        }
        batch.fresh_written = true;
        if !batch.queued.is_empty() {
            w.record(worker, &batch.queued).await?;
        }
        sqlx::Result::Ok(())
    }
    .await;
    if written.is_err() {
        *writer = None;
    }
    written
}
