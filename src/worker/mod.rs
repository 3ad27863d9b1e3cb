//! The sending worker: claim → render → send → record.
//!
//! A claimer task claims batches of due deliveries, stores the hashes of any tokens the messages
//! carry, and queues them for the send loop, which starts one task per message as send slots
//! come free. A semaphore bounds the messages in flight (`mail.concurrency`); every SMTP
//! transaction runs under a timeout (`mail.send_timeout_secs`). Outcomes go through a bounded
//! channel to a recorder that writes them in batches (`record`); while writes lag, the channel's
//! back-pressure stops claiming.
//!
//! Every claimed row is held, its lease renewed (`leases`), until its outcome is written: a
//! message is sent again only after a crash (or a database unreachable for a whole lease), and
//! then at most what was in flight or waiting to be recorded.
//!
//! Shutdown is bounded: see [`Worker::run`].

mod compose;
mod housekeeping;
mod leases;
mod outage;
mod record;
mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use self::compose::{Composer, DigestView, Minted};
use self::leases::Leases;
use self::outage::Outage;
use self::record::Outcomes;
pub use self::retry::RetryPolicy;
use crate::config::Settings;
use crate::domain::SubscriberStatus;
use crate::mail::{BuiltMessage, MailTransport, SendError};
use crate::store::deliveries::{self, Claimed, DeliveryKind, Outcome};
use crate::store::tokens;

/// How often an idle worker looks for due rows (retries, other processes' signups) unwoken.
const POLL: Duration = Duration::from_secs(1);
/// Claims are capped so one worker does not hoard rows others could send.
const MAX_BATCH: usize = 500;
/// After the sends of a stopping worker end (at most the send timeout), this long is left for
/// writing their outcomes and handing back what is still held.
const WIND_DOWN: Duration = Duration::from_secs(3);

pub struct Worker {
    id: Uuid,
    db: PgPool,
    transport: Arc<MailTransport>,
    composer: Composer,
    wake: Arc<Notify>,
    concurrency: usize,
    /// Most rows claimed at once, and the length of the queue between claiming and sending: a
    /// worker holds at most this many rows waiting, plus those in flight.
    batch_size: usize,
    /// Minimum spacing between sends, from `mail.rate_per_second`.
    spacing: Option<Duration>,
    send_timeout: Duration,
    lease_secs: f64,
    /// The lease a row must still have for its send to start: the send timeout plus a third of
    /// the slack between lease and send timeout, for rendering and recording.
    min_lease: Duration,
    leases: Arc<Leases>,
    outage: Outage,
    retry: RetryPolicy,
    /// RSS/Atom feeds to poll, how often, and which addresses they may reach.
    feeds: (Vec<String>, Duration, crate::feeds::FetchPolicy),
    /// Digests rendered as far as possible without a recipient, by id.
    digests: std::sync::Mutex<HashMap<Uuid, Arc<DigestView>>>,
}

/// Digests kept rendered at once; more than a handful in flight is unusual.
const DIGEST_CACHE: usize = 16;

impl Worker {
    pub fn new(db: PgPool, settings: &Settings, wake: Arc<Notify>) -> anyhow::Result<Self> {
        let rate = settings.mail.rate_per_second;
        let id = Uuid::new_v4();
        let (lease, send_timeout) = (settings.lease(), settings.send_timeout());
        Ok(Self {
            id,
            db,
            transport: Arc::new(MailTransport::from_settings(&settings.mail)?),
            composer: Composer::new(settings)?,
            wake,
            concurrency: settings.mail.concurrency,
            batch_size: batch_size(settings.mail.concurrency, rate, lease.saturating_sub(send_timeout).as_secs_f64()),
            spacing: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            send_timeout,
            lease_secs: settings.mail.lease_secs,
            min_lease: send_timeout + lease.saturating_sub(send_timeout) / 3,
            leases: Arc::new(Leases::new(id, lease, send_timeout)),
            outage: Outage::new(Duration::from_secs_f64(settings.mail.retry_base_secs)),
            retry: RetryPolicy {
                max_attempts: settings.mail.max_attempts,
                base: Duration::from_secs_f64(settings.mail.retry_base_secs),
            },
            digests: std::sync::Mutex::new(HashMap::new()),
            feeds: (
                settings.feeds.urls.clone(),
                Duration::from_secs_f64(settings.feeds.poll_minutes * 60.0),
                crate::feeds::FetchPolicy::new(settings.feeds.allow_private),
            ),
        })
    }

