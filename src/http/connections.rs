//! Accepting HTTP connections: a deadline for each request head, a timeout for idle keep-alive
//! connections, and a cap on open connections, so slow or silent clients cannot pile up until
//! the process runs out of file descriptors.
//!
//! Each connection has a clock with three phases: idle (waiting for a request, no byte of it
//! yet), reading a head (bytes arrived, the head is not complete) and busy (a request is being
//! served). Idle connections are closed after `idle_timeout`, heads must arrive within
//! `header_read_timeout`, busy ones are left to the request timeout. hyper's own
//! `header_read_timeout` is not used: it starts counting when a connection begins to wait, so it
//! would close every keep-alive connection after the header timeout.
//!
//! A request is busy until its handler returns the response head; a body streamed after it (an
//! export) is idle time that every byte the client takes starts again. So a long download runs
//! as long as its client reads, and one whose client stops reading is closed after `idle_timeout`.
//!
//! At the cap, the connection that has waited longest for a request is closed to make room for
//! the new one; only when every connection is busy is the new one refused. Idle sockets held open
//! by a client therefore cannot lock everyone else out.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::config::HttpSettings;

/// `http.header_read_timeout_secs`, `http.idle_timeout_secs`, `http.max_connections`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&HttpSettings> for ConnectionLimits {
    fn from(http: &HttpSettings) -> Self {
        Self {
            header_read_timeout: Duration::from_secs_f64(http.header_read_timeout_secs),
            idle_timeout: Duration::from_secs_f64(http.idle_timeout_secs),
            max_connections: http.max_connections,
        }
    }
}

const IDLE: u8 = 0;
const READING_HEAD: u8 = 1;
const BUSY: u8 = 2;

/// One connection's phase and since when it is in it, shared by its socket, its service and the
/// registry.
struct Clock {
    id: u64,
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds from `epoch` to the start of the current phase.
    since_ms: AtomicU64,
    in_flight: AtomicU32,
    /// Cancelled to close the connection at once (evicted at the cap, or shutdown ran out of time).
    close: CancellationToken,
}

impl Clock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Bytes arrived: if the connection was idle, a request head has begun.
    fn bytes_arrived(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(READING_HEAD);
        }
    }

    /// Bytes of a response went out: the client is taking them, so the idle time starts again.
    fn bytes_sent(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(IDLE);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.enter(BUSY);
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.enter(IDLE);
        }
    }

    fn waiting_since(&self) -> Option<u64> {
        (self.phase.load(Ordering::Acquire) != BUSY).then(|| self.since_ms.load(Ordering::Relaxed))
    }

    /// Resolves when the connection has been idle or reading its head for too long, or when it
    /// was told to close.
    async fn expired(&self, limits: &ConnectionLimits) {
        loop {
            let phase = self.phase.load(Ordering::Acquire);
            let since = self.since_ms.load(Ordering::Relaxed);
            let allowed = match phase {
                IDLE => Some(limits.idle_timeout),
                READING_HEAD => Some(limits.header_read_timeout),
                // Busy: the request timeout bounds it.
                _ => None,
            };
            let deadline = allowed.map(|allowed| self.epoch + Duration::from_millis(since) + allowed);
            // Nothing wakes this when the phase changes, so look again at least once per header
            // timeout: a head that starts during a long idle wait must still be timed.
            let next_look = Instant::now() + limits.header_read_timeout;
            let wake = deadline.map_or(next_look, |d| d.min(next_look));
            tokio::select! {
                () = self.close.cancelled() => return,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            let unchanged =
                self.phase.load(Ordering::Acquire) == phase && self.since_ms.load(Ordering::Relaxed) == since;
            if unchanged && deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
        }
    }
}

/// The open connections, for the cap and for draining at shutdown.
struct Registry {
    epoch: Instant,
    max: usize,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Clock>>>,
    /// How many are open; shutdown waits for 0.
    count: watch::Sender<usize>,
}

impl Registry {
    fn new(max: usize) -> Self {
        Self {
            epoch: Instant::now(),
            max: max.max(1),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            count: watch::Sender::new(0),
        }
    }

    /// A clock for a new connection, or `None` when every open connection is busy.
    fn admit(&self) -> Option<Arc<Clock>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.max {
            let victim =
                open.values().filter_map(|c| c.waiting_since().map(|since| (since, c.id))).min().map(|(_, id)| id)?;
            if let Some(clock) = open.remove(&victim) {
                clock.close.cancel();
            }
        }
        let clock = Arc::new(Clock {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            epoch: self.epoch,
            phase: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            close: CancellationToken::new(),
        });
        clock.enter(IDLE);
        open.insert(clock.id, clock.clone());
        self.count.send_replace(open.len());
        Some(clock)
    }

    fn release(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(&id);
        self.count.send_replace(open.len());
    }

    fn close_all(&self) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for clock in open.values() {
            clock.close.cancel();
        }
    }
}

/// Serves `router` on `listener` until `shutdown` fires; then stops accepting, lets in-flight
/// requests finish for at most `drain`, and closes whatever is still open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: wait a moment for some to close.
                    tracing::error!(error = %e, "cannot accept HTTP connections");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(clock) = registry.admit() else {
            if last_refusal_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection cap reached; refusing connections"
                );
                last_refusal_log = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        tokio::spawn(serve_connection(stream, peer, router.clone(), clock, limits, registry.clone(), shutdown.clone()));
    }
    drop(listener);
    let mut count = registry.count.subscribe();
    if tokio::time::timeout(drain, count.wait_for(|n| *n == 0)).await.is_err() {
        tracing::warn!("some HTTP connections did not finish in time");
        registry.close_all();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    clock: Arc<Clock>,
    limits: ConnectionLimits,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) {
    let io = TokioIo::new(Watched { inner: stream, clock: clock.clone() });
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::start(service_clock.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                break;
            }
            // Dropping the connection closes the socket.
            () = clock.expired(&limits) => break,
            () = shutdown.cancelled(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
    registry.release(clock.id);
}

/// Marks a request busy while its response is being produced, even if the future is dropped.
struct InFlight(Arc<Clock>);

impl InFlight {
    fn start(clock: Arc<Clock>) -> Self {
        clock.request_started();
        Self(clock)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The socket, telling the clock when bytes arrive and when the client takes bytes.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.bytes_sent();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.bytes_sent();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_waiting_connection_makes_room_and_busy_ones_never_do() {
        let registry = Registry::new(2);
        let first = registry.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = registry.admit().unwrap();
        let third = registry.admit().unwrap();
        assert!(first.close.is_cancelled(), "the oldest idle connection is closed");
        assert!(!second.close.is_cancelled());
        second.request_started();
        third.request_started();
        assert!(registry.admit().is_none(), "every connection busy: the new one is refused");
        third.request_finished();
        assert!(registry.admit().is_some());
        assert!(third.close.is_cancelled());
    }
}
