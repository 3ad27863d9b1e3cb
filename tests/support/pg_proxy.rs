//! A TCP proxy between the application's pool and Postgres that reads the wire protocol, so a
//! test can drop connections the way a restart or a network fault does: every connection at
//! once ([`PgProxy::kill_all`], as Postgres's fast shutdown does: `57P01` then a close), or one
//! connection right after it sent the COMMIT of a chosen statement ([`PgProxy::cut_after_commit`]:
//! the server commits and answers, the client never hears it).
//!
//! The commit point: a simple-protocol `Query` whose text is `COMMIT` inside a transaction the
//! client began with `BEGIN` (how sqlx commits), or, outside one, the `Sync` that follows an
//! `Execute` (the extended protocol commits the implicit transaction there; how sqlx runs a
//! single statement such as the signup batch).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub struct PgProxy {
    port: u16,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Shared {
    /// Every connection that is open, by number: its kill switch, and a token cancelled once it
    /// is closed.
    open: Mutex<HashMap<u64, (CancellationToken, CancellationToken)>>,
    next: AtomicU64,
    /// Armed by `cut_after_commit`: the next transaction that runs a matching statement is cut
    /// once its commit has been answered by the server.
    armed: Mutex<Option<Matcher>>,
    /// Counters, and a signal each time one changes.
    accepted: AtomicU64,
    /// `Sync` and `Query` messages from clients: each is a round trip.
    round_trips: AtomicU64,
    cuts: AtomicU64,
    changed: Notify,
}

impl PgProxy {
    /// Listens on a free loopback port and forwards to the test Postgres server.
    pub async fn start() -> Self {
        let upstream = upstream_address();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let (s, st) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    () = st.cancelled() => return,
                };
                let _ = client.set_nodelay(true);
                let (shared, upstream, stop) = (s.clone(), upstream.clone(), st.child_token());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let _ = server.set_nodelay(true);
                    let id = shared.next.fetch_add(1, Ordering::AcqRel);
                    let closed = CancellationToken::new();
                    shared.open.lock().unwrap().insert(id, (stop.clone(), closed.clone()));
                    shared.accepted.fetch_add(1, Ordering::AcqRel);
                    shared.changed.notify_waiters();
                    relay(client, server, shared.clone(), stop).await;
                    shared.open.lock().unwrap().remove(&id);
                    closed.cancel();
                });
            }
        });
        Self { port, shared, stop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `database.url` for a database reached through the proxy.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable", self.port)
    }

    /// Drops every open connection as Postgres does when it shuts down: a FATAL `57P01` to the
    /// client, then the socket closed; returns once they are closed, with how many there were.
    /// New connections go through as before (the server is back).
    pub async fn kill_all(&self) -> usize {
        let open: Vec<_> = self.shared.open.lock().unwrap().drain().map(|(_, t)| t).collect();
        for (kill, _) in &open {
            kill.cancel();
        }
        for (_, closed) in &open {
            closed.cancelled().await;
        }
        open.len()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.shared.open.lock().unwrap().len()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Round trips clients have asked for so far (`Sync` and `Query` messages).
    pub fn round_trips(&self) -> u64 {
        self.shared.round_trips.load(Ordering::Acquire)
    }

    /// Connections cut after their commit so far.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::Acquire)
    }

    /// The next transaction (or single statement) that runs a statement whose SQL `matches` is
    /// forwarded in full, COMMIT included, and the server's answer awaited; then the connection
    /// is closed with that answer withheld from the client.
    pub fn cut_after_commit(&self, matches: impl Fn(&str) -> bool + Send + Sync + 'static) {
        *self.shared.armed.lock().unwrap() = Some(Arc::new(matches));
    }

    /// Waits until `n` connections have been cut after their commit.
    pub async fn wait_for_cuts(&self, n: u64, timeout: Duration) {
        self.wait(timeout, "a connection cut after its commit", || self.cuts() >= n).await;
    }

    async fn wait(&self, timeout: Duration, what: &str, done: impl Fn() -> bool) {
        let started = Instant::now();
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done() {
                return;
            }
            let left = timeout.checked_sub(started.elapsed()).unwrap_or_else(|| panic!("timed out waiting for {what}"));
            let _ = tokio::time::timeout(left, changed).await;
        }
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// host:port of the test server (`BROADSHEET_TEST_DATABASE_URL` or the default).
fn upstream_address() -> String {
    let url = url::Url::parse(&super::server_url()).unwrap();
    format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(5432))
}

/// What one connection's client side has said, as far as the commit point needs.
#[derive(Default)]
struct Session {
    /// Prepared statements' SQL by name ("" is the unnamed one).
    statements: HashMap<String, String>,
    /// The SQL of the statement bound to the portal, between Bind and Execute.
    bound: Option<String>,
    /// Inside BEGIN … COMMIT.
    in_transaction: bool,
    /// A statement the armed matcher picked ran since the last commit point.
    picked: bool,
}

const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;

async fn relay(mut client: TcpStream, mut server: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    // Encryption requests are refused here, so the rest of the conversation can be read.
    let startup = loop {
        let Some(message) = read_startup(&mut client).await else { return };
        let code = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
        if code == SSL_REQUEST || code == GSS_REQUEST {
            if client.write_all(b"N").await.is_err() {
                return;
            }
            continue;
        }
        break message;
    };
    if server.write_all(&startup).await.is_err() {
        return;
    }
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Set once the commit to withhold has gone to the server: its answers go nowhere, and the
    // connection closes after the last of them.
    let cutting = CancellationToken::new();
    let outstanding = Arc::new(AtomicU64::new(0));
    let upward = upward(client_read, server_write, shared.clone(), cutting.clone(), outstanding.clone());
    let downward = downward(server_read, client_write, shared.clone(), cutting, outstanding, stop.clone());
    tokio::select! {
        () = upward => {},
        () = downward => {},
    }
}

