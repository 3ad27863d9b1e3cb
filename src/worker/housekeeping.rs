//! Chores a worker does beside sending.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::signup::bots::{CHALLENGE_TTL, FORM_TOKEN_TTL};
use crate::store::{deliveries, signups, tokens};

const EVERY: Duration = Duration::from_secs(3600);
/// Deleted per statement, so no statement holds many row locks for long.
const CHUNK: i64 = 10_000;

/// Deletes long-expired stored tokens at start and then hourly. Only links mailed before signed
/// tokens have rows (nothing writes them now); once the last of those has expired, a year after
/// deploying, this finds nothing and can go with the `subscription_tokens` table. With several workers each does it; the
/// deletes are idempotent and cheap when there is nothing to do.
pub async fn run(db: PgPool, shutdown: CancellationToken) {
    loop {
        let mut purged = 0;
        while !shutdown.is_cancelled() {
            match tokens::purge_expired(&db, CHUNK).await {
                Ok(n) => {
                    purged += n;
                    if n < CHUNK as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "deleting expired tokens failed; trying again later");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::info!(tokens = purged, "expired tokens deleted");
        }
        purge_nonces(&db, &shutdown).await;
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {},
            () = shutdown.cancelled() => return,
        }
    }
}

/// Deletes the used nonces of form tokens and challenges that could no longer be presented:
/// a nonce recorded before the oldest token still good cannot come back, as its token is
/// refused for its age before its nonce is looked at.
async fn purge_nonces(db: &PgPool, shutdown: &CancellationToken) {
    // An hour's margin for clocks that disagree between processes.
    let kept = FORM_TOKEN_TTL.max(CHALLENGE_TTL) + Duration::from_secs(3600);
    let before = chrono::Utc::now() - chrono::Duration::from_std(kept).unwrap_or(chrono::Duration::days(2));
    let mut purged = 0;
    while !shutdown.is_cancelled() {
        match signups::purge_nonces(db, before, CHUNK).await {
            Ok(n) => {
                purged += n;
                if n < CHUNK as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "deleting used form nonces failed; trying again later");
                break;
            }
        }
    }
    if purged > 0 {
        tracing::info!(nonces = purged, "used form nonces deleted");
    }
}

/// How often the queue's statistics are looked at.
const STATISTICS_EVERY: Duration = Duration::from_secs(10);
/// Analyse once this many rows changed, and this share of the rows the statistics assume.
const CHANGED_ROWS: i64 = 5_000;
const CHANGED_SHARE: f64 = 0.1;
/// Vacuum once this many dead rows, and this share of the live ones, have piled up.
const DEAD_ROWS: i64 = 10_000;
const DEAD_SHARE: f64 = 0.2;

/// Keeps the delivery queue's statistics fresh and its dead rows few during bursts. Autovacuum's
/// thresholds are lowered for the queue (see the migration), but its launcher visits a database
/// only about once a minute: in `faults/run` (burst), 30 s of signups at 64 connections on a young
/// table ended with ~20,000 changes since the last analyse and ~40,000 dead rows, and autovacuum
/// had come by neither time. Looking costs one catalogue read every 10 s; with several workers
/// each looks, and the first to act resets what the others see.
pub async fn keep_statistics(db: PgPool, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(STATISTICS_EVERY) => {},
            () = shutdown.cancelled() => return,
        }
        let health = match deliveries::health(&db).await {
            Ok(health) => health,
            Err(e) => {
                tracing::debug!(error = %e, "reading the queue's statistics failed");
                continue;
            }
        };
        if health.dead >= DEAD_ROWS && health.dead as f64 >= health.live as f64 * DEAD_SHARE {
            tracing::debug!(?health, "the delivery queue has many dead rows; vacuuming it");
            deliveries::vacuum(&db).await;
        }
        if health.changed >= CHANGED_ROWS && health.changed as f64 >= health.assumed_rows * CHANGED_SHARE {
            tracing::debug!(?health, "the delivery queue changed a lot; analysing it");
            deliveries::analyze(&db).await;
        }
    }
}
