//! The sending worker: claim (`claim`, tokens minted in `mint`) → render and send (`send`) →
//! record (`record`), with leases renewed meanwhile (`leases`) and chores beside it
//! (`housekeeping`, the feed poller in `feeds`, event webhooks out in `webhooks`).
//!
//! A claimer task claims batches of due deliveries, mints (signs) the tokens the messages carry,
//! and queues them for the send lanes (`send`): `mail.concurrency` tasks, each with one SMTP
//! session, taking jobs one after another, so at most that many messages are in flight. Every
//! SMTP exchange runs under a timeout (`mail.send_timeout_secs`). Outcomes go through a bounded
//! channel to a recorder that writes them in batches (`record`); while writes lag, the channel's
//! back-pressure holds the lanes, and with them claiming.
//!
//! Every claimed row is held, its lease renewed (`leases`), until its outcome is written: a
//! message is sent again only after a crash (or a database unreachable for a whole lease), and
//! then at most what was in flight or waiting to be recorded.
//!
//! Shutdown is bounded: see [`Worker::run`].

mod claim;
mod feeds;
mod handover;
mod housekeeping;
mod leases;
mod mint;
mod outage;
mod record;
mod retry;
mod schedules;
mod send;
mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::leases::Leases;
use self::mint::Minted;
use self::outage::Outage;
pub use self::retry::RetryPolicy;
pub use self::schedules::Clock;
use crate::config::Settings;
use crate::mail::{Composer, DigestView, MailTransport};
use crate::ops::feeds::FetchPolicy;
use crate::signup::{Handed, Handover};
use crate::store::deliveries::Claimed;
use crate::telemetry::metrics::METRICS;
/// The log target of the per-batch timings (claim, outcome write) at debug level: off unless
/// `RUST_LOG` asks for it, as `bench/run` does (`broadsheet::worker::timing=debug`).
const TIMING: &str = "broadsheet::worker::timing";
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
    /// How long a confirmation link works (`subscriptions.token_ttl_hours`).
    token_ttl: chrono::Duration,
    /// How long a mail's preference link works (`subscriptions.preferences_ttl_days`).
    preferences_ttl: chrono::Duration,
    /// Sign the links in mail (`tokens.keys`).
    token_keys: crate::domain::TokenKeys,
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
    feeds: (Vec<String>, Duration, FetchPolicy),
    /// Digests rendered as far as possible without a recipient, by id.
    digests: std::sync::Mutex<HashMap<Uuid, Arc<DigestView>>>,
    /// What the scheduler chore does (scheduled digests, `digests.schedule`, reminders).
    plan: std::sync::Mutex<Option<schedules::Plan>>,
    /// The scheduler's time; tests set it.
    clock: Clock,
    /// Confirmations this process's signups hand over already leased, once `handover` is called.
    handed: Option<mpsc::Receiver<Handed>>,
    /// Event webhooks out: how they are delivered.
    webhooks: webhooks::Plan,
}

impl Worker {
    pub fn new(db: PgPool, settings: &Settings, wake: Arc<Notify>) -> anyhow::Result<Self> {
        let rate = settings.mail.rate_per_second;
        let id = Uuid::new_v4();
        let (lease, send_timeout) = (settings.lease(), settings.send_timeout());
        let mut composer =
            Composer::new(&settings.mail, settings.http.base_url.clone(), settings.subscriptions.token_ttl_hours)?;
        composer.archive = settings.http.archive;
        composer.default_locale = settings.subscriptions.default_locale();
        let reminder = settings.subscriptions.reminder_after_hours;
        let plan = schedules::Plan {
            newsletter: settings.newsletter_name(),
            schedule: settings.digest_schedule(),
            timezone: settings.timezone().name().to_owned(),
            max_lateness: chrono::Duration::from_std(Duration::from_secs_f64(
                settings.digests.max_lateness_hours * 3600.0,
            ))?,
            reminder_after_secs: (reminder > 0.0).then_some(reminder * 3600.0),
            daily_cap: i64::from(settings.limits.confirmation_mails_per_address_per_day),
            token_ttl_secs: settings.token_ttl().as_secs_f64(),
        };
        Ok(Self {
            id,
            db,
            transport: Arc::new(MailTransport::from_settings(&settings.mail)?),
            composer,
            token_ttl: chrono::Duration::from_std(settings.token_ttl())?,
            preferences_ttl: chrono::Duration::days(i64::from(settings.subscriptions.preferences_ttl_days)),
            token_keys: settings.token_keys()?,
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
            plan: std::sync::Mutex::new(Some(plan)),
            clock: Clock::system(),
            handed: None,
            webhooks: webhooks::Plan { settings: settings.webhooks.clone(), list: settings.newsletter_name() },
            feeds: (
                settings.feeds.urls.clone(),
                Duration::from_secs_f64(settings.feeds.poll_minutes * 60.0),
                FetchPolicy::new(settings.feeds.allow_private),
            ),
        })
    }

