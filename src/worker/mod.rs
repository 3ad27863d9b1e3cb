//! The sending worker: claim → render → send → record.
//!
//! One loop claims a batch of due deliveries, renders them, stores the hashes of any tokens the
//! messages carry, and starts one task per message as send slots come free; rows that waited so
//! long that their lease could run out mid-send are handed back unsent. A semaphore bounds
//! the messages in flight (`mail.concurrency`); every SMTP transaction runs under a timeout
//! (`mail.send_timeout_secs`). Outcomes go to a recorder task that writes them in batches.
//!
//! Delivery is at-least-once: a row is marked sent only after the server accepted the message,
//! so a crash repeats at most what was in flight, and the lease brings such rows back.

mod compose;
mod housekeeping;
mod outage;
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
use self::outage::Outage;
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
/// At most this many outcomes go into one write.
const FLUSH_AT: usize = 500;

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
    /// How long a claimed row may wait for a send slot: its lease, less the send timeout and a
    /// margin for rendering and recording, so that it is never sent after its lease ran out.
    max_wait: Duration,
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
        Ok(Self {
            id: Uuid::new_v4(),
            db,
            transport: Arc::new(MailTransport::from_settings(settings)?),
            composer: Composer::new(settings)?,
            wake,
            concurrency: settings.mail.concurrency,
            batch_size: batch_size(
                settings.mail.concurrency,
                rate,
                max_wait(settings.lease(), settings.send_timeout()).as_secs_f64(),
            ),
            spacing: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            send_timeout: settings.send_timeout(),
            lease_secs: settings.mail.lease_secs,
            max_wait: max_wait(settings.lease(), settings.send_timeout()),
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

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(worker = %self.id, concurrency = self.concurrency, "worker started");
        let worker = Arc::new(self);
        let slots = Arc::new(Semaphore::new(worker.concurrency));
        let (outcomes, received) = mpsc::unbounded_channel();
        // Every task lives in a JoinSet owned by this future: if the future is dropped (the
        // process-level equivalent of `kill -9` in tests), its sends and recorder die with it,
        // and the leases bring the claimed rows back.
        let mut recorder = JoinSet::new();
        recorder.spawn(record_outcomes(worker.db.clone(), worker.id, received, worker.wake.clone()));
        let mut chores = JoinSet::new();
        chores.spawn(housekeeping::run(worker.db.clone(), shutdown.clone()));
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
                () = shutdown.cancelled() => break,
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
            // Rows wait for a free slot while slow sends hold them all. A row whose lease could
            // run out before its send ends would be claimed by another worker and sent twice:
            // hand it back instead.
            if job.claimed_at.elapsed() >= worker.max_wait {
                tracing::info!(delivery = job.id, "sends are slow; handing back a row before its lease runs out");
                worker.release(&[job.id]).await;
                continue;
            }
            let (worker, outcomes) = (worker.clone(), outcomes.clone());
            sends.spawn(async move {
                let outcome = worker.render_and_send(&job).await;
                let _ = outcomes.send((job.id, outcome));
                drop(permit);
            });
        }

        // Shutdown: stop claiming, hand back what was claimed but not started, let in-flight
        // sends finish (each is bounded by the send timeout), then write their outcomes.
        while claimer.join_next().await.is_some() {}
        jobs.close();
        let mut unstarted = Vec::new();
        while let Some(job) = jobs.recv().await {
            unstarted.push(job.id);
        }
        worker.release(&unstarted).await;
        let drain = worker.send_timeout + Duration::from_secs(5);
        if tokio::time::timeout(drain, async { while sends.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!("in-flight sends did not finish in time; their leases will return them");
            sends.abort_all();
        }
        drop(outcomes);
        while recorder.join_next().await.is_some() {}
        // A feed poll or a purge in progress is abandoned: the next one picks up where it stopped.
        chores.abort_all();
        tracing::info!(worker = %worker.id, "worker stopped");
        Ok(())
    }

    /// Claims batches of due rows and hands them to the send loop through `ready`, until shutdown.
    async fn claim_loop(
        self: Arc<Self>,
        ready: mpsc::Sender<Job>,
        outcomes: mpsc::UnboundedSender<(i64, Outcome)>,
        shutdown: CancellationToken,
    ) {
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
            let jobs = match self.prepare(batch, claimed_at, &outcomes).await {
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
        if let Err(e) = deliveries::release(&self.db, self.id, ids).await {
            tracing::warn!(error = %e, rows = ids.len(), "handing back rows failed; their leases will return them");
        }
    }

    /// Settles rows that no longer need sending and mints the tokens of the rest, storing their
    /// hashes in one statement before any message leaves. Rendering happens in the send tasks,
    /// spread over the runtime's threads.
    async fn prepare(
        &self,
        batch: Vec<Claimed>,
        claimed_at: Instant,
        outcomes: &mpsc::UnboundedSender<(i64, Outcome)>,
    ) -> Result<Vec<Job>, (Vec<i64>, sqlx::Error)> {
        let mut jobs = Vec::with_capacity(batch.len());
        let mut new_tokens = Vec::new();
        for delivery in batch {
            let wanted = match delivery.kind {
                DeliveryKind::Confirmation => SubscriberStatus::Pending,
                DeliveryKind::Digest => SubscriberStatus::Confirmed,
            };
            if delivery.status != wanted {
                crate::metrics::inc(&crate::metrics::METRICS.skipped);
                let _ = outcomes.send((delivery.id, Outcome::Skipped { reason: "subscriber status changed" }));
                continue;
            }
            let view = match (delivery.kind, delivery.digest_id) {
                (DeliveryKind::Confirmation, _) => Ok(None),
                (DeliveryKind::Digest, Some(digest)) => self.digest_view(digest).await.map(Some),
                (DeliveryKind::Digest, None) => Err(anyhow::anyhow!("digest delivery without a digest")),
            };
            match view.and_then(|view| Ok((view, self.composer.mint(&delivery, &mut new_tokens)?))) {
                Ok((view, minted)) => jobs.push(Job { id: delivery.id, claimed_at, delivery, view, minted }),
                Err(e) => {
                    let _ = outcomes.send((delivery.id, self.cannot_build(&delivery, &e)));
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
/// worker can start within half the time a row may wait (its lease less the send timeout), or rows
/// would wait in memory until they are handed back.
fn batch_size(concurrency: usize, rate: f64, wait_secs: f64) -> usize {
    let mut size = concurrency.saturating_mul(8).clamp(64, MAX_BATCH);
    if rate > 0.0 {
        size = size.min(((rate * wait_secs / 2.0) as usize).max(1));
    }
    size
}

/// A claimed row ready to go: its tokens are minted and stored, its message not yet rendered.
struct Job {
    id: i64,
    claimed_at: Instant,
    delivery: Claimed,
    /// The digest rendered as far as it can be without the recipient; `None` for a confirmation.
    view: Option<Arc<DigestView>>,
    minted: Minted,
}

impl Worker {
    async fn send_one(&self, job: &Job, message: &BuiltMessage) -> Outcome {
        let metrics = &crate::metrics::METRICS;
        metrics.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let sent =
            tokio::time::timeout(self.send_timeout, self.transport.send(&message.envelope, &message.bytes)).await;
        metrics.observe_smtp(started.elapsed());
        metrics.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.classify_send(job, message, sent);
        crate::metrics::inc(match &outcome {
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

/// How long a claimed row may wait for a send slot before it is handed back: the lease less
/// the send timeout, less a margin (half of what is left, at most 2 s) for scheduling,
/// rendering and recording the outcome.
fn max_wait(lease: Duration, send_timeout: Duration) -> Duration {
    let slack = lease.saturating_sub(send_timeout);
    slack.saturating_sub((slack / 2).min(Duration::from_secs(2)))
}

fn retry_or_fail(retry: RetryPolicy, attempts: i32, error: String) -> Outcome {
    match retry.next_delay(u32::try_from(attempts).unwrap_or(u32::MAX)) {
        Some(delay) => Outcome::Retry { error, after_secs: delay.as_secs_f64() },
        None => Outcome::Failed { error: format!("gave up after {attempts} attempts: {error}") },
    }
}

/// Collects outcomes and writes them in batches. There is no timer: each write takes whatever
/// arrived while the previous one ran, so batches grow with the send rate while an outcome waits
/// at most one write (a few ms) — which bounds what a crash can make us send twice.
///
/// A failed write is retried (the database may be restarting); if it never succeeds, the leases
/// run out and the rows are sent again, which is the at-least-once promise.
async fn record_outcomes(
    db: PgPool,
    worker: Uuid,
    mut received: mpsc::UnboundedReceiver<(i64, Outcome)>,
    wake: Arc<Notify>,
) {
    let mut pending: Vec<(i64, Outcome)> = Vec::new();
    loop {
        match received.recv().await {
            Some(item) => pending.push(item),
            None => break,
        }
        while pending.len() < FLUSH_AT {
            match received.try_recv() {
                Ok(item) => pending.push(item),
                Err(_) => break,
            }
        }
        let mut tries = 0;
        loop {
            match deliveries::record(&db, worker, &pending).await {
                Ok(_) => {
                    // A retry may now be due sooner than the claim loop's nap: let it look again.
                    if pending.iter().any(|(_, o)| matches!(o, Outcome::Retry { .. })) {
                        wake.notify_one();
                    }
                    pending.clear();
                    break;
                }
                Err(e) if tries < 20 => {
                    tries += 1;
                    tracing::warn!(error = %e, "recording delivery outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250 * tries)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, count = pending.len(), "giving up recording outcomes; leases will return them");
                    pending.clear();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_row_waits_at_most_its_lease_less_the_send_timeout_and_a_margin() {
        let secs = Duration::from_secs_f64;
        assert_eq!(max_wait(secs(60.0), secs(30.0)), secs(28.0));
        assert_eq!(max_wait(secs(3.0), secs(2.0)), secs(0.5));
        assert_eq!(max_wait(secs(2.0), secs(2.0)), Duration::ZERO);
        assert_eq!(batch_size(16, 0.0, 28.0), 128);
        assert_eq!(batch_size(16, 10.0, 2.0), 10, "a rate-capped worker claims what it can start in time");
    }
}
