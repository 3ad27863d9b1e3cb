//! An SMTP server for tests: it speaks SMTP on a real TCP socket on 127.0.0.1, keeps every message
//! it accepted, and can be scripted to refuse, drop or stall, per recipient and attempt.
//!
//! Every connection runs in its own task, owned by the accepting task: stopping or dropping the
//! [`SmtpSink`] closes the listener and every open connection, so the server appears down.
//!
//! It can offer TLS ([`SmtpSink::start_tls`]): STARTTLS, or TLS from the first byte, with a
//! certificate for `localhost` and 127.0.0.1 signed by a test CA (`tests/fixtures/tls-*.pem`,
//! made with `openssl`; the CA's key was thrown away).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Decides per transaction how to answer: called with the recipient address and the 1-based
/// number of transactions this recipient has seen so far (this one included).
pub type Script = Arc<dyn Fn(&str, usize) -> Fault + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Accept,
    /// Answer RCPT TO with this code and text (e.g. 451 "4.3.0 try later", 550 "5.1.1 no such
    /// user"), and keep the connection.
    RejectRcpt(u16, &'static str),
    /// Take the DATA, then answer the final dot with this code and text (e.g. 451 / 554).
    RejectData(u16, &'static str),
    /// Close the socket in the middle of DATA: after a few body lines, before any final reply.
    DropMidData,
    /// Say nothing after DATA's final dot for this long, then close the connection.
    Stall(Duration),
    /// Answer 421 and close the connection. The script learns the recipient only at RCPT TO, so
    /// that is where the 421 is sent (the transaction was started by MAIL FROM and counts in
    /// [`SmtpSink::attempts`]).
    ServiceUnavailable,
}

/// TLS the sink offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// STARTTLS in the EHLO reply (before TLS; not after, as RFC 3207 says).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// The test CA that signed the sink's certificate, as a PEM file for `mail.tls_ca_file`.
pub const TEST_CA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-ca.pem");

fn acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(include_bytes!("../fixtures/tls-relay.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../fixtures/tls-relay.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A connection, plain or encrypted.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type BoxIo = Box<dyn Io>;

/// A message the sink accepted (its transaction ended in 250).
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as received, dot-unstuffed, without the terminating `.` line.
    pub data: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Vec<ReceivedMail>,
    /// Transactions seen per recipient (lowercase), as passed to the script.
    per_rcpt_attempts: HashMap<String, usize>,
    /// When each of those transactions reached RCPT TO.
    per_rcpt_times: HashMap<String, Vec<Instant>>,
    /// MAIL FROM commands.
    transactions: usize,
    /// Leave 8BITMIME out of the EHLO reply, as some relays do.
    no_8bitmime: bool,
    /// Leave PIPELINING out of the EHLO reply (the client must then wait for each reply).
    no_pipelining: bool,
    /// Commands that arrived in the same read as the one before them: a client pipelining.
    pipelined_commands: usize,
    /// Final dots with the next transaction's commands behind them in the same read: a client
    /// pipelining the next envelope with the end of a message.
    envelopes_behind_data: usize,
    connections: usize,
    /// AUTH commands received (the sink advertises AUTH; STARTTLS only when started with TLS).
    auth_commands: usize,
    /// TLS handshakes that succeeded, and those that failed (the client gave up on our
    /// certificate, typically).
    tls_sessions: usize,
    failed_handshakes: usize,
    /// With TLS offered: the verbs of the commands that came in the clear.
    commands_in_clear: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("SmtpSink")
            .field("addr", &self.addr)
            .field("received", &state.received.len())
            .field("attempts", &state.transactions)
            .finish()
    }
}

/// How long [`SmtpSink::start_on`] keeps retrying a busy port.
const BIND_RETRY: Duration = Duration::from_secs(2);

impl SmtpSink {
    /// A sink that accepts everything, on a free port.
    pub async fn start() -> SmtpSink {
        Self::start_with(0, accept_all()).await
    }

    /// A sink that accepts everything, on `port` (retried for up to 2 s while the port is busy).
    pub async fn start_on(port: u16) -> SmtpSink {
        Self::start_with(port, accept_all()).await
    }

    /// A sink answering as `script` decides, on `port` (0: any free port).
    pub async fn start_with(port: u16, script: Script) -> SmtpSink {
        Self::start_inner(port, script, None).await
    }

    /// A sink answering as `script` decides, on a free port, behind TLS.
    pub async fn start_tls(tls: SinkTls, script: Script) -> SmtpSink {
        Self::start_inner(0, script, Some(tls)).await
    }

    async fn start_inner(port: u16, script: Script, tls: Option<SinkTls>) -> SmtpSink {
        let deadline = Instant::now() + BIND_RETRY;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => break listener,
                Err(_) if port != 0 && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(e) => panic!("cannot bind the SMTP sink to 127.0.0.1:{port}: {e}"),
            }
        };
        let addr = listener.local_addr().expect("the sink's listener has an address");
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), arrived: Notify::new() });
        let (stop_tx, stop_rx) = watch::channel(false);
        let tls = tls.map(|mode| (mode, acceptor()));
        let server = tokio::spawn(serve(listener, shared.clone(), script, tls, stop_rx));
        SmtpSink { addr, shared, stop_tx, server: Some(server) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// From the next EHLO on, do not offer 8BITMIME.
    pub fn without_8bitmime(&self) {
        self.shared.state.lock().unwrap().no_8bitmime = true;
    }

    /// From the next EHLO on, do not offer PIPELINING.
    pub fn without_pipelining(&self) {
        self.shared.state.lock().unwrap().no_pipelining = true;
    }

    /// Commands that were already waiting when the one before was answered: more than zero
    /// means the client pipelined.
    pub fn pipelined_commands(&self) -> usize {
        self.shared.lock().pipelined_commands
    }

    /// Messages whose final dot came with the next transaction's MAIL FROM behind it.
    pub fn envelopes_behind_data(&self) -> usize {
        self.shared.lock().envelopes_behind_data
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:{port}?tls=none`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.addr.port())
    }

    /// Accepted messages, in the order their final 250 was sent.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.lock().received.clone()
    }

    /// Waits until at least `n` messages were accepted and returns them all; panics on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so an arrival in between is not missed.
            let arrived = self.shared.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                let attempts = self.attempts();
                panic!(
                    "timed out after {timeout:?} waiting for {n} mail(s): the SMTP sink on port {} accepted {} \
                     ({attempts} MAIL FROM transaction(s) started)",
                    self.port(),
                    received.len(),
                );
            }
            let _ = tokio::time::timeout((deadline - now).min(Duration::from_millis(100)), arrived).await;
        }
    }

    /// Accepted messages for this recipient (case-insensitive).
    pub fn count_for(&self, rcpt: &str) -> usize {
        let state = self.shared.lock();
        state.received.iter().filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(rcpt))).count()
    }

    /// MAIL FROM transactions started, whatever became of them.
    pub fn attempts(&self) -> usize {
        self.shared.lock().transactions
    }

    /// Transactions that named this recipient (case-insensitive), whatever became of them.
    pub fn attempts_for(&self, rcpt: &str) -> usize {
        self.shared.lock().per_rcpt_attempts.get(&rcpt.to_ascii_lowercase()).copied().unwrap_or(0)
    }

    /// When each transaction naming this recipient reached RCPT TO.
    pub fn attempt_times(&self, rcpt: &str) -> Vec<Instant> {
        self.shared.lock().per_rcpt_times.get(&rcpt.to_ascii_lowercase()).cloned().unwrap_or_default()
    }

    /// AUTH commands received: a client that sends one here sends its password in the clear,
    /// since the sink never offers STARTTLS.
    pub fn auth_commands(&self) -> usize {
        self.shared.lock().auth_commands
    }

    /// TLS handshakes that succeeded.
    pub fn tls_sessions(&self) -> usize {
        self.shared.lock().tls_sessions
    }

    /// TLS handshakes that failed.
    pub fn failed_handshakes(&self) -> usize {
        self.shared.lock().failed_handshakes
    }

    /// On a sink started with TLS: the verbs of every command that came unencrypted.
    pub fn commands_in_clear(&self) -> Vec<String> {
        self.shared.lock().commands_in_clear.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Forgets the accepted messages (the attempt counters stay).
    pub fn clear(&self) {
        self.shared.lock().received.clear();
    }

    /// Stops listening and aborts every open connection. The sockets close as soon as the
    /// runtime gets to the aborted tasks; [`SmtpSink::shutdown`] waits for that.
    pub fn stop(mut self) {
        self.abort();
    }

    /// Stops listening, closes every open connection, and returns once all are closed (the port
    /// is free again).
    pub async fn shutdown(mut self) {
        let _ = self.stop_tx.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn abort(&mut self) {
        let _ = self.stop_tx.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.abort();
    }
}

fn accept_all() -> Script {
    Arc::new(|_: &str, _: usize| Fault::Accept)
}

/// Accepts connections until told to stop. Owning every connection in one `JoinSet` means that
/// dropping this future (abort) closes them all too.
async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    script: Script,
    tls: Option<(SinkTls, tokio_rustls::TlsAcceptor)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Drop the borrow `wait_for` returns inside this block: it is not `Send`.
            _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let _ = socket.set_nodelay(true);
                    shared.lock().connections += 1;
                    connections.spawn(session(socket, shared.clone(), script.clone(), tls.clone()));
                }
                // Out of descriptors and the like: do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// The transaction between MAIL FROM and the reply to the final dot.
struct Transaction {
    from: String,
    rcpts: Vec<String>,
    /// What the script decided for the DATA phase (the first non-`Accept` of the recipients).
    fault: Fault,
}

async fn reply<W: AsyncWrite + Unpin>(write: &mut W, text: &str) -> bool {
    let mut bytes = Vec::with_capacity(text.len() + 2);
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    write.write_all(&bytes).await.is_ok()
}

/// Reads one line (with its `\n`) into `line`; false at end of stream or on an error.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>) -> bool {
    line.clear();
    matches!(reader.read_until(b'\n', line).await, Ok(n) if n > 0)
}

/// A connection: TLS first for an implicit-TLS sink, then the conversation, and after an
/// accepted STARTTLS the handshake and the conversation again (without a greeting).
async fn session(
    socket: TcpStream,
    shared: Arc<Shared>,
    script: Script,
    tls: Option<(SinkTls, tokio_rustls::TlsAcceptor)>,
) {
    let handshake = |stream: BoxIo, acceptor: tokio_rustls::TlsAcceptor| {
        let shared = shared.clone();
        async move {
            match acceptor.accept(stream).await {
                Ok(tls) => {
                    shared.lock().tls_sessions += 1;
                    Some(Box::new(tls) as BoxIo)
                }
                Err(_) => {
                    shared.lock().failed_handshakes += 1;
                    None
                }
            }
        }
    };
    let mut stream: BoxIo = Box::new(socket);
    let mut encrypted = false;
    if let Some((SinkTls::Implicit, acceptor)) = &tls {
        let Some(tls) = handshake(stream, acceptor.clone()).await else { return };
        stream = tls;
        encrypted = true;
    }
    let mut greet = true;
    loop {
        let offer = tls.as_ref().filter(|(mode, _)| *mode == SinkTls::StartTls && !encrypted);
        let talk = Talk {
            shared: &shared,
            script: &script,
            greet,
            encrypted,
            tls: tls.is_some(),
            offer_starttls: offer.is_some(),
        };
        let Some(plain) = talk.converse(stream).await else { return };
        let Some((_, acceptor)) = offer else { return };
        let Some(tls) = handshake(plain, acceptor.clone()).await else { return };
        stream = tls;
        encrypted = true;
        greet = false;
    }
}

struct Talk<'a> {
    shared: &'a Arc<Shared>,
    script: &'a Script,
    /// Send the 220 greeting (not after STARTTLS).
    greet: bool,
    encrypted: bool,
    /// The sink was started with TLS: commands in the clear are recorded.
    tls: bool,
    offer_starttls: bool,
}

impl Talk<'_> {
    /// The SMTP conversation; `Some(stream)` when the client asked for STARTTLS and was told to go
    /// ahead (whatever it sent behind the command before the handshake is dropped, as RFC 3207 5
    /// requires).
    async fn converse(self, stream: BoxIo) -> Option<BoxIo> {
        let Talk { shared, script, greet, encrypted, tls, offer_starttls } = self;
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::with_capacity(64 * 1024, read);
        let mut line = Vec::with_capacity(1024);
        let mut transaction: Option<Transaction> = None;

        macro_rules! reply {
            ($text:expr) => {
                if !reply(&mut write, $text).await {
                    return None;
                }
            };
        }

        if greet {
            reply!("220 sink ESMTP ready");
        }
        while read_line(&mut reader, &mut line).await {
            // Bytes already read past this command: the client sent the next one without waiting.
            if !reader.buffer().is_empty() {
                shared.lock().pipelined_commands += 1;
            }
            let command = String::from_utf8_lossy(&line);
            let command = command.trim_end_matches(['\r', '\n']);
            let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if tls && !encrypted {
                shared.lock().commands_in_clear.push(verb.clone());
            }
            match verb.as_str() {
                "EHLO" => {
                    transaction = None;
                    let (no_8bitmime, no_pipelining) = {
                        let state = shared.lock();
                        (state.no_8bitmime, state.no_pipelining)
                    };
                    let mut ehlo = String::from("250-sink\r\n");
                    if !no_pipelining {
                        ehlo.push_str("250-PIPELINING\r\n");
                    }
                    if !no_8bitmime {
                        ehlo.push_str("250-8BITMIME\r\n");
                    }
                    if offer_starttls {
                        ehlo.push_str("250-STARTTLS\r\n");
                    }
                    ehlo.push_str("250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 52428800");
                    reply!(&ehlo);
                }
                "HELO" => {
                    transaction = None;
                    reply!("250 sink");
                }
                "MAIL" if starts_with_ignore_case(command, "MAIL FROM:") => {
                    shared.lock().transactions += 1;
                    transaction = Some(Transaction {
                        from: address(&command["MAIL FROM:".len()..]),
                        rcpts: Vec::new(),
                        fault: Fault::Accept,
                    });
                    reply!("250 2.1.0 sender ok");
                }
                "RCPT" if starts_with_ignore_case(command, "RCPT TO:") => {
                    let Some(current) = transaction.as_mut() else {
                        reply!("503 5.5.1 MAIL first");
                        continue;
                    };
                    let rcpt = address(&command["RCPT TO:".len()..]);
                    let key = rcpt.to_ascii_lowercase();
                    let attempt = {
                        let mut state = shared.lock();
                        state.per_rcpt_times.entry(key.clone()).or_default().push(Instant::now());
                        let n = state.per_rcpt_attempts.entry(key).or_insert(0);
                        *n += 1;
                        *n
                    };
                    match script(&rcpt, attempt) {
                        Fault::RejectRcpt(code, text) => reply!(&format!("{code} {text}")),
                        Fault::ServiceUnavailable => {
                            let _ = reply(&mut write, "421 4.3.2 service not available, closing connection").await;
                            return None;
                        }
                        fault => {
                            if current.fault == Fault::Accept {
                                current.fault = fault;
                            }
                            current.rcpts.push(rcpt);
                            reply!("250 2.1.5 recipient ok");
                        }
                    }
                }
                "DATA" => {
                    let Some(current) = transaction.take() else {
                        reply!("503 5.5.1 MAIL first");
                        continue;
                    };
                    if current.rcpts.is_empty() {
                        reply!("554 5.5.1 no valid recipients");
                        continue;
                    }
                    reply!("354 end data with <CR><LF>.<CR><LF>");
                    let mut data = Vec::with_capacity(16 * 1024);
                    let mut body_lines = 0usize;
                    loop {
                        if !read_line(&mut reader, &mut line).await {
                            return None; // the client went away mid-message
                        }
                        let end = line == b".\r\n" || line == b".\n";
                        if current.fault == Fault::DropMidData && (body_lines >= 3 || end) {
                            return None; // the connection drops before any reply
                        }
                        if end {
                            if reader.buffer().starts_with(b"MAIL") {
                                shared.lock().envelopes_behind_data += 1;
                            }
                            break;
                        }
                        body_lines += 1;
                        // Dot-unstuffing (RFC 5321 4.5.2).
                        let content = line.strip_prefix(b".").unwrap_or(&line);
                        data.extend_from_slice(content);
                    }
                    match current.fault {
                        Fault::RejectData(code, text) => reply!(&format!("{code} {text}")),
                        Fault::Stall(duration) => {
                            tokio::time::sleep(duration).await;
                            return None;
                        }
                        _ => {
                            shared.lock().received.push(ReceivedMail {
                                mail_from: current.from,
                                rcpt_to: current.rcpts,
                                data,
                            });
                            shared.arrived.notify_waiters();
                            reply!("250 2.0.0 queued");
                        }
                    }
                }
                "AUTH" => {
                    shared.lock().auth_commands += 1;
                    reply!("235 2.7.0 authentication successful");
                }
                "RSET" => {
                    transaction = None;
                    reply!("250 2.0.0 ok");
                }
                "STARTTLS" if offer_starttls => {
                    reply!("220 2.0.0 ready to start TLS");
                    return Some(reader.into_inner().unsplit(write));
                }
                "NOOP" => reply!("250 2.0.0 ok"),
                "QUIT" => {
                    let _ = reply(&mut write, "221 2.0.0 bye").await;
                    let _ = write.shutdown().await;
                    return None;
                }
                _ => reply!("502 5.5.2 command not recognised"),
            }
        }
        None
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `<a@b> SIZE=123 BODY=8BITMIME` → `a@b`; `<>` → the empty string.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if end > start => arg[start + 1..end].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

impl ReceivedMail {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.data).unwrap_or_else(|e| {
            panic!("the message does not parse as MIME ({e}):\n{}", String::from_utf8_lossy(&self.data))
        })
    }

    /// The message as text (lossy), for assertions and debugging.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The first top-level header of this name (case-insensitive), decoded (RFC 2047).
    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    /// The first `mime` part that is not an attachment, decoded (transfer encoding and charset).
    fn part(&self, mime: &str) -> Option<String> {
        fn find(part: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
            if part.subparts.is_empty() {
                let attachment = part.get_content_disposition().disposition == mailparse::DispositionType::Attachment;
                return (!attachment && part.ctype.mimetype.eq_ignore_ascii_case(mime))
                    .then(|| part.get_body().expect("a decodable body"));
            }
            part.subparts.iter().find_map(|p| find(p, mime))
        }
        find(&self.parsed(), mime)
    }

    /// The text/plain part, decoded; panics if there is none.
    pub fn text_body(&self) -> String {
        self.part("text/plain").unwrap_or_else(|| panic!("no text/plain part in the message:\n{}", self.raw()))
    }

    /// The text/html part, decoded; panics if there is none.
    pub fn html_body(&self) -> String {
        self.part("text/html").unwrap_or_else(|| panic!("no text/html part in the message:\n{}", self.raw()))
    }

    /// Every http(s) URL in the text part, in order.
    pub fn links(&self) -> Vec<String> {
        links_in(&self.text_body())
    }

    /// The first link in the text part whose path starts with `path` (`"/subscriptions/confirm"`),
    /// or, when `path` is not a path, that starts with it (`"https://host/unsubscribe"`).
    pub fn link_to(&self, path: &str) -> String {
        let matches = |link: &str| {
            if path.starts_with('/') { path_of(link).starts_with(path) } else { link.starts_with(path) }
        };
        self.links()
            .into_iter()
            .find(|l| matches(l))
            .unwrap_or_else(|| panic!("no link to {path} in the text part of the message:\n{}", self.text_body()))
    }
}

/// URLs start at `http://` or `https://` and stop at whitespace, `<`, `>`, `"` or `)`.
fn links_in(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("http") {
        let candidate = &rest[start..];
        if candidate.starts_with("http://") || candidate.starts_with("https://") {
            let end = candidate
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ')'))
                .unwrap_or(candidate.len());
            links.push(candidate[..end].to_owned());
            rest = &candidate[end..];
        } else {
            rest = &candidate["http".len()..];
        }
    }
    links
}

/// `https://host:1/a/b?c` → `/a/b?c`.
fn path_of(link: &str) -> &str {
    let after_scheme = link.find("://").map_or(link, |i| &link[i + 3..]);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}
