//! Builds the application (state, router, listener, in-process worker) and runs it until shutdown.

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
use crate::http::RateLimiter;
use crate::worker::{Composer, Worker};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    pub admin_token: Arc<SecretString>,
    /// Wakes the in-process worker as soon as a delivery is queued.
    pub wake: Arc<Notify>,
    pub limiter: Arc<RateLimiter>,
    /// Renders digest previews exactly as the worker renders mail.
    pub composer: Arc<Composer>,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    worker: Option<Worker>,
}

/// How long in-flight requests get to finish after a shutdown signal.
const HTTP_DRAIN: Duration = Duration::from_secs(10);

impl Application {
    /// Connects to (and if needed creates and migrates) the database, binds the listener and
    /// prepares the worker. `with_worker = false` is `serve --no-worker`.
    pub async fn build(settings: Settings, with_worker: bool) -> anyhow::Result<Self> {
        crate::http::pages::set_newsletter_name(&settings.newsletter_name());
        let db = crate::db::connect(&settings.database).await?;
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
        let wake = Arc::new(Notify::new());
        let worker = if with_worker { Some(Worker::new(db.clone(), &settings, wake.clone())?) } else { None };
        let state = AppState {
            limiter: Arc::new(RateLimiter::new(settings.limits.signups_per_ip_per_minute)),
            composer: Arc::new(Composer::new(&settings)?),
            db,
            settings: Arc::new(settings),
            admin_token: Arc::new(admin_token),
            wake,
        };
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
        let stop = shutdown.clone();
        let server = axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop.cancelled().await });
        let served = tokio::select! {
            r = server => r.context("HTTP server failed"),
            // Graceful shutdown waits for every open connection; keep-alive clients must not hold us up forever.
            () = async { shutdown.cancelled().await; tokio::time::sleep(HTTP_DRAIN).await } => {
                tracing::warn!("some HTTP connections did not finish in time");
                Ok(())
            }
        };
        if let Some(worker) = worker {
            worker.await.context("worker task panicked")??;
        }
        self.state.db.close().await;
        served
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
