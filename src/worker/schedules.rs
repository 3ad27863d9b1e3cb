//! The scheduler chore: starts scheduled digests when their time comes, sends a digest at each
//! tick of `digests.schedule`, and queues the reminders to confirm. Every worker runs it; each
//! step is a transaction that claims its work (`SKIP LOCKED` rows, a unique row per tick), so
//! however many run, each thing happens once. It reads the time from a [`Clock`] that tests set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::Schedule;
use crate::ops::digests::{self as ops, Tick};
use crate::store::{digests, lifecycle};

/// How often the scheduler looks: a scheduled digest starts at most this late.
const EVERY: Duration = Duration::from_secs(1);
/// Reminders are looked for less often: they are hours late by design.
const REMINDERS_EVERY: u32 = 5;

/// What time the scheduler thinks it is: the system's, or one a test sets and moves.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `at` until [`Clock::set`] moves it.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(Mutex::new(at))))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(time) = &self.0 {
            *time.lock().unwrap_or_else(|p| p.into_inner()) = at;
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Some(time) => *time.lock().unwrap_or_else(|p| p.into_inner()),
            None => Utc::now(),
        }
    }
}

/// What the scheduler does, from the settings.
pub struct Plan {
    pub newsletter: String,
    pub schedule: Option<Schedule>,
    pub max_lateness: chrono::Duration,
    /// `subscriptions.reminder_after_hours` in seconds; `None` when 0 (off).
    pub reminder_after_secs: Option<f64>,
    /// `limits.confirmation_mails_per_address_per_day`, which reminders count in.
    pub daily_cap: i64,
    /// `subscriptions.token_ttl_hours` in seconds: a reminder goes only while the first link works.
    pub token_ttl_secs: f64,
}

pub async fn run(db: PgPool, plan: Plan, clock: Clock, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut last_tick = None;
    let mut pass: u32 = 0;
    while !shutdown.is_cancelled() {
        let now = clock.now();
        start_scheduled(&db, now, &wake).await;
        if let Some(schedule) = &plan.schedule {
            if let Some(tick) = schedule.due(now, plan.max_lateness).filter(|t| Some(*t) != last_tick) {
                match ops::run_tick(&db, &plan.newsletter, tick).await {
                    Ok(Tick::Sent(created)) => {
                        tracing::info!(%tick, digest = %created.id, recipients = created.recipients, "scheduled digest queued");
                        wake.notify_one();
                        last_tick = Some(tick);
                    }
                    Ok(Tick::NothingNew) => {
                        tracing::info!(%tick, "schedule tick: no new articles, no digest");
                        last_tick = Some(tick);
                    }
                    Ok(Tick::AlreadyHandled) => last_tick = Some(tick),
                    Err(e) => tracing::warn!(error = %e, %tick, "schedule tick failed; trying again"),
                }
            }
        }
        if let Some(after) = plan.reminder_after_secs {
            if pass % REMINDERS_EVERY == 0 {
                match lifecycle::queue_reminders(&db, now, after, plan.token_ttl_secs, plan.daily_cap).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(reminders = n, "reminders to confirm queued");
                        wake.notify_one();
                    }
                    Err(e) => tracing::warn!(error = %e, "queueing reminders failed; trying again later"),
                }
            }
        }
        pass = pass.wrapping_add(1);
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {},
            () = shutdown.cancelled() => return,
        }
    }
}

/// Starts every scheduled digest that is due, one transaction each.
async fn start_scheduled(db: &PgPool, now: DateTime<Utc>, wake: &Notify) {
    loop {
        match digests::start_due(db, now).await {
            Ok(Some((id, recipients))) => {
                tracing::info!(digest = %id, recipients, "scheduled digest started");
                wake.notify_one();
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "starting scheduled digests failed; trying again");
                return;
            }
        }
    }
}