    /// The channel through which this process's signups hand this worker their confirmations,
    /// leased to it already (`signup::handover`). Room for a batch: beyond that, while sending
    /// lags, signups queue their rows for the claimer.
    pub fn handover(&mut self) -> Handover {
        let (handover, handed) = crate::signup::handover_channel(self.id, self.lease_secs, self.batch_size);
        self.handed = Some(handed);
        handover
    }

    /// The scheduler reads the time from `clock` instead of the system's (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends until `shutdown`, then stops within the send timeout plus [`WIND_DOWN`] whatever the
    /// load: claiming stops and unstarted rows are handed back at once, sends in flight get
    /// their send timeout (plus a second), outcomes get what is left of the wind-down, and rows
    /// still held after that are handed back (or, if the database cannot be reached, left to
    /// their leases). Each stage says in the log what it waits for.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(worker = %self.id, concurrency = self.concurrency, "worker started");
        let handed = self.handed.take();
        let worker = Arc::new(self);
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
        if let Some(plan) = worker.plan.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let (db, clock, wake) = (worker.db.clone(), worker.clock.clone(), worker.wake.clone());
            chores.spawn(schedules::run(db, plan, clock, wake, shutdown.clone()));
        }
        chores.spawn(webhooks::run(worker.db.clone(), worker.webhooks.clone(), shutdown.clone()));
        if !worker.feeds.0.is_empty() {
            let (urls, every, policy) = worker.feeds.clone();
            chores.spawn(feeds::poll(worker.db.clone(), urls, every, policy, shutdown.clone()));
        }
        // Claiming runs ahead of sending: while a batch is sent, the next is claimed and its
        // tokens stored, so the send slots never wait on those round trips.
        let (ready, jobs) = mpsc::channel::<Job>(worker.batch_size);
        let mut claimer = JoinSet::new();
        if let Some(handed) = handed {
            claimer.spawn(worker.clone().handed_loop(handed, ready.clone(), outcomes.clone(), shutdown.clone()));
        }
        claimer.spawn(worker.clone().claim_loop(ready, outcomes.clone(), shutdown.clone()));
        let jobs = Arc::new(send::Jobs::new(jobs));
        let pace = Arc::new(send::Pace::new());
        let mut sends = JoinSet::new();
        for _ in 0..worker.concurrency.max(1) {
            let (worker, jobs, pace, outcomes) = (worker.clone(), jobs.clone(), pace.clone(), outcomes.clone());
            sends.spawn(worker.lane(jobs, pace, outcomes, shutdown.clone()));
        }
        shutdown.cancelled().await;

        let stopping = Instant::now();
        let sends_end = stopping + worker.send_timeout + Duration::from_secs(1);
        let all_end = sends_end + WIND_DOWN;
        tracing::info!(
            in_flight = METRICS.in_flight.get(),
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
        let unstarted: Vec<i64> = jobs.drain().await.into_iter().map(|job| job.id).collect();
        if !unstarted.is_empty() {
            tracing::info!(rows = unstarted.len(), "worker stopping: handing back rows not yet started");
            let _ = tokio::time::timeout_at(sends_end.into(), worker.release(&unstarted)).await;
        }
        if !sends.is_empty() {
            tracing::info!(lanes = sends.len(), "worker stopping: waiting for the send lanes to finish their messages");
        }
        if tokio::time::timeout_at(sends_end.into(), async { while sends.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(lanes = sends.len(), "worker stopping: sends did not finish in time; abandoning them");
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

/// A claimed row ready to go: its tokens are minted, its message not yet rendered.
struct Job {
    id: i64,
    delivery: Claimed,
    /// The digest rendered as far as it can be without the recipient; `None` for a confirmation.
    view: Option<Arc<DigestView>>,
    minted: Minted,
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
