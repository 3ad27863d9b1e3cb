//! The webhook chore: delivers the queued event messages (`store::webhook_messages`) to their
//! endpoints, signed (`ops::webhooks::post`), at least once.
//!
//! Deliveries run side by side, at most `webhooks.concurrency` at once and at most a quarter of
//! that for any one endpoint, so an endpoint that hangs until the timeout holds up only its own
//! messages, never another endpoint's, and never signups or mail (those neither wait for this
//! chore nor share its connections beyond the pool). Claims take due rows with
//! `FOR UPDATE SKIP LOCKED` and lease them; tries are written in batches, one statement each.
//! A 2xx is delivered; a 410 disables the endpoint; anything else (a refusal of the address, a
//! timeout, another status) is tried again with doubling, jittered delays from
//! `webhooks.retry_base_secs` until `webhooks.retry_hours` after the event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::WebhookSettings;
use crate::domain::WebhookSecret;
use crate::ops::feeds::{FetchPolicy, webhook_client};
use crate::ops::webhooks::post::{self, Answer};
use crate::store::webhook_messages::{self, Claimed, Outcome, Tried};
use crate::store::webhooks::ATTEMPTS_KEPT;

/// How often an idle chore looks for due messages.
const POLL: Duration = Duration::from_millis(500);
/// Tries are written once this many are waiting, or after `RECORD_WAIT`.
const RECORD_BATCH: usize = 128;
const RECORD_WAIT: Duration = Duration::from_millis(20);
/// Finished digests are looked for this often; attempts are trimmed and old messages purged less.
const DIGESTS_EVERY: Duration = Duration::from_secs(2);
const TRIM_EVERY: Duration = Duration::from_secs(300);
/// Delivered and failed messages are kept this long (for support questions), then purged.
const KEEP_SETTLED_DAYS: f64 = 7.0;
/// No retry waits longer than this, however many came before.
const MAX_DELAY: Duration = Duration::from_secs(2 * 3600);

/// What the chore needs, from the settings.
#[derive(Clone)]
pub struct Plan {
    pub settings: WebhookSettings,
    /// The newsletter's name: the list `subscriber.unsubscribed` names.
    pub list: String,
}

pub async fn run(db: PgPool, plan: Plan, shutdown: CancellationToken) {
    let policy = FetchPolicy::for_webhooks(plan.settings.allow_private);
    let client = match webhook_client(policy, plan.settings.timeout()) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; no webhooks will be delivered");
            return;
        }
    };
    let chore = Arc::new(Chore { client, policy, plan });
    let concurrency = chore.plan.settings.concurrency;
    let per_endpoint = (concurrency / 4).max(1);
    // A lease outlasts a try by far, so a row is never claimed twice while its try runs.
    let lease_secs = chore.plan.settings.timeout_secs * 3.0 + 30.0;
    let mut flying: JoinSet<Tried> = JoinSet::new();
    let mut per: HashMap<Uuid, usize> = HashMap::new();
    let mut tried: Vec<Tried> = Vec::new();
    let mut oldest_unwritten: Option<Instant> = None;
    let (mut digests_at, mut trimmed_at) = (Instant::now(), Instant::now());
    loop {
        while let Some(done) = flying.try_join_next() {
            if let Ok(t) = done {
                settle(&mut per, t.endpoint_id);
                oldest_unwritten.get_or_insert_with(Instant::now);
                tried.push(t);
            }
        }
        let write_now = !tried.is_empty()
            && (tried.len() >= RECORD_BATCH
                || flying.is_empty()
                || oldest_unwritten.is_some_and(|t| t.elapsed() >= RECORD_WAIT));
        if write_now {
            if let Err(e) = webhook_messages::record(&db, &tried).await {
                // Their leases bring them back: sent again, at least once.
                tracing::warn!(error = %e, tries = tried.len(), "webhooks: cannot record tries");
            }
            tried.clear();
            oldest_unwritten = None;
        }
        if shutdown.is_cancelled() {
            break;
        }
        let free = concurrency.saturating_sub(flying.len());
        let mut claimed_any = false;
        // Claim in batches, not for every slot that frees up: each claim is a statement.
        if free > 0 && (free >= per_endpoint.min(8) || flying.is_empty()) {
            let (used_ids, used): (Vec<Uuid>, Vec<i64>) =
                per.iter().map(|(id, n)| (*id, i64::try_from(*n).unwrap_or(i64::MAX))).unzip();
            let limit = i64::try_from(free).unwrap_or(i64::MAX);
            let per_limit = i64::try_from(per_endpoint).unwrap_or(i64::MAX);
            match webhook_messages::claim(&db, limit, lease_secs, per_limit, &used_ids, &used).await {
                Ok(claimed) => {
                    claimed_any = !claimed.is_empty();
                    for message in claimed {
                        *per.entry(message.endpoint_id).or_default() += 1;
                        flying.spawn(chore.clone().deliver(message));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks: cannot claim messages"),
            }
        }
        if digests_at.elapsed() >= DIGESTS_EVERY {
            digests_at = Instant::now();
            if let Err(e) = webhook_messages::finish_digests(&db).await {
                tracing::warn!(error = %e, "webhooks: cannot look for finished digests");
            }
        }
        if trimmed_at.elapsed() >= TRIM_EVERY {
            trimmed_at = Instant::now();
            if let Err(e) = webhook_messages::trim(&db, ATTEMPTS_KEPT, KEEP_SETTLED_DAYS).await {
                tracing::warn!(error = %e, "webhooks: cannot trim old attempts and messages");
            }
        }
        let pause = if !tried.is_empty() {
            RECORD_WAIT
        } else if claimed_any && flying.len() < concurrency {
            Duration::ZERO
        } else {
            POLL
        };
        tokio::select! {
            Some(done) = flying.join_next(), if !flying.is_empty() => {
                if let Ok(t) = done {
                    settle(&mut per, t.endpoint_id);
                    oldest_unwritten.get_or_insert_with(Instant::now);
                    tried.push(t);
                }
            }
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
    }
    // Stopping: tries in flight end within the timeout; what they answered is written, and rows
    // never tried are left to their leases (the next worker takes them).
    let deadline = Instant::now() + chore.plan.settings.timeout() + Duration::from_secs(1);
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline.into(), flying.join_next()).await {
        if let Ok(t) = done {
            tried.push(t);
        }
    }
    flying.abort_all();
    if let Err(e) = webhook_messages::record(&db, &tried).await {
        tracing::warn!(error = %e, tries = tried.len(), "webhooks: cannot record the last tries");
    }
}

fn settle(per: &mut HashMap<Uuid, usize>, endpoint: Uuid) {
    if let Some(n) = per.get_mut(&endpoint) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per.remove(&endpoint);
        }
    }
}

