//! The feed poller: a chore of every worker, importing the configured feeds (`feeds.urls`).

use std::time::Duration;

use sqlx::PgPool;

use crate::ops::feeds::{FetchPolicy, import};
use crate::telemetry::redact_url;

/// The worker's poller: every `poll_minutes`, import each configured feed. Several workers may
/// poll at once; the unique entry id makes that harmless.
pub async fn poll(
    db: PgPool,
    urls: Vec<String>,
    every: Duration,
    policy: FetchPolicy,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        for url in &urls {
            match import(&db, url, policy).await {
                Ok(report) => {
                    tracing::info!(feed = %redact_url(url), added = report.added, known = report.known, "feed polled")
                }
                // The error names the feed through redact_url too.
                Err(e) => tracing::warn!(feed = %redact_url(url), error = %e, "feed poll failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {},
            () = shutdown.cancelled() => return,
        }
    }
}
