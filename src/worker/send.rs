//! Sending: `concurrency` lanes, each a task with one SMTP session (`mail::Lane`) that takes
//! jobs from the queue one after another, renders each for its recipient, sends it under the
//! send timeout and classifies the outcome (sent, retry with backoff, postponed during an outage,
//! failed for good). A lane with its next job already queued writes that job's envelope behind
//! the current message (see `mail::lane`): one round trip per message.
//!
//! Lanes instead of a task per message: a message no longer waits for a dispatcher to start a
//! task for it, and a session is never handed between tasks.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::record::Outcomes;
use super::{Job, RetryPolicy, Worker};
use crate::mail::{BuiltMessage, Links, Next, Recipient, SendError};
use crate::store::deliveries::{Claimed, DeliveryKind, Outcome};
use crate::telemetry::metrics::{self, METRICS};

/// The queue of jobs between the claimers and the lanes, shared by the lanes.
pub(super) struct Jobs(Mutex<mpsc::Receiver<Job>>);

impl Jobs {
    pub(super) fn new(jobs: mpsc::Receiver<Job>) -> Self {
        Self(Mutex::new(jobs))
    }

    async fn next(&self) -> Option<Job> {
        self.0.lock().await.recv().await
    }

    /// A job if one is queued now, without waiting (nor for a lane that waits for one).
    fn ready(&self) -> Option<Job> {
        self.0.try_lock().ok()?.try_recv().ok()
    }

    /// At shutdown, once the lanes take no more: what is still queued.
    pub(super) async fn drain(&self) -> Vec<Job> {
        let mut jobs = self.0.lock().await;
        jobs.close();
        let mut left = Vec::new();
        while let Some(job) = jobs.recv().await {
            left.push(job);
        }
        left
    }
}

/// The spacing of sends of a rate-capped worker, shared by its lanes: each send reserves the next
/// free slot.
pub(super) struct Pace(std::sync::Mutex<Instant>);

impl Pace {
    pub(super) fn new() -> Self {
        Self(std::sync::Mutex::new(Instant::now()))
    }

    fn reserve(&self, spacing: Duration) -> Instant {
        let mut next = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = (*next).max(Instant::now());
        *next = at + spacing;
        at
    }
}

/// A job with its message, ready to go.
struct Ready {
    job: Job,
    message: BuiltMessage,
}

impl Worker {
    /// One lane, until shutdown or until the queue closes. Jobs it took but did not send are
    /// handed back.
    pub(super) async fn lane(
        self: Arc<Self>,
        jobs: Arc<Jobs>,
        pace: Arc<Pace>,
        outcomes: Outcomes,
        shutdown: CancellationToken,
    ) {
        let mut lane = self.transport.lane();
        // Taken and built, not yet sent: the next job whose envelope went ahead (first), or one
        // that could not ride along.
        let mut ahead: VecDeque<Ready> = VecDeque::new();
        let mut may_retry_in_seven_bit = true;
        loop {
            let current = match ahead.pop_front() {
                Some(ready) => ready,
                None => {
                    let job = match jobs.ready() {
                        Some(job) if !shutdown.is_cancelled() => job,
                        Some(job) => {
                            self.release(&[job.id]).await;
                            break;
                        }
                        None => {
                            lane.park();
                            tokio::select! {
                                biased;
                                () = shutdown.cancelled() => break,
                                job = jobs.next() => match job {
                                    Some(job) => job,
                                    None => break,
                                },
                            }
                        }
                    };
                    if let Some(spacing) = self.spacing {
                        let at = pace.reserve(spacing);
                        tokio::select! {
                            () = tokio::time::sleep_until(at.into()) => {},
                            () = shutdown.cancelled() => {
                                self.release(&[job.id]).await;
                                break;
                            }
                        }
                    }
                    match self.ready(job, &outcomes).await {
                        Some(ready) => ready,
                        None => continue,
                    }
                }
            };
            // The next job rides along only when it is queued already (never wait for one) and
            // the worker is not rate-capped (its sends are spaced anyway).
            let mut next = None;
            if ahead.is_empty() && self.spacing.is_none() && lane.pipelines() && !shutdown.is_cancelled() {
                while let Some(job) = jobs.ready() {
                    if let Some(ready) = self.ready(job, &outcomes).await {
                        next = Some(ready);
                        break;
                    }
                }
            }
            let started = Instant::now();
            METRICS.in_flight.inc();
            let sent = tokio::time::timeout(
                self.send_timeout,
                lane.send(&current.message, next.as_ref().map(|n: &Ready| &n.message)),
            )
            .await;
            METRICS.observe_smtp(started.elapsed());
            METRICS.in_flight.dec();
            let (sent, next_state) = match sent {
                Ok((sent, next_state)) => (Ok(sent), next_state),
                Err(elapsed) => {
                    lane.reset();
                    (Err(elapsed), Next::NotSent)
                }
            };
            // Nothing was sent: the server lacks 8BITMIME. Every message from now on is built
            // with 7-bit bodies, and this one goes again at once.
            if may_retry_in_seven_bit && matches!(sent, Ok(Err(SendError::NeedsSevenBit))) {
                tracing::info!("the mail server does not offer 8BITMIME; sending bodies base64-encoded from now on");
                self.composer.use_seven_bit();
                may_retry_in_seven_bit = false;
                for ready in std::iter::once(current).chain(next) {
                    if let Some(rebuilt) = self.ready(ready.job, &outcomes).await {
                        ahead.push_back(rebuilt);
                    }
                }
                continue;
            }
            let outcome = self.classify_send(&current.job, &current.message, sent);
            self.report(current.job.id, outcome, &outcomes).await;
            if let Some(next) = next {
                match next_state {
                    Next::Opened | Next::NotSent => ahead.push_front(next),
                    Next::Refused(refusal) => {
                        let outcome = self.classify_send(&next.job, &next.message, Ok(Err(refusal)));
                        self.report(next.job.id, outcome, &outcomes).await;
                    }
                }
            }
        }
        let unsent: Vec<i64> = ahead.iter().map(|r| r.job.id).collect();
        self.release(&unsent).await;
        lane.close();
    }

