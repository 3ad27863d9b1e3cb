//! Sending: one task per message, rendered for its recipient, sent under the send timeout, its
//! outcome classified (sent, retry with backoff, postponed during an outage, failed for good).

use std::time::Instant;

use super::{Job, RetryPolicy, Worker};
use crate::mail::{BuiltMessage, Recipient, SendError};
use crate::store::deliveries::{Claimed, DeliveryKind, Outcome};
use crate::telemetry::metrics::{self, METRICS};

impl Worker {
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

    pub(super) async fn render_and_send(&self, job: &Job) -> Outcome {
        let mut may_retry_in_seven_bit = true;
        loop {
            let to = Recipient { email: &job.delivery.email, name: job.delivery.name.as_deref(), delivery: job.id };
            let unsubscribe = &job.minted.unsubscribe;
            let built = match (job.delivery.kind, &job.view, &job.minted.confirm) {
                (DeliveryKind::Digest, Some(view), _) => self.composer.digest(view, to, unsubscribe),
                (DeliveryKind::Confirmation, _, Some(confirm)) => self.composer.confirmation(to, confirm, unsubscribe),
                (DeliveryKind::Reminder, _, Some(confirm)) => self.composer.reminder(to, confirm, unsubscribe),
                (DeliveryKind::Welcome, _, _) => self.composer.welcome(to, unsubscribe),
                (kind, _, _) => Err(anyhow::anyhow!("a {kind:?} delivery without what it needs (digest or token)")),
            };
            let message = match built {
                Ok(message) => message,
                Err(e) => return self.cannot_build(&job.delivery, &e),
            };
            let sent = self.timed_send(&message).await;
            // Nothing was sent: the server lacks 8BITMIME. Every message from now on is built
            // with 7-bit bodies, and this one goes again at once.
            if may_retry_in_seven_bit && matches!(sent, Ok(Err(SendError::NeedsSevenBit))) {
                tracing::info!("the mail server does not offer 8BITMIME; sending bodies base64-encoded from now on");
                self.composer.use_seven_bit();
                may_retry_in_seven_bit = false;
                continue;
            }
            let outcome = self.classify_send(job, &message, sent);
            let counters = &METRICS;
            metrics::inc(match &outcome {
                Outcome::Sent { .. } => &counters.sent,
                Outcome::Retry { .. } | Outcome::Postponed { .. } => &counters.retried,
                Outcome::Failed { .. } => &counters.failed,
                Outcome::Bounced { .. } => &counters.bounced_at_send,
                Outcome::Skipped { .. } => &counters.skipped,
            });
            return outcome;
        }
    }

    async fn timed_send(&self, message: &BuiltMessage) -> Result<Result<(), SendError>, tokio::time::error::Elapsed> {
        let counters = &METRICS;
        counters.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let sent = tokio::time::timeout(
            self.send_timeout,
            self.transport.send(&message.envelope, &message.bytes, message.dot_stuffed),
        )
        .await;
        counters.observe_smtp(started.elapsed());
        counters.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        sent
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
