//! Confirmations handed straight to the in-process worker.
//!
//! A signup served by a process that also runs the worker inserts its confirmation's delivery
//! row already leased to that worker (as a claim would have left it: `locked_by`, `locked_until`
//! at the end of the lease, one attempt counted) and passes the row to the
//! worker over a channel. The worker never has to find it: no claim statement, no empty claim and
//! no look for the next due row after it, which at a steady trickle of signups were three of the
//! five statements each signup cost Postgres.
//!
//! The row is in the table, leased, before anyone is told of it, so a crash loses nothing: the
//! lease runs out and any worker claims the row as it would a crashed worker's claim. When the
//! channel is full (sending lags behind signups) or the worker has stopped, the signup queues
//! its row unleased and wakes the claimer instead, as a process without a worker always does.

use std::time::Instant;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::Signup;
use crate::store::deliveries::Claimed;
use crate::store::signups::Done;

/// A delivery inserted already leased to the worker that receives it.
#[derive(Debug)]
pub struct Handed {
    pub delivery: Claimed,
    /// Taken before the inserting statement, so the worker's view of the lease errs short.
    pub leased_at: Instant,
}

/// The signup side of the channel to the in-process worker.
#[derive(Clone, Debug)]
pub struct Handover {
    worker: Uuid,
    lease_secs: f64,
    tx: mpsc::Sender<Handed>,
}

/// A place in the channel, taken before the signup's statement runs: a row is leased only when
/// it is certain to reach the worker at once. The statement and the handing over must not be
/// separated by a cancellation (a client hanging up drops its request's future): the signup runs
/// them in a task of its own. A slot dropped unused frees its place.
pub struct Slot {
    permit: mpsc::OwnedPermit<Handed>,
    worker: Uuid,
    lease_secs: f64,
    leased_at: Instant,
}

/// The channel from signups to the worker `worker`, whose leases last `lease_secs`.
pub fn handover_channel(worker: Uuid, lease_secs: f64, capacity: usize) -> (Handover, mpsc::Receiver<Handed>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Handover { worker, lease_secs, tx }, rx)
}

impl Handover {
    /// A place for one row, if the worker is running and has room. Tests hold one to show a
    /// full channel or a stopped worker.
    pub fn reserve(&self) -> Option<Slot> {
        let permit = self.tx.clone().try_reserve_owned().ok()?;
        Some(Slot { permit, worker: self.worker, lease_secs: self.lease_secs, leased_at: Instant::now() })
    }
}

impl Slot {
    /// The lease a row for this slot's worker is inserted with: (worker, seconds).
    pub fn lease(&self) -> (Uuid, f64) {
        (self.worker, self.lease_secs)
    }
}

/// Hands the queued confirmation to the worker that holds `slot`, if the row was leased to it.
pub fn hand_over(done: Done, slot: Option<Slot>) -> Signup {
    let (subscriber_id, status, queued) = (done.subscriber_id, done.status, done.delivery.is_some());
    match (done.into_claimed(), slot) {
        (Some(delivery), Some(slot)) => {
            slot.permit.send(Handed { delivery, leased_at: slot.leased_at });
            Signup { subscriber_id, status, queued, handed_over: true }
        }
        _ => Signup { subscriber_id, status, queued, handed_over: false },
    }
}
