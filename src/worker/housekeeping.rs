//! Chores a worker does beside sending.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::tokens;

const EVERY: Duration = Duration::from_secs(3600);
/// Deleted per statement, so no statement holds many row locks for long.
const CHUNK: i64 = 10_000;

/// Deletes long-expired tokens at start and then hourly. With several workers each does it; the
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
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {},
            () = shutdown.cancelled() => return,
        }
    }
}
