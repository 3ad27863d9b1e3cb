//! The rows a worker holds, and the task that keeps their leases alive.
//!
//! A claimed row belongs to this worker until its lease runs out. Without renewal, a row whose
//! outcome waited in memory longer than the lease (a slow outcome write, a busy database) was
//! claimed and sent again by another worker although nothing had crashed: 20 % of the mail in
//! one measured burst. So every row is held here from its claim until its outcome is written
//! (or it is handed back), and a keeper renews the leases of all held rows well before they run
//! out. Only a worker that stops renewing (a crash, or a database it cannot reach for a whole
//! lease) lets its rows go to another worker: that is the crash case of at-least-once delivery.
//!
//! The worker also knows, per row, until when its lease is certain, and starts no send that
//! could outlive it.
//!
//! A digest chunk's sends have no row until their outcome is written: the chunk holds the lease
//! for all of them, and is let go with the write of its last outcome.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::chunks::{self, Finished, Fresh, Leased};
use crate::store::deliveries::{self, Claimed};

pub struct Leases {
    worker: Uuid,
    lease: Duration,
    /// How often the keeper renews.
    every: Duration,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Held row → the moment its lease runs out as far as this worker can be sure (measured from
    /// before the statement that set it, so never later than the database's own), and for a
    /// digest chunk's send, the row it will become (its lease is the chunk's).
    rows: HashMap<i64, (Instant, Option<(i64, Fresh)>)>,
    /// Held chunk → sends not yet settled, and whether all of them so far were recorded.
    chunks: HashMap<i64, (usize, bool)>,
}

/// A batch of outcomes as [`Leases::settle`] splits it.
pub struct Settled<T> {
    pub queued: Vec<(i64, T)>,
    pub fresh: Vec<(Fresh, T)>,
    pub finished: Vec<Finished>,
}

impl Leases {
    /// `slack` is the lease less the send timeout: renewing three times within it leaves every
    /// held row at least the send timeout plus a third of the slack, so a row can always be
    /// started unless renewals have been failing.
    pub fn new(worker: Uuid, lease: Duration, send_timeout: Duration) -> Self {
        let slack = lease.saturating_sub(send_timeout);
        let every = (lease / 3).min(slack / 3).max(Duration::from_millis(50));
        Self { worker, lease, every, held: Mutex::new(Held::default()) }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rows just claimed; `claimed_at` was taken before the claim statement.
    pub fn hold(&self, ids: impl IntoIterator<Item = i64>, claimed_at: Instant) {
        let until = claimed_at + self.lease;
        self.map().rows.extend(ids.into_iter().map(|id| (id, (until, None))));
    }

    /// A chunk just leased and the sends it makes (none of them a row yet).
    pub fn hold_chunk(&self, chunk: Leased, rows: &[Claimed], claimed_at: Instant) {
        let until = claimed_at + self.lease;
        let mut held = self.map();
        held.chunks.insert(chunk.id, (rows.len(), true));
        held.rows.extend(rows.iter().map(|r| {
            (r.id, (until, Some((chunk.id, Fresh { id: r.id, subscriber: r.subscriber_id, digest: chunk.digest }))))
        }));
    }

    /// Before a batch of outcomes is written, splits it: outcomes of queued rows (updated in
    /// place), outcomes of chunk sends (rows to insert), and the chunks whose last send is in it,
    /// to be let go with the write (and marked done if no send of theirs was handed back).
    pub fn settle<T>(&self, outcomes: impl IntoIterator<Item = (i64, T)>) -> Settled<T> {
        let mut held = self.map();
        let mut settled = Settled { queued: Vec::new(), fresh: Vec::new(), finished: Vec::new() };
        for (id, outcome) in outcomes {
            let Some((_, Some((chunk, row)))) = held.rows.get(&id) else {
                settled.queued.push((id, outcome));
                continue;
            };
            let (chunk, row) = (*chunk, *row);
            settled.fresh.push((row, outcome));
            if let Some((left, complete)) = held.chunks.get_mut(&chunk) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    settled.finished.push(Finished { chunk, done: *complete });
                }
            }
        }
        settled
    }