/// Client → server, message by message, watching for the armed commit point.
async fn upward(
    mut client: OwnedReadHalf,
    mut server: OwnedWriteHalf,
    shared: Arc<Shared>,
    cutting: CancellationToken,
    outstanding: Arc<AtomicU64>,
) {
    let mut session = Session::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match client.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                // The client hung up: wait while a withheld commit is still being answered.
                if cutting.is_cancelled() {
                    std::future::pending::<()>().await;
                }
                return;
            }
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        let mut cut = false;
        while let Some(len) = complete(&buf) {
            let message: Vec<u8> = buf.drain(..len).collect();
            let commit_point = session.read(&message, &shared);
            if matches!(message[0], b'S' | b'Q') {
                shared.round_trips.fetch_add(1, Ordering::AcqRel);
                outstanding.fetch_add(1, Ordering::AcqRel);
            }
            out.extend_from_slice(&message);
            if commit_point {
                cut = true;
                break;
            }
        }
        if cut {
            // Withhold the answers from here on, then let the commit reach the server.
            cutting.cancel();
            let _ = server.write_all(&out).await;
            std::future::pending::<()>().await;
        }
        if server.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Server → client, message by message; after a kill, a FATAL `57P01` as a shutting-down server
/// sends; after a withheld commit, nothing, and the close once it is answered.
async fn downward(
    mut server: OwnedReadHalf,
    mut client: OwnedWriteHalf,
    shared: Arc<Shared>,
    cutting: CancellationToken,
    outstanding: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    // The server's first answer may be a single byte (to an encryption request we refuse
    // ourselves, never sent); after the startup message every answer is a typed message.
    loop {
        let n = tokio::select! {
            read = server.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            () = stop.cancelled() => {
                let _ = client.write_all(&admin_shutdown()).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        while let Some(len) = complete(&buf) {
            let message: Vec<u8> = buf.drain(..len).collect();
            if message[0] == b'Z' {
                let _ = outstanding.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            }
            out.extend_from_slice(&message);
        }
        if cutting.is_cancelled() {
            if outstanding.load(Ordering::Acquire) == 0 {
                // Committed and answered: the client gets a closed socket instead.
                let _ = client.shutdown().await;
                shared.cuts.fetch_add(1, Ordering::AcqRel);
                shared.changed.notify_waiters();
                return;
            }
            continue;
        }
        if client.write_all(&out).await.is_err() {
            return;
        }
    }
}

impl Session {
    /// Notes what a client message does; true when it is the armed commit point.
    fn read(&mut self, message: &[u8], shared: &Shared) -> bool {
        let body = &message[5..];
        let matches = |sql: &str| shared.armed.lock().unwrap().as_ref().is_some_and(|m| m(sql));
        match message[0] {
            b'P' => {
                let (name, rest) = cstr(body);
                let (sql, _) = cstr(rest);
                self.statements.insert(name.to_owned(), sql.to_owned());
            }
            b'B' => {
                let (_portal, rest) = cstr(body);
                let (statement, _) = cstr(rest);
                self.bound = self.statements.get(statement).cloned();
            }
            b'E' if self.bound.as_deref().is_some_and(matches) => self.picked = true,
            b'S' if !self.in_transaction => {
                let picked = std::mem::take(&mut self.picked);
                return picked && self.disarm(shared);
            }
            b'Q' => {
                let (sql, _) = cstr(body);
                let word = sql.trim().to_ascii_uppercase();
                if word.starts_with("BEGIN") {
                    self.in_transaction = true;
                    self.picked = false;
                } else if word == "COMMIT" {
                    self.in_transaction = false;
                    let picked = std::mem::take(&mut self.picked);
                    return picked && self.disarm(shared);
                } else if word == "ROLLBACK" {
                    self.in_transaction = false;
                    self.picked = false;
                } else if matches(sql) {
                    if !self.in_transaction {
                        return self.disarm(shared);
                    }
                    self.picked = true;
                }
            }
            _ => {}
        }
        false
    }

    /// Takes the armed cut for this connection; false if another connection took it first.
    fn disarm(&self, shared: &Shared) -> bool {
        shared.armed.lock().unwrap().take().is_some()
    }
}

/// The length of the first complete typed message in `buf`, if there is one.
fn complete(buf: &[u8]) -> Option<usize> {
    if buf.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize + 1;
    (buf.len() >= len).then_some(len)
}

/// A startup-phase message (length-prefixed, no type byte).
async fn read_startup(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    client.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes(head) as usize;
    if !(8..=10_000).contains(&len) {
        return None;
    }
    let mut message = head.to_vec();
    message.resize(len, 0);
    client.read_exact(&mut message[4..]).await.ok()?;
    Some(message)
}

/// A NUL-terminated string at the start of `bytes`, and what follows it.
fn cstr(bytes: &[u8]) -> (&str, &[u8]) {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    (std::str::from_utf8(&bytes[..end]).unwrap_or(""), bytes.get(end + 1..).unwrap_or(&[]))
}

/// The ErrorResponse Postgres sends each connection at a fast shutdown.
fn admin_shutdown() -> Vec<u8> {
    let mut fields = Vec::new();
    for (code, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "57P01"),
        (b'M', "terminating connection due to administrator command"),
    ] {
        fields.push(code);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(u32::try_from(fields.len() + 4).unwrap()).to_be_bytes());
    message.extend_from_slice(&fields);
    message
}
