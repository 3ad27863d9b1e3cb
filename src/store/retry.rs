//! Running a statement again, once, when its connection turned out to be dead.
//!
//! When Postgres restarts (or fails over), every connection the pool holds dies with it, and the
//! pool does not know: it hands them out without a check, because a check is a round trip per
//! statement (see `pool::connect`). The first statement on each fails with an I/O error or one
//! of the codes below. Such a failure says nothing against the statement, so the hot paths run
//! theirs again on a fresh connection, once ([`once`]), and the client sees nothing.
//!
//! Fresh: once a dead connection has been seen, the pool pings each connection that went idle
//! before that moment before handing it out ([`check_idle`], its `before_acquire` hook), and
//! drops the dead ones; connections used since cost nothing more. So a restart costs the pool
//! one failed statement (run again) and one ping per connection it held, and the healthy path
//! not a single round trip.
//!
//! Running a statement again is only right when a first run that did commit repeats nothing:
//! the connection may have died after the server got COMMIT but before its answer came back.
//! Every statement run through [`once`] is written so (see the callers).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection as _, PgConnection, PgPool};

/// True when the error says the connection is gone rather than anything about the statement:
/// an I/O error (reset, closed, end of stream), `57P01` admin_shutdown (a restart, or the
/// backend terminated), `57P02` crash_shutdown, `57P03` cannot_connect_now, `08xxx` connection
/// exceptions.
pub fn is_dead_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| matches!(&*c, "57P01" | "57P02" | "57P03") || c.starts_with("08"))
        }
        _ => false,
    }
}

/// Runs `run`, and runs it once more (it takes a connection of its own from `db` each time) if
/// it failed because its connection was dead, provided a connection can be had. `run` must be
/// safe to repeat after a first run that committed without the answer arriving.
pub async fn once<T, F, Fut>(db: &PgPool, what: &'static str, mut run: F) -> sqlx::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = sqlx::Result<T>>,
{
    match run().await {
        Err(e) if is_dead_connection(&e) => {
            saw_dead_connection();
            // No connection to be had (Postgres is still down, or refuses this database): the
            // first error says so best (the caller answers 503 for it), not the connect's.
            if db.acquire().await.is_err() {
                return Err(e);
            }
            tracing::info!(error = %e, what, "the database connection was dead; running it again on a fresh one");
            run().await
        }
        done => done,
    }
}

/// Notes that a dead connection was found now: connections idle since before this are checked
/// before they are used. Callers that keep connections of their own call it too.
pub fn saw_dead_connection() {
    // At least 1: 0 stands for never.
    let since = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
    DEAD_SEEN.fetch_max(since, Ordering::AcqRel);
}

/// The pool's `before_acquire` hook: a connection that went idle before the last dead one was
/// seen is pinged, and closed if that fails; any other is handed out as it is.
pub fn check_idle(
    conn: &mut PgConnection,
    meta: PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = sqlx::Result<bool>> + Send + '_>> {
    Box::pin(async move {
        if !suspect(meta.idle_for) {
            return Ok(true);
        }
        Ok(conn.ping().await.is_ok())
    })
}

/// Whether a connection idle for `idle_for` went idle before the last dead connection was seen.
fn suspect(idle_for: Duration) -> bool {
    let seen = DEAD_SEEN.load(Ordering::Acquire);
    if seen == 0 {
        return false;
    }
    let idle_since = epoch().elapsed().saturating_sub(idle_for);
    idle_since <= Duration::from_nanos(seen)
}

/// When a dead connection was last seen, in nanoseconds after [`epoch`]; 0 for never. One for
/// the process: a restart kills the connections of every pool on that server alike.
static DEAD_SEEN: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connections_idle_since_before_a_dead_one_was_seen_are_suspect() {
        let _ = epoch();
        std::thread::sleep(Duration::from_millis(5));
        saw_dead_connection();
        // Idle for longer than the time since the death was seen: idle since before it.
        assert!(suspect(Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!suspect(Duration::from_millis(1)));
    }

    #[test]
    fn connection_errors_are_told_from_statement_errors() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert!(is_dead_connection(&io));
        assert!(!is_dead_connection(&sqlx::Error::RowNotFound));
        assert!(!is_dead_connection(&sqlx::Error::PoolTimedOut));
    }
}