    /// Chunk sends whose outcome could not be written: their chunks are not done, whatever their
    /// other sends' outcomes (they are let go undone, and the next holder sends to whoever has no
    /// row: at least once).
    pub fn unrecorded(&self, ids: impl IntoIterator<Item = i64>) {
        let mut held = self.map();
        let chunks: Vec<i64> =
            ids.into_iter().filter_map(|id| held.rows.get(&id).and_then(|(_, f)| *f)).map(|(c, _)| c).collect();
        for chunk in chunks {
            if let Some((_, complete)) = held.chunks.get_mut(&chunk) {
                *complete = false;
            }
        }
    }

    /// Rows whose outcome is written (or given up on): no longer ours, nor their finished chunks.
    pub fn let_go(&self, ids: impl IntoIterator<Item = i64>) {
        let mut held = self.map();
        for id in ids {
            held.rows.remove(&id);
        }
        held.chunks.retain(|_, (left, _)| *left > 0);
    }

    /// Rows handed back unsent: the queued ones to hand back in the table, and the chunks whose
    /// last send this was, to let go of (not done: what is left of them is sent by the next holder).
    pub fn hand_back(&self, ids: &[i64]) -> (Vec<i64>, Vec<i64>) {
        let mut held = self.map();
        let (mut queued, mut chunks) = (Vec::new(), Vec::new());
        for id in ids {
            match held.rows.remove(id) {
                Some((_, Some((chunk, _)))) => {
                    if let Some((left, complete)) = held.chunks.get_mut(&chunk) {
                        *left = left.saturating_sub(1);
                        *complete = false;
                        if *left == 0 {
                            held.chunks.remove(&chunk);
                            chunks.push(chunk);
                        }
                    }
                }
                // Not held any more (its lease is another worker's) or a queued row: the table's
                // hand-back only touches rows still leased to us.
                _ => queued.push(*id),
            }
        }
        (queued, chunks)
    }

    /// How long the lease of a held row is certain to last from now (zero if it is not held).
    pub fn remaining(&self, id: i64) -> Duration {
        self.map().rows.get(&id).map_or(Duration::ZERO, |(until, _)| until.saturating_duration_since(Instant::now()))
    }

    pub fn count(&self) -> usize {
        self.map().rows.len()
    }

    pub fn ids(&self) -> Vec<i64> {
        self.map().rows.keys().copied().collect()
    }

