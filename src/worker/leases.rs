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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::deliveries;

pub struct Leases {
    worker: Uuid,
    lease: Duration,
    /// How often the keeper renews.
    every: Duration,
    /// Held row → the moment its lease runs out as far as this worker can be sure (measured from
    /// before the statement that set it, so never later than the database's own).
    held: Mutex<HashMap<i64, Instant>>,
}

impl Leases {
    /// `slack` is the lease less the send timeout: renewing three times within it leaves every
    /// held row at least the send timeout plus a third of the slack, so a row can always be
    /// started unless renewals have been failing.
    pub fn new(worker: Uuid, lease: Duration, send_timeout: Duration) -> Self {
        let slack = lease.saturating_sub(send_timeout);
        let every = (lease / 3).min(slack / 3).max(Duration::from_millis(50));
        Self { worker, lease, every, held: Mutex::new(HashMap::new()) }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Instant>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rows just claimed; `claimed_at` was taken before the claim statement.
    pub fn hold(&self, ids: impl IntoIterator<Item = i64>, claimed_at: Instant) {
        let until = claimed_at + self.lease;
        self.map().extend(ids.into_iter().map(|id| (id, until)));
    }

    /// Rows whose outcome is written, or that were handed back: no longer ours.
    pub fn let_go(&self, ids: impl IntoIterator<Item = i64>) {
        let mut held = self.map();
        for id in ids {
            held.remove(&id);
        }
    }

    /// How long the lease of a held row is certain to last from now (zero if it is not held).
    pub fn remaining(&self, id: i64) -> Duration {
        self.map().get(&id).map_or(Duration::ZERO, |until| until.saturating_duration_since(Instant::now()))
    }

    pub fn count(&self) -> usize {
        self.map().len()
    }

    pub fn ids(&self) -> Vec<i64> {
        self.map().keys().copied().collect()
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
        let ids = self.ids();
        if ids.is_empty() {
            return;
        }
        let started = Instant::now();
        // A renewal that takes longer than a renewal period is no use to rows it was meant for.
        let renewed =
            tokio::time::timeout(self.lease, deliveries::renew(db, self.worker, &ids, self.lease.as_secs_f64())).await;
        match renewed {
            Ok(Ok(renewed)) => {
                let until = started + self.lease;
                let mut held = self.map();
                for id in renewed {
                    if let Some(deadline) = held.get_mut(&id) {
                        *deadline = until;
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, rows = ids.len(), "renewing leases failed; trying again"),
            Err(_) => tracing::warn!(rows = ids.len(), "renewing leases took longer than a lease; trying again"),
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
