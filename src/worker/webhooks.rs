//! The webhook chore: delivers the queued event messages (`store::webhook_messages`) to their
//! endpoints, signed (`ops::webhooks::post`), at least once.
//!
//! Deliveries run side by side, at most `webhooks.concurrency` at once and at most half of that
//! for any one endpoint, so an endpoint that hangs until the timeout holds up only its own
//! messages, never another endpoint's, and never signups or mail (those neither wait for this
//! chore nor share its connections beyond the pool). Claims take due rows with
//! `FOR UPDATE SKIP LOCKED` and lease them; tries are written in batches, one statement each, by
//! a task of their own, so claiming never waits for a write (bench/run: written in line, between
//! claims, one endpoint got 482 events/s).
//! A 2xx is delivered; a 410 disables the endpoint; anything else (a refusal of the address, a
//! timeout, another status) is tried again with doubling, jittered delays from
//! `webhooks.retry_base_secs` until `webhooks.retry_hours` after the event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
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
/// After a claim that found only a few due rows, the next waits this long: events
/// that arrive at a trickle (one per signup) are then taken a few dozen a claim rather than one
/// or two, and each claim is a statement. bench/run, signups with an endpoint for
/// `subscriber.created`: claims came every second or third event, and Postgres's CPU per signup
/// was three times the plain signup's.
const CLAIM_GAP: Duration = Duration::from_millis(25);
/// Tries are written once this many are waiting, or `RECORD_WAIT` after the first. Nothing waits
/// on a try's record (its row stays leased until then), and at a trickle of events a write every
/// 5 ms was most of the statements the chore made.
const RECORD_BATCH: usize = 128;
const RECORD_WAIT: Duration = Duration::from_millis(25);
/// Tries waiting for the recorder; past this, ending tries wait (and with them claiming).
const RECORD_QUEUE: usize = 1024;
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
    let per_endpoint = (concurrency / 2).max(1);
    // Claims wait for a few free slots rather than one: each claim is a statement.
    let claim_at = (per_endpoint / 2).clamp(1, 16);
    // A lease outlasts a try by far, so a row is never claimed twice while its try runs.
    let lease_secs = chore.plan.settings.timeout_secs * 3.0 + 30.0;
    // Tries are written by a task of their own, so claiming never waits for a write.
    let (record, recorded) = mpsc::channel::<Tried>(RECORD_QUEUE);
    let recorder = tokio::spawn(recorder(db.clone(), recorded));
    let mut flying: JoinSet<Tried> = JoinSet::new();
    let mut per: HashMap<Uuid, usize> = HashMap::new();
    // Tries ended since a claim found less than it could take: claiming again before a few have
    // ended would mostly find endpoints still at their share (one statement per message).
    let mut ended = usize::MAX;
    let (mut digests_at, mut trimmed_at) = (Instant::now(), Instant::now());
    // The earliest the next claim may run (see `CLAIM_GAP`).
    let mut claim_after = Instant::now();
    loop {
        while let Some(done) = flying.try_join_next() {
            ended = ended.saturating_add(1);
            finished(done, &mut per, &record).await;
        }
        if shutdown.is_cancelled() {
            break;
        }
        let free = concurrency.saturating_sub(flying.len());
        let mut claimed_all = false;
        let gap_over = Instant::now() >= claim_after;
        if free > 0 && gap_over && (flying.is_empty() || (free >= claim_at && ended >= claim_at)) {
            let (used_ids, used): (Vec<Uuid>, Vec<i64>) =
                per.iter().map(|(id, n)| (*id, i64::try_from(*n).unwrap_or(i64::MAX))).unzip();
            let limit = i64::try_from(free).unwrap_or(i64::MAX);
            let per_limit = i64::try_from(per_endpoint).unwrap_or(i64::MAX);
            match webhook_messages::claim(&db, limit, lease_secs, per_limit, &used_ids, &used).await {
                Ok(claimed) => {
                    claimed_all = claimed.len() == free;
                    if !claimed_all {
                        ended = 0;
                    }
                    // Few were due: wait for more to gather (a claim that took a share's worth
                    // may have left more behind, and goes on as before).
                    if claimed.len() < claim_at {
                        claim_after = Instant::now() + CLAIM_GAP;
                    }
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
        // A full claim may have left more due rows behind; otherwise wait for a try to end (a
        // slot), the poll (rows that came due since), or the stop.
        if claimed_all {
            continue;
        }
        tokio::select! {
            Some(done) = flying.join_next(), if !flying.is_empty() => {
                ended = ended.saturating_add(1);
                finished(done, &mut per, &record).await;
            }
            // The gap after a short claim is over: rows may have come due meanwhile.
            () = tokio::time::sleep_until(claim_after.into()), if !gap_over && free > 0 => ended = usize::MAX,
            () = tokio::time::sleep(POLL) => ended = usize::MAX,
            () = shutdown.cancelled() => {}
        }
    }
    // Stopping: tries in flight end within the timeout; what they answered is written, and rows
    // never tried are left to their leases (the next worker takes them).
    let deadline = Instant::now() + chore.plan.settings.timeout() + Duration::from_secs(1);
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline.into(), flying.join_next()).await {
        finished(done, &mut per, &record).await;
    }
    flying.abort_all();
    drop(record);
    let _ = tokio::time::timeout_at((deadline + Duration::from_secs(2)).into(), recorder).await;
}

/// A try has ended: its slot is free, and its outcome goes to the recorder.
async fn finished(
    done: Result<Tried, tokio::task::JoinError>,
    per: &mut HashMap<Uuid, usize>,
    record: &mpsc::Sender<Tried>,
) {
    if let Ok(tried) = done {
        settle(per, tried.endpoint_id);
        // Only when the recorder has stopped (it never does first): the lease brings the row back.
        let _ = record.send(tried).await;
    }
}

/// Writes tries in batches: what has arrived, once `RECORD_BATCH` are waiting or `RECORD_WAIT`
/// after the first. A write that fails leaves those rows to their leases (sent again, at least
/// once).
async fn recorder(db: PgPool, mut tries: mpsc::Receiver<Tried>) {
    while let Some(first) = tries.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + RECORD_WAIT;
        while batch.len() < RECORD_BATCH {
            match tokio::time::timeout_at(until, tries.recv()).await {
                Ok(Some(tried)) => batch.push(tried),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(e) = webhook_messages::record(&db, &batch).await {
            tracing::warn!(error = %e, tries = batch.len(), "webhooks: cannot record tries");
        }
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