struct Chore {
    client: reqwest::Client,
    policy: FetchPolicy,
    plan: Plan,
}

impl Chore {
    async fn deliver(self: Arc<Self>, message: Claimed) -> Tried {
        let answer = match (
            WebhookSecret::parse(&message.secret),
            post::body(&message.event_type, message.created_at, &message.data, &self.plan.list),
        ) {
            (Ok(secret), Ok(body)) => {
                let id = post::webhook_id(message.msg_id);
                post::post(&self.client, self.policy, &message.url, &secret, &id, body).await
            }
            (Err(why), _) | (_, Err(why)) => Answer { status: None, error: Some(why), elapsed: Duration::ZERO },
        };
        let outcome = outcome(&answer, message.attempts, message.created_at, Utc::now(), &self.plan.settings);
        if answer.gone() {
            tracing::warn!(endpoint = %message.endpoint_id, "webhooks: the endpoint answered 410 Gone; disabling it");
        } else if outcome == Outcome::Failed {
            tracing::warn!(endpoint = %message.endpoint_id, message = message.id, error = answer.error.as_deref(),
                "webhooks: giving up on a message");
        }
        Tried {
            id: message.id,
            endpoint_id: message.endpoint_id,
            event_type: message.event_type,
            status_code: answer.status.map(i32::from),
            error: answer.error.map(|e| e.chars().take(500).collect()),
            millis: i32::try_from(answer.elapsed.as_millis()).unwrap_or(i32::MAX),
            outcome,
        }
    }
}

/// What becomes of a message after a try: delivered on a 2xx; failed, with the endpoint
/// disabled, on a 410; otherwise tried again after a delay that doubles per try from
/// `retry_base_secs` (drawn from its upper half, so messages that failed together come back
/// apart), unless that would fall past `retry_hours` after the event.
fn outcome(
    answer: &Answer,
    attempts: i32,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    s: &WebhookSettings,
) -> Outcome {
    if answer.delivered() {
        return Outcome::Delivered;
    }
    if answer.gone() {
        return Outcome::Gone;
    }
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
    let full = s.retry_base().saturating_mul(1u32 << exponent).min(MAX_DELAY);
    let delay = full.mul_f64(0.5 + fastrand::f64() * 0.5);
    let deadline = created_at + chrono::Duration::from_std(s.retry_window()).unwrap_or(chrono::Duration::MAX);
    match chrono::Duration::from_std(delay) {
        Ok(d) if now + d <= deadline => Outcome::Retry { delay_secs: delay.as_secs_f64() },
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: Option<u16>) -> Answer {
        Answer { status, error: None, elapsed: Duration::ZERO }
    }

    #[test]
    fn retries_double_with_jitter_until_the_window_ends() {
        let s = WebhookSettings::default();
        let now = Utc::now();
        assert_eq!(outcome(&answer(Some(204)), 1, now, now, &s), Outcome::Delivered);
        assert_eq!(outcome(&answer(Some(410)), 1, now, now, &s), Outcome::Gone);
        for _ in 0..50 {
            let Outcome::Retry { delay_secs } = outcome(&answer(Some(500)), 1, now, now, &s) else { panic!() };
            assert!((5.0..=10.0).contains(&delay_secs), "{delay_secs}");
            let Outcome::Retry { delay_secs } = outcome(&answer(None), 3, now, now, &s) else { panic!() };
            assert!((20.0..=40.0).contains(&delay_secs), "{delay_secs}");
            let Outcome::Retry { delay_secs } = outcome(&answer(None), 40, now, now, &s) else { panic!() };
            assert!(delay_secs <= MAX_DELAY.as_secs_f64());
        }
        let old = now - chrono::Duration::hours(24);
        assert_eq!(outcome(&answer(Some(503)), 9, old, now, &s), Outcome::Failed, "past retry_hours");
    }
}
