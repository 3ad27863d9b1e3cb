//! The connection pool: create the database when it is missing, then apply the embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::config::DatabaseSettings;

/// How long a request waits for a connection before it is told the service is unavailable.
/// Short on purpose: a signup should get a clear 503 quickly rather than hang while Postgres is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let url = settings.url.expose_secret();
    let options = PgConnectOptions::from_str(url).context("database.url is not a valid Postgres URL")?;
    if !Postgres::database_exists(url).await.context("cannot reach Postgres at database.url; is it running?")? {
        // Two processes starting at once may both try; the loser's error is harmless.
        if let Err(e) = Postgres::create_database(url).await {
            if !Postgres::database_exists(url).await.unwrap_or(false) {
                return Err(e).context("cannot create the database named in database.url");
            }
        }
        tracing::info!(database = options.get_database().unwrap_or_default(), "created database");
    }
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings every connection it hands out by default: a round trip per query. A dead
        // connection fails on use instead, and is dropped; the hot paths run that statement again
        // (`retry::once`), and from then on the connections idle since before it are pinged
        // before use, so the run again gets a live one.
        .test_before_acquire(false)
        .before_acquire(super::retry::check_idle)
        .connect_with(options)
        .await
        .context("cannot connect to the database at database.url")?;
    migrate(&pool).await?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await.context("applying database migrations failed")?;
    Ok(())
}

/// True when the error means "the database is not there right now" rather than "this query is wrong".
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions.
            db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "53300")
        }
        _ => false,
    }
}
