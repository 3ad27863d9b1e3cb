//! Wiring: builds the pool, the HTTP state, the in-process worker and the listener, and runs them
//! until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::http::{AppState, ConnectionLimits};
use crate::mail::Composer;
use crate::worker::Worker;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    worker: Option<Worker>,
}

/// How long in-flight requests get to finish after a shutdown signal. Requests take
/// milliseconds; this is for a slow client, and keeps the whole stop within the worker's bound
/// (the send timeout plus a few seconds).
const HTTP_DRAIN: Duration = Duration::from_secs(5);

impl Application {
    /// Connects to (and if needed creates and migrates) the database, binds the listener and
    /// prepares the worker. `with_worker = false` is `serve --no-worker`.
    pub async fn build(settings: Settings, with_worker: bool) -> anyhow::Result<Self> {
        let db = crate::store::pool::connect(&settings.database).await?;
        let listener = TcpListener::bind(settings.http.addr)
            .await
            .with_context(|| format!("cannot listen on http.addr {}", settings.http.addr))?;
        let admin_token = match &settings.admin.token {
            Some(token) => token.clone(),
            None => {
                let token = crate::domain::Token::generate().context("the OS random number generator failed")?;
                // Local only (production refuses to start without one), so the operator can use the admin API.
                tracing::warn!(admin_token = token.expose(), "admin.token is not set; generated one for this run");
                SecretString::from(token.expose().to_owned())
            }
        };
        let token_keys = settings.token_keys()?;
        let wake = Arc::new(Notify::new());
        let mut worker = if with_worker { Some(Worker::new(db.clone(), &settings, wake.clone())?) } else { None };
        let mut composer =
            Composer::new(&settings.mail, settings.http.base_url.clone(), settings.subscriptions.token_ttl_hours)?;
        composer.default_locale = settings.subscriptions.default_locale();
        crate::i18n::load();
        let handover = worker.as_mut().map(Worker::handover);
        let state = AppState::new(db, settings, admin_token, wake, composer, token_keys, handover);
        Ok(Self { listener, state, worker })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn db(&self) -> &PgPool {
        &self.state.db
    }

    /// Serves until `shutdown` fires, then drains in-flight requests and sends (bounded) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        let base_url = self.state.settings.http.base_url.as_str();
        tracing::info!(%addr, base_url = %crate::telemetry::redact_url(base_url), "listening");
        let worker = self.worker.map(|w| tokio::spawn(w.run(shutdown.clone())));
        let router = crate::http::router(self.state.clone());
        let limits = ConnectionLimits::from(&self.state.settings.http);
        crate::http::serve(self.listener, router, limits, shutdown.clone(), HTTP_DRAIN).await;
        tracing::info!("HTTP server stopped");
        if let Some(worker) = worker {
            worker.await.context("worker task panicked")??;
        }
        self.state.signups.close().await;
        close_pool(&self.state.db).await;
        Ok(())
    }
}

/// Closes the database pool, waiting at most a second for connections still in use (a query
/// of an abandoned task): the process is about to exit and the server cleans up after it.
///
/// `Pool::close` is called again until no connection is left: sqlx 0.8.6's closes the idle
/// connections, waits for those in use to come back, and returns without closing one that came
/// back idle while it waited (a connection dropped just before, still in sqlx's check on
/// release).
pub async fn close_pool(db: &PgPool) {
    tracing::info!("closing database connections");
    let closing = async {
        db.close().await;
        while db.size() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            db.close().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(1), closing).await.is_err() {
        tracing::warn!("database connections still busy; leaving them to the server");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight work");
}