    /// A job's message, or `None` if it is not to be sent after all: its lease is too short (a
    /// row gets here only while renewals fail, the database unreachable: it is handed back), or
    /// it cannot be built (its outcome is recorded).
    async fn ready(&self, job: Job, outcomes: &Outcomes) -> Option<Ready> {
        // A row whose lease could run out before its send ends would be claimed by another worker
        // and sent twice.
        if self.leases.remaining(job.id) < self.min_lease {
            tracing::info!(delivery = job.id, "this row's lease is too short to start a send; handing it back");
            self.release(&[job.id]).await;
            return None;
        }
        match self.build(&job) {
            Ok(message) => Some(Ready { job, message }),
            Err(e) => {
                let outcome = self.cannot_build(&job.delivery, &e);
                self.report(job.id, outcome, outcomes).await;
                None
            }
        }
    }

    fn build(&self, job: &Job) -> anyhow::Result<BuiltMessage> {
        let to = Recipient {
            email: &job.delivery.email,
            name: job.delivery.name.as_deref(),
            delivery: job.id,
            attributes: job.delivery.attributes.as_deref(),
            locale: self.composer.locale_of(job.delivery.locale.as_deref()),
        };
        let links = Links { unsubscribe: &job.minted.unsubscribe, preferences: &job.minted.preferences };
        match (job.delivery.kind, &job.view, &job.minted.confirm) {
            (DeliveryKind::Digest, Some(view), _) => self.composer.digest(view, to, links),
            (DeliveryKind::Confirmation, _, Some(confirm)) => self.composer.confirmation(to, confirm, links),
            (DeliveryKind::Reminder, _, Some(confirm)) => self.composer.reminder(to, confirm, links),
            (DeliveryKind::Welcome, _, _) => self.composer.welcome(to, links),
            (kind, _, _) => Err(anyhow::anyhow!("a {kind:?} delivery without what it needs (digest or token)")),
        }
    }

    /// Counts the outcome and hands it to the recorder (waiting while it is behind, which holds
    /// this lane: back-pressure).
    async fn report(&self, id: i64, outcome: Outcome, outcomes: &Outcomes) {
        let counters = &METRICS;
        metrics::inc(match &outcome {
            Outcome::Sent { .. } => &counters.sent,
            Outcome::Retry { .. } | Outcome::Postponed { .. } => &counters.retried,
            Outcome::Failed { .. } => &counters.failed,
            Outcome::Bounced { .. } => &counters.bounced_at_send,
            Outcome::Skipped { .. } => &counters.skipped,
        });
        let _ = outcomes.send((id, outcome)).await;
    }

    /// A message that could not be put together (a template error, an address lettre refuses):
    /// retried like a transient failure, so a fixed template sends it.
    pub(super) fn cannot_build(&self, delivery: &Claimed, e: &anyhow::Error) -> Outcome {
        tracing::error!(
            delivery = delivery.id,
            error = crate::telemetry::without_addresses(&format!("{e:#}")),
            "cannot build message"
        );
        retry_or_fail(self.retry, delivery.attempts, format!("cannot build message: {e:#}"))
    }

    pub(super) fn classify_send(
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
            // A hard bounce: the recipient's server will not take mail for them. The delivery
            // fails and the subscriber is marked bounced in the same write.
            Ok(Err(SendError::Rejected(reply))) => {
                let logged = crate::telemetry::without_addresses(&reply);
                tracing::warn!(delivery = job.id, digest = ?digest, reply = logged, "recipient refused for good: a hard bounce");
                Outcome::Bounced { error: reply }
            }
            // Still no 8BITMIME after the message was rebuilt in 7-bit: cannot happen with our
            // encoder; retried like any transient failure if it does.
            Ok(Err(SendError::NeedsSevenBit)) => {
                retry_or_fail(retry, attempts, "the server does not accept 8-bit bodies".to_owned())
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
