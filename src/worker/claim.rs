//! Claiming: batches of due rows (or a digest chunk's sends), leased to this worker, their tokens
//! minted (signed; nothing is stored), queued for the send loop; rows that cannot be started are
//! handed back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::mint::mint;
use super::record::Outcomes;
use super::{Job, TIMING, Worker};
use crate::domain::DigestContent;
use crate::mail::DigestView;
use crate::store::chunks;
use crate::store::deliveries::{self, Claimed, DeliveryKind, Outcome};
use crate::store::retry;
use crate::telemetry::metrics::{self, METRICS};

/// How often an idle worker looks for due rows (retries, other processes' signups) unwoken.
const POLL: Duration = Duration::from_secs(1);
/// Digests kept rendered at once; more than a handful in flight is unusual.
const DIGEST_CACHE: usize = 16;

impl Worker {
    /// Claims batches of due rows and hands them to the send loop through `ready`, until shutdown.
    pub(super) async fn claim_loop(
        self: Arc<Self>,
        ready: mpsc::Sender<Job>,
        outcomes: Outcomes,
        shutdown: CancellationToken,
    ) {
        let mut db_backoff = Duration::from_millis(100);
        let mut chunk_queued = false;
        while !shutdown.is_cancelled() {
            if let Some(pause) = self.outage.remaining() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {},
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            // Claim only what the queue to the send loop has room for, and only once it has room
            // for half a batch: claimed rows never wait in this task, and while sends are slow
            // nothing more is claimed (so nothing is claimed only to be handed back). A digest
            // chunk is the exception: its 256 sends do not all fit, and once the last is queued
            // the next chunk is claimed at once, so that the queue's 128 sends cover the claim's
            // few ms (waiting for room first left the send slots idle for part of every chunk).
            // (Not for a rate-capped worker: it would only hold recipients another worker could send.)
            let room = if chunk_queued && self.spacing.is_none() {
                self.batch_size / 2
            } else {
                tokio::select! {
                    permits = ready.reserve_many((self.batch_size / 2).max(1)) => match permits {
                        Ok(permits) => {
                            drop(permits);
                            ready.capacity()
                        }
                        Err(_) => break, // the send loop has stopped
                    },
                    () = shutdown.cancelled() => break,
                }
            };
            let claimed_at = Instant::now();
            let limit = room.min(self.batch_size) as i64;
            let batch = match self.claim_next(limit, claimed_at).await {
                Ok((batch, from_chunk)) => {
                    chunk_queued = from_chunk;
                    // bench/run's backlog scenario reads these: the claim's cost per batch must
                    // not grow with the rows pending elsewhere in the queue.
                    tracing::debug!(
                        target: TIMING,
                        claim_ms = claimed_at.elapsed().as_secs_f64() * 1e3,
                        rows = batch.len(),
                        "claimed"
                    );
                    db_backoff = Duration::from_millis(100);
                    batch
                }
                Err(e) => {
                    chunk_queued = false;
                    tracing::warn!(error = %e, "claiming deliveries failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(db_backoff) => {},
                        () = shutdown.cancelled() => break,
                    }
                    db_backoff = (db_backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if batch.is_empty() {
                // Sleep until the next retry is due (or a signup wakes us), but look again at
                // least every POLL for rows that other processes queue.
                let due = deliveries::next_due_in(&self.db).await.ok().flatten();
                let nap = due.map_or(POLL, |secs| Duration::from_secs_f64(secs.max(0.01)).min(POLL));
                tokio::select! {
                    () = self.wake.notified() => {},
                    () = tokio::time::sleep(nap) => {},
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            let jobs = self.prepare(batch, &outcomes).await;
            let mut jobs = jobs.into_iter();
            while let Some(job) = jobs.next() {
                let id = job.id;
                tokio::select! {
                    sent = ready.send(job) => if sent.is_err() {
                        // The send loop has stopped.
                        let ids: Vec<i64> = std::iter::once(id).chain(jobs.map(|j| j.id)).collect();
                        self.release(&ids).await;
                        return;
                    },
                    () = shutdown.cancelled() => {
                        let ids: Vec<i64> = std::iter::once(id).chain(jobs.map(|j| j.id)).collect();
                        self.release(&ids).await;
                        return;
                    }
                }
            }
        }
    }

    /// Due rows of the queue first (confirmations, retries), held from `claimed_at`; when there
    /// are none, the sends of the next digest chunk. Says whether the batch is a chunk's.
    async fn claim_next(&self, limit: i64, claimed_at: Instant) -> sqlx::Result<(Vec<Claimed>, bool)> {
        // Run again at once if the connection was dead (a restart of Postgres). A first run that
        // committed unanswered leased rows this worker does not know of: they come back when
        // that lease runs out, and are sent then, once.
        let batch =
            retry::once(&self.db, "claim", || deliveries::claim(&self.db, self.id, limit, self.lease_secs)).await?;
        if !batch.is_empty() {
            self.leases.hold(batch.iter().map(|d| d.id), claimed_at);
            return Ok((batch, false));
        }
        loop {
            let leased_at = Instant::now();
            let Some(chunk) =
                retry::once(&self.db, "claim", || chunks::claim(&self.db, self.id, self.lease_secs)).await?
            else {
                return Ok((Vec::new(), false));
            };
            let sends = match chunks::recipients(&self.db, chunk).await {
                Ok(sends) => sends,
                Err(e) => {
                    // Otherwise its lease would keep it from everyone until it ran out.
                    let _ = chunks::release(&self.db, self.id, &[chunk.id], false).await;
                    return Err(e);
                }
            };
            if sends.is_empty() {
                // Everyone in it has a row (its last holder died after writing them) or left.
                chunks::release(&self.db, self.id, &[chunk.id], true).await?;
                continue;
            }
            self.leases.hold_chunk(chunk, &sends, leased_at);
            return Ok((sends, true));
        }
    }

    /// Hands rows back unsent, without counting an attempt. If this fails the leases return them.
    pub(super) async fn release(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        // They are no longer ours whatever the table says: were they still held, the keeper
        // would renew their leases forever (found by faults/run's database outage: rows stuck
        // until the stop).
        let (queued, chunks) = self.leases.hand_back(ids);
        if !queued.is_empty()
            && let Err(e) = deliveries::release(&self.db, self.id, &queued).await
        {
            tracing::warn!(error = %e, rows = queued.len(), "handing back rows failed; their leases will return them");
        }
        // A digest chunk goes back whole; its next holder sends to those who have no row yet.
        if !chunks.is_empty()
            && let Err(e) = chunks::release(&self.db, self.id, &chunks, false).await
        {
            tracing::warn!(error = %e, chunks = chunks.len(), "handing back digest chunks failed; their leases will return them");
        }
    }

    /// Settles rows that no longer need sending and mints the tokens of the rest (signing only:
    /// no database write). Rendering happens in the send tasks, spread over the runtime's threads.
    pub(super) async fn prepare(&self, batch: Vec<Claimed>, outcomes: &Outcomes) -> Vec<Job> {
        let mut jobs = Vec::with_capacity(batch.len());
        let now = chrono::Utc::now();
        for delivery in batch {
            if !delivery.kind.wanted_for(delivery.status) {
                metrics::inc(&METRICS.skipped);
                let _ = outcomes.send((delivery.id, Outcome::Skipped { reason: "subscriber status changed" })).await;
                continue;
            }
            let view = match (delivery.kind, delivery.digest_id) {
                (DeliveryKind::Confirmation | DeliveryKind::Welcome | DeliveryKind::Reminder, _) => Ok(None),
                (DeliveryKind::Digest, Some(digest)) => self.digest_view(digest).await.map(Some),
                (DeliveryKind::Digest, None) => Err(anyhow::anyhow!("digest delivery without a digest")),
            };
            match view {
                Ok(view) => {
                    let minted = mint(&delivery, &self.token_keys, self.token_ttl, self.preferences_ttl, now);
                    jobs.push(Job { id: delivery.id, delivery, view, minted });
                }
                Err(e) => {
                    let _ = outcomes.send((delivery.id, self.cannot_build(&delivery, &e))).await;
                }
            }
        }
        jobs
    }

    pub(super) async fn digest_view(&self, id: Uuid) -> anyhow::Result<Arc<DigestView>> {
        if let Some(view) = self.digests.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(view.clone());
        }
        let content: DigestContent = crate::store::digests::content(&self.db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("digest {id} does not exist"))?;
        let mut view = DigestView::render(content).await?;
        view.id = Some(id);
        let view = Arc::new(view);
        let mut cache = self.digests.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= DIGEST_CACHE {
            cache.clear();
        }
        cache.insert(id, view.clone());
        Ok(view)
    }
}
