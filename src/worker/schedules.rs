//! The scheduler chore: starts scheduled digests when their time comes, sends a digest at each
//! tick of `digests.schedule`, and queues the reminders to confirm. Every worker runs it; each
//! step is a transaction that claims its work (`SKIP LOCKED` rows, a unique row per tick), so
//! however many run, each thing happens once. It reads the time from a [`Clock`] that tests set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::Schedule;
use crate::ops::digests::{self as ops, Tick};
use crate::store::{digests, lifecycle, lists};

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
    /// `digests.schedule`: the default list's, unless that list has one of its own.
    pub schedule: Option<Schedule>,
    /// `digests.timezone`, in which every list's schedule runs.
    pub timezone: String,
    pub max_lateness: chrono::Duration,
    /// `subscriptions.reminder_after_hours` in seconds; `None` when 0 (off).
    pub reminder_after_secs: Option<f64>,
    /// `limits.confirmation_mails_per_address_per_day`, which reminders count in.
    pub daily_cap: i64,
    /// `subscriptions.token_ttl_hours` in seconds: a reminder goes only while the first link works.
    pub token_ttl_secs: f64,
}

pub async fn run(db: PgPool, plan: Plan, clock: Clock, wake: Arc<Notify>, shutdown: CancellationToken) {
    // The last tick handled per list, so a tick is tried once per worker even when it sent nothing.
    let mut last_tick: HashMap<i32, DateTime<Utc>> = HashMap::new();
    let mut pass: u32 = 0;
    while !shutdown.is_cancelled() {
        let now = clock.now();
        start_scheduled(&db, now, &wake).await;
        for (list, schedule) in list_schedules(&db, &plan).await {
            let Some(tick) = schedule.due(now, plan.max_lateness).filter(|t| last_tick.get(&list) != Some(t)) else {
                continue;
            };
            match ops::run_tick(&db, &plan.newsletter, list, tick).await {
                Ok(Tick::Sent(created)) => {
                    tracing::info!(%tick, list, digest = %created.id, recipients = created.recipients, "scheduled digest queued");
                    wake.notify_one();
                    last_tick.insert(list, tick);
                }
                Ok(Tick::NothingNew) => {
                    tracing::info!(%tick, list, "schedule tick: no new articles, no digest");
                    last_tick.insert(list, tick);
                }
                Ok(Tick::AlreadyHandled) => {
                    last_tick.insert(list, tick);
                }
                Err(e) => tracing::warn!(error = %e, %tick, list, "schedule tick failed; trying again"),
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

/// Each list that has a schedule, with it: its own (`lists.schedule`), or for the default list
/// `digests.schedule` when it has none. A schedule that no longer parses (edited in the
/// database by hand) is skipped with a warning; the API and the CLI refuse such a schedule.
async fn list_schedules(db: &PgPool, plan: &Plan) -> Vec<(i32, Schedule)> {
    let rows = match lists::scheduled(db).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "reading the lists' schedules failed; trying again");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for row in rows {
        match (row.schedule.as_deref(), row.is_default) {
            (Some(cron), _) => match Schedule::parse(cron, &plan.timezone) {
                Ok(schedule) => out.push((row.id, schedule)),
                Err(e) => tracing::warn!(list = row.id, error = %e, "a list's schedule is not valid; skipped"),
            },
            (None, true) => {
                if let Some(schedule) = &plan.schedule {
                    out.push((row.id, schedule.clone()));
                }
            }
            (None, false) => {}
        }
    }
    out
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