    /// Sends until `shutdown`, then stops within the send timeout plus [`WIND_DOWN`] whatever the
    /// load: claiming stops and unstarted rows are handed back at once, sends in flight get
    /// their send timeout (plus a second), outcomes get what is left of the wind-down, and rows
    /// still held after that are handed back (or, if the database cannot be reached, left to
    /// their leases). Each stage says in the log what it waits for.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(worker = %self.id, concurrency = self.concurrency, "worker started");
        let worker = Arc::new(self);
        let slots = Arc::new(Semaphore::new(worker.concurrency));
        // Room for two batches of outcomes: one being written, one arriving. Beyond that, sends
        // wait (see `record`), so at most this, plus a write, plus the sends in flight, are sent
        // but not yet recorded.
        let (outcomes, received) = mpsc::channel(outcome_queue(worker.batch_size));
        // Every task lives in a JoinSet owned by this future: if the future is dropped (the
        // process-level equivalent of `kill -9` in tests), its sends and recorder die with it,
        // and the leases bring the claimed rows back.
        let mut recorder = JoinSet::new();
        recorder.spawn(record::run(worker.db.clone(), worker.id, received, worker.leases.clone(), worker.wake.clone()));
        // The keeper renews leases until everything else has stopped, so it has its own token.
        let keeper_stop = CancellationToken::new();
        let mut keeper = JoinSet::new();
        {
            let (leases, db, stop) = (worker.leases.clone(), worker.db.clone(), keeper_stop.clone());
            keeper.spawn(async move { leases.keep(db, stop).await });
        }
        let mut chores = JoinSet::new();
        chores.spawn(housekeeping::run(worker.db.clone(), shutdown.clone()));
        chores.spawn(housekeeping::keep_statistics(worker.db.clone(), shutdown.clone()));
        if !worker.feeds.0.is_empty() {
            let (urls, every, policy) = worker.feeds.clone();
            chores.spawn(crate::feeds::poll(worker.db.clone(), urls, every, policy, shutdown.clone()));
        }
        // Claiming runs ahead of sending: while a batch is sent, the next is claimed and its
        // tokens stored, so the send slots never wait on those round trips.
        let (ready, mut jobs) = mpsc::channel::<Job>(worker.batch_size);
        let mut claimer = JoinSet::new();
        claimer.spawn(worker.clone().claim_loop(ready, outcomes.clone(), shutdown.clone()));
        let mut sends = JoinSet::new();
        let mut next_send = Instant::now();