    /// Renews every held row's lease every `every` until `stop`.
    pub async fn keep(&self, db: PgPool, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.every) => {},
                () = stop.cancelled() => return,
            }
            self.renew(&db).await;
        }
    }

    async fn renew(&self, db: &PgPool) {
        let (rows, chunks): (Vec<i64>, Vec<i64>) = {
            let held = self.map();
            let rows = held.rows.iter().filter(|(_, (_, fresh))| fresh.is_none()).map(|(id, _)| *id).collect();
            (rows, held.chunks.keys().copied().collect())
        };
        if rows.is_empty() && chunks.is_empty() {
            return;
        }
        let started = Instant::now();
        let lease = self.lease.as_secs_f64();
        // A renewal that takes longer than a renewal period is no use to rows it was meant for.
        let renewed: Result<sqlx::Result<(Vec<i64>, Vec<i64>)>, _> = tokio::time::timeout(self.lease, async {
            let rows =
                if rows.is_empty() { Vec::new() } else { deliveries::renew(db, self.worker, &rows, lease).await? };
            let chunks =
                if chunks.is_empty() { Vec::new() } else { chunks::renew(db, self.worker, &chunks, lease).await? };
            Ok((rows, chunks))
        })
        .await;
        match renewed {
            Ok(Ok((rows, chunks))) => {
                let until = started + self.lease;
                let mut held = self.map();
                for id in rows {
                    if let Some((deadline, _)) = held.rows.get_mut(&id) {
                        *deadline = until;
                    }
                }
                for (deadline, fresh) in held.rows.values_mut() {
                    if fresh.is_some_and(|(chunk, _)| chunks.contains(&chunk)) {
                        *deadline = until;
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, rows = rows.len(), "renewing leases failed; trying again"),
            Err(_) => tracing::warn!(rows = rows.len(), "renewing leases took longer than a lease; trying again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_come_three_times_within_the_slack() {
        let secs = Duration::from_secs_f64;
        let leases = Leases::new(Uuid::nil(), secs(60.0), secs(30.0));
        assert_eq!(leases.every, secs(10.0));
        let leases = Leases::new(Uuid::nil(), secs(3.0), secs(2.0));
        assert!((leases.every.as_secs_f64() - 1.0 / 3.0).abs() < 1e-9);
    }

    fn chunk_sends(ids: &[i64]) -> Vec<Claimed> {
        ids.iter()
            .map(|&id| Claimed {
                id,
                kind: deliveries::DeliveryKind::Digest,
                attempts: 1,
                subscriber_id: Uuid::from_u128(u128::try_from(id).unwrap()),
                digest_id: None,
                email: crate::domain::SubscriberEmail::parse(&format!("r{id}@example.com")).unwrap(),
                name: None,
                status: crate::domain::SubscriberStatus::Confirmed,
                token_version: 0,
                attributes: None,
                locale: None,
            })
            .collect()
    }

    #[test]
    fn a_chunk_is_finished_with_its_last_outcome_and_done_only_if_no_send_was_handed_back() {
        let leases = Leases::new(Uuid::nil(), Duration::from_secs(10), Duration::from_secs(2));
        let digest = Uuid::from_u128(7);
        leases.hold_chunk(Leased { id: 1, digest }, &chunk_sends(&[10, 11, 12]), Instant::now());
        leases.hold_chunk(Leased { id: 2, digest }, &chunk_sends(&[20, 21]), Instant::now());
        leases.hold([99], Instant::now());

        // A batch with a queued row and sends of both chunks: only the chunk sends become rows.
        let settled = leases.settle([(99, 'a'), (10, 'b'), (20, 'c'), (11, 'd')]);
        assert_eq!(settled.queued, [(99, 'a')]);
        assert_eq!(
            settled.fresh.iter().map(|(f, o)| (f.id, f.subscriber, *o)).collect::<Vec<_>>(),
            [(10, Uuid::from_u128(10), 'b'), (20, Uuid::from_u128(20), 'c'), (11, Uuid::from_u128(11), 'd')]
        );
        assert!(settled.finished.is_empty(), "no chunk is finished yet");
        leases.let_go([99, 10, 20, 11]);
        assert!(leases.remaining(12) > Duration::from_secs(9), "the rest of the chunk is still held");

        // Chunk 2's last send is handed back: it is let go, not done. Chunk 1 ends with an outcome.
        assert_eq!(leases.hand_back(&[21]), (vec![], vec![2]));
        assert_eq!(leases.settle([(12, ())]).finished, [Finished { chunk: 1, done: true }]);
        leases.let_go([12]);
        assert_eq!(leases.count(), 0);
        assert!(leases.map().chunks.is_empty());

        // A chunk one of whose outcomes could not be written is finished undone.
        leases.hold_chunk(Leased { id: 3, digest }, &chunk_sends(&[30, 31]), Instant::now());
        let _ = leases.settle([(30, ())]);
        leases.unrecorded([30]);
        leases.let_go([30]);
        assert_eq!(leases.settle([(31, ())]).finished, [Finished { chunk: 3, done: false }]);
    }

    #[test]
    fn a_row_is_held_from_its_claim_until_let_go() {
        let leases = Leases::new(Uuid::nil(), Duration::from_secs(10), Duration::from_secs(2));
        leases.hold([1, 2], Instant::now());
        assert!(leases.remaining(1) > Duration::from_secs(9));
        leases.let_go([1]);
        assert_eq!(leases.remaining(1), Duration::ZERO);
        assert_eq!(leases.count(), 1);
    }
}