        while !shutdown.is_cancelled() {
            while sends.try_join_next().is_some() {}
            let job = tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                () = shutdown.cancelled() => {
                    break;
                }
            };
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit?,
                () = shutdown.cancelled() => {
                    worker.release(&[job.id]).await;
                    break;
                }
            };
            if let Some(spacing) = worker.spacing {
                let now = Instant::now();
                if next_send > now {
                    tokio::select! {
                        () = tokio::time::sleep(next_send - now) => {},
                        () = shutdown.cancelled() => {
                            worker.release(&[job.id]).await;
                            break;
                        }
                    }
                }
                next_send = next_send.max(now) + spacing;
            }
            // A row whose lease could run out before its send ends would be claimed by another
            // worker and sent twice. Renewals keep every held row well clear of that; a row gets
            // here only when they have been failing (the database is unreachable): hand it back.
            if worker.leases.remaining(job.id) < worker.min_lease {
                tracing::info!(delivery = job.id, "this row's lease is too short to start a send; handing it back");
                worker.release(&[job.id]).await;
                continue;
            }
            let (worker, outcomes) = (worker.clone(), outcomes.clone());
            sends.spawn(async move {
                let outcome = worker.render_and_send(&job).await;
                // Waits while the recorder is behind, holding the send slot: back-pressure.
                let _ = outcomes.send((job.id, outcome)).await;
                drop(permit);
            });
        }

        let stopping = Instant::now();
        let sends_end = stopping + worker.send_timeout + Duration::from_secs(1);
        let all_end = sends_end + WIND_DOWN;
        tracing::info!(
            in_flight = sends.len(),
            held = worker.leases.count(),
            bound_secs = (all_end - stopping).as_secs_f64(),
            "worker stopping: claiming stopped"
        );
        if tokio::time::timeout_at(sends_end.into(), async { while claimer.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!("worker stopping: the claim in progress did not end; abandoning it");
            claimer.abort_all();
        }
        jobs.close();
        let mut unstarted = Vec::new();
        while let Some(job) = jobs.recv().await {
            unstarted.push(job.id);
        }
        if !unstarted.is_empty() {
            tracing::info!(rows = unstarted.len(), "worker stopping: handing back rows not yet started");
            let _ = tokio::time::timeout_at(sends_end.into(), worker.release(&unstarted)).await;
        }
        if !sends.is_empty() {
            tracing::info!(in_flight = sends.len(), "worker stopping: waiting for sends in flight");
        }
        if tokio::time::timeout_at(sends_end.into(), async { while sends.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(in_flight = sends.len(), "worker stopping: sends did not finish in time; abandoning them");
            sends.abort_all();
            while sends.join_next().await.is_some() {}
        }
        drop(outcomes);
        tracing::info!(rows = worker.leases.count(), "worker stopping: writing the last outcomes");
        let recorded = tokio::time::timeout_at(all_end.into(), async { while recorder.join_next().await.is_some() {} })
            .await
            .is_ok();
        if !recorded {
            // These rows were sent but their outcome is not written: their leases will bring
            // them back and they go out again. Rare (a database too slow to take a few hundred
            // updates in seconds), and the at-least-once promise.
            tracing::warn!(
                rows = worker.leases.count(),
                "worker stopping: outcomes not written in time; leaving those rows to their leases"
            );
            recorder.abort_all();
        }
        keeper_stop.cancel();
        keeper.abort_all();
        // With every outcome written, what is still held had its send abandoned: hand it back
        // for a prompt retry.
        let left = if recorded { worker.leases.ids() } else { Vec::new() };
        if !left.is_empty() {
            tracing::info!(rows = left.len(), "worker stopping: handing back abandoned rows");
            let deadline = all_end.max(Instant::now() + Duration::from_millis(500));
            let _ = tokio::time::timeout_at(deadline.into(), worker.release(&left)).await;
        }
        // A feed poll or a purge in progress is abandoned: the next one picks up where it stopped.
        chores.abort_all();
        worker.transport.close().await;
        tracing::info!(worker = %worker.id, secs = stopping.elapsed().as_secs_f64(), "worker stopped");
        Ok(())
    }

    /// Claims batches of due rows and hands them to the send loop through `ready`, until shutdown.
    async fn claim_loop(self: Arc<Self>, ready: mpsc::Sender<Job>, outcomes: Outcomes, shutdown: CancellationToken) {
        let mut db_backoff = Duration::from_millis(100);
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
            // nothing more is claimed (so nothing is claimed only to be handed back).
            let room = tokio::select! {
                permits = ready.reserve_many((self.batch_size / 2).max(1)) => match permits {
                    Ok(permits) => {
                        drop(permits);
                        ready.capacity()
                    }
                    Err(_) => break, // the send loop has stopped
                },
                () = shutdown.cancelled() => break,
            };
            let claimed_at = Instant::now();
            let limit = room.min(self.batch_size) as i64;
            let batch = match deliveries::claim(&self.db, self.id, limit, self.lease_secs).await {
                Ok(batch) => {
                    db_backoff = Duration::from_millis(100);
                    self.leases.hold(batch.iter().map(|d| d.id), claimed_at);
                    batch
                }
                Err(e) => {
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
            let jobs = match self.prepare(batch, &outcomes).await {
                Ok(jobs) => jobs,
                Err((ids, e)) => {
                    tracing::warn!(error = %e, "storing tokens failed; releasing the batch");
                    self.release(&ids).await;
                    tokio::select! {
                        () = tokio::time::sleep(db_backoff) => {},
                        () = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
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

    /// Hands rows back unsent, without counting an attempt. If this fails the leases return them.
    async fn release(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        match deliveries::release(&self.db, self.id, ids).await {
            Ok(_) => self.leases.let_go(ids.iter().copied()),
            Err(e) => {
                tracing::warn!(error = %e, rows = ids.len(), "handing back rows failed; their leases will return them")
            }
        }
    }

    /// Settles rows that no longer need sending and mints the tokens of the rest, storing their
    /// hashes in one statement before any message leaves. Rendering happens in the send tasks,
    /// spread over the runtime's threads.
    async fn prepare(&self, batch: Vec<Claimed>, outcomes: &Outcomes) -> Result<Vec<Job>, (Vec<i64>, sqlx::Error)> {
        let mut jobs = Vec::with_capacity(batch.len());
        let mut new_tokens = Vec::new();
        for delivery in batch {
            let wanted = match delivery.kind {
                DeliveryKind::Confirmation => SubscriberStatus::Pending,
                DeliveryKind::Digest => SubscriberStatus::Confirmed,
            };
            if delivery.status != wanted {
                crate::telemetry::metrics::inc(&crate::telemetry::metrics::METRICS.skipped);
                let _ = outcomes.send((delivery.id, Outcome::Skipped { reason: "subscriber status changed" })).await;
                continue;
            }
            let view = match (delivery.kind, delivery.digest_id) {
                (DeliveryKind::Confirmation, _) => Ok(None),
                (DeliveryKind::Digest, Some(digest)) => self.digest_view(digest).await.map(Some),
                (DeliveryKind::Digest, None) => Err(anyhow::anyhow!("digest delivery without a digest")),
            };
            match view.and_then(|view| Ok((view, self.composer.mint(&delivery, &mut new_tokens)?))) {
                Ok((view, minted)) => jobs.push(Job { id: delivery.id, delivery, view, minted }),
                Err(e) => {
                    let _ = outcomes.send((delivery.id, self.cannot_build(&delivery, &e))).await;
                }
            }
        }
        if let Err(e) = tokens::insert_many(&self.db, &new_tokens).await {
            return Err((jobs.iter().map(|j| j.id).collect(), e));
        }
        Ok(jobs)
    }

    /// A message that could not be put together (a template error, an address lettre refuses):
    /// retried like a transient failure, so a fixed template sends it.
    fn cannot_build(&self, delivery: &Claimed, e: &anyhow::Error) -> Outcome {
        tracing::error!(
            delivery = delivery.id,
            error = crate::telemetry::without_addresses(&format!("{e:#}")),
            "cannot build message"
        );
        retry_or_fail(self.retry, delivery.attempts, format!("cannot build message: {e:#}"))
    }

    async fn render_and_send(&self, job: &Job) -> Outcome {
        let built = match &job.view {
            None => self.composer.confirmation(&job.delivery, &job.minted),
            Some(view) => self.composer.digest(view, &job.delivery, &job.minted),
        };
        match built {
            Ok(message) => self.send_one(job, &message).await,
            Err(e) => self.cannot_build(&job.delivery, &e),
        }
    }

    async fn digest_view(&self, id: Uuid) -> anyhow::Result<Arc<DigestView>> {
        if let Some(view) = self.digests.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(view.clone());
        }
        let content = crate::store::digests::content(&self.db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("digest {id} does not exist"))?;
        let view = Arc::new(DigestView::render(content).await?);
        let mut cache = self.digests.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= DIGEST_CACHE {
            cache.clear();
        }
        cache.insert(id, view.clone());
        Ok(view)
    }
}

/// Eight times the concurrency (at least 64): each batch costs three statements (claim, tokens,
/// outcomes), so bigger batches leave more of the machine to sending; in the digest benchmark
/// 32-row batches gave 6.8k msgs/s and 128-row batches 8.0k. Never more than a rate-limited
/// worker can start within half the slack between lease and send timeout: rows are renewed while
/// they wait, but a worker should not hold rows that another, idle worker could send.
fn batch_size(concurrency: usize, rate: f64, wait_secs: f64) -> usize {
    let mut size = concurrency.saturating_mul(8).clamp(64, MAX_BATCH);
    if rate > 0.0 {
        size = size.min(((rate * wait_secs / 2.0) as usize).max(1));
    }
    size
}

/// Outcomes that may wait for the recorder before sends pause.
pub fn outcome_queue(batch_size: usize) -> usize {
    batch_size * 2
}

/// A claimed row ready to go: its tokens are minted and stored, its message not yet rendered.
struct Job {
    id: i64,
    delivery: Claimed,
    /// The digest rendered as far as it can be without the recipient; `None` for a confirmation.
    view: Option<Arc<DigestView>>,
    minted: Minted,
}

impl Worker {
    async fn send_one(&self, job: &Job, message: &BuiltMessage) -> Outcome {
        let metrics = &crate::telemetry::metrics::METRICS;
        metrics.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let sent =
            tokio::time::timeout(self.send_timeout, self.transport.send(&message.envelope, &message.bytes)).await;
        metrics.observe_smtp(started.elapsed());
        metrics.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.classify_send(job, message, sent);
        crate::telemetry::metrics::inc(match &outcome {
            Outcome::Sent { .. } => &metrics.sent,
            Outcome::Retry { .. } | Outcome::Postponed { .. } => &metrics.retried,
            Outcome::Failed { .. } => &metrics.failed,
            Outcome::Skipped { .. } => &metrics.skipped,
        });
        outcome
    }

    fn classify_send(
        &self,
        job: &Job,
        message: &BuiltMessage,
        sent: Result<Result<(), SendError>, tokio::time::error::Elapsed>,
    ) -> Outcome {
        let (retry, attempts) = (self.retry, job.delivery.attempts);
        let digest = job.delivery.digest_id;
        match sent {
            Ok(Ok(())) => {
                self.outage.over();
                Outcome::Sent { message_id: message.message_id.clone() }
            }
            // The reply is kept whole in the row for the operator; the log gets it without the
            // addresses servers like to echo.
            Ok(Err(SendError::Permanent(reply))) => {
                let logged = crate::telemetry::without_addresses(&reply);
                tracing::warn!(delivery = job.id, digest = ?digest, reply = logged, "server refused the message for good");
                Outcome::Failed { error: reply }
            }
            Ok(Err(SendError::Transient(error))) => {
                let logged = crate::telemetry::without_addresses(&error);
                tracing::info!(delivery = job.id, digest = ?digest, error = logged, attempt = attempts, "send failed; will retry");
                retry_or_fail(retry, attempts, error)
            }
            Ok(Err(SendError::Unavailable(error))) => {
                let pause = self.outage.report();
                let logged = crate::telemetry::without_addresses(&error);
                tracing::warn!(
                    error = logged,
                    pause_secs = pause.as_secs_f64(),
                    "no session with the mail server; pausing"
                );
                Outcome::Postponed { error, after_secs: pause.as_secs_f64() }
            }
            Err(_) => retry_or_fail(retry, attempts, format!("no answer within {} s", self.send_timeout.as_secs_f64())),
        }
    }
}

fn retry_or_fail(retry: RetryPolicy, attempts: i32, error: String) -> Outcome {
    match retry.next_delay(u32::try_from(attempts).unwrap_or(u32::MAX)) {
        Some(delay) => Outcome::Retry { error, after_secs: delay.as_secs_f64() },
        None => Outcome::Failed { error: format!("gave up after {attempts} attempts: {error}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_eight_times_the_concurrency_or_what_a_rate_capped_worker_starts_in_time() {
        assert_eq!(batch_size(16, 0.0, 28.0), 128);
        assert_eq!(batch_size(16, 10.0, 2.0), 10, "a rate-capped worker claims what it can start in time");
    }
}
