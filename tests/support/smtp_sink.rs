//! An SMTP server for tests: it speaks SMTP on a real TCP socket, keeps every message it
//! accepted, and can be scripted to refuse, drop or stall, per recipient and attempt.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Decides per transaction how to answer: called with the recipient and the 1-based number of
/// transactions this recipient has started so far (this one included).
pub type Script = Arc<dyn Fn(&str, usize) -> Fault + Send + Sync>;

#[derive(Debug, Clone)]
pub enum Fault {
    Accept,
    /// Answer RCPT TO with this reply.
    RejectRcpt(u16, &'static str),
    /// Take the DATA, then answer the final dot with this reply.
    RejectData(u16, &'static str),
    /// Close the socket in the middle of DATA.
    DropMidData,
    /// Say nothing after the final dot for this long, then close.
    Stall(Duration),
    /// Answer MAIL FROM with 421 and close.
    ServiceUnavailable,
}

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Vec<ReceivedMail>,
    per_rcpt_attempts: HashMap<String, usize>,
    per_rcpt_times: HashMap<String, Vec<Instant>>,
    transactions: usize,
}

pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    tasks: Option<tokio::task::JoinHandle<()>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_with(0, Arc::new(|_: &str, _: usize| Fault::Accept)).await
    }

    pub async fn start_on(port: u16) -> SmtpSink {
        Self::start_with(port, Arc::new(|_: &str, _: usize| Fault::Accept)).await
    }

    pub async fn start_with(port: u16, script: Script) -> SmtpSink {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind the SMTP sink to port {port}: {e}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let (st, ar) = (state.clone(), arrived.clone());
        // Owning every connection in one JoinSet means aborting this task closes them all.
        let tasks = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let _ = socket.set_nodelay(true);
                        connections.spawn(session(socket, st.clone(), ar.clone(), script.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        SmtpSink { addr, state, arrived, tasks: Some(tasks) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.addr.port())
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().received.clone()
    }

    /// Messages accepted for this recipient (case-insensitive).
    pub fn count_for(&self, rcpt: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.received.iter().filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(rcpt))).count()
    }

    /// When each delivery attempt to this recipient reached RCPT TO.
    pub fn attempt_times(&self, rcpt: &str) -> Vec<Instant> {
        self.state.lock().unwrap().per_rcpt_times.get(&rcpt.to_ascii_lowercase()).cloned().unwrap_or_default()
    }

    /// MAIL FROM transactions started, accepted or not.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().transactions
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("waited {timeout:?} for {n} mails; the SMTP sink received {}", received.len());
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Stops listening and closes every open connection.
    pub fn stop(mut self) {
        if let Some(t) = self.tasks.take() {
            t.abort();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(t) = self.tasks.take() {
            t.abort();
        }
    }
}

async fn session(socket: TcpStream, state: Arc<Mutex<State>>, arrived: Arc<Notify>, script: Script) {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let mut from = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    let mut fault = Fault::Accept;
    macro_rules! reply {
        ($text:expr) => {
            if write.write_all(format!("{}\r\n", $text).as_bytes()).await.is_err() {
                return;
            }
        };
    }
    reply!("220 sink ESMTP ready");
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let upper = text.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply!("250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800");
        } else if upper.starts_with("HELO") {
            reply!("250 sink");
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&text[10..]);
            rcpts.clear();
            fault = Fault::Accept;
            state.lock().unwrap().transactions += 1;
            reply!("250 2.1.0 ok");
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address(&text[8..]);
            let attempt = {
                let mut st = state.lock().unwrap();
                st.per_rcpt_times.entry(rcpt.to_ascii_lowercase()).or_default().push(Instant::now());
                let n = st.per_rcpt_attempts.entry(rcpt.to_ascii_lowercase()).or_insert(0);
                *n += 1;
                *n
            };
            fault = script(&rcpt, attempt);
            match &fault {
                Fault::RejectRcpt(code, message) => reply!(format!("{code} {message}")),
                Fault::ServiceUnavailable => {
                    reply!("421 4.3.2 service not available, closing");
                    return;
                }
                _ => {
                    rcpts.push(rcpt);
                    reply!("250 2.1.5 ok");
                }
            }
        } else if upper == "DATA" {
            if rcpts.is_empty() {
                reply!("554 5.5.1 no valid recipients");
                continue;
            }
            reply!("354 end data with <CR><LF>.<CR><LF>");
            let mut data = Vec::new();
            let mut lines = 0usize;
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                lines += 1;
                if matches!(fault, Fault::DropMidData) && lines > 3 {
                    return; // the connection drops mid-message
                }
                if line == b".\r\n" || line == b".\n" {
                    break;
                }
                // Dot-unstuffing (RFC 5321 4.5.2).
                let content = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
                data.extend_from_slice(content);
            }
            match &fault {
                Fault::RejectData(code, message) => reply!(format!("{code} {message}")),
                Fault::Stall(duration) => {
                    tokio::time::sleep(*duration).await;
                    return;
                }
                _ => {
                    state.lock().unwrap().received.push(ReceivedMail {
                        mail_from: from.clone(),
                        rcpt_to: std::mem::take(&mut rcpts),
                        data,
                    });
                    arrived.notify_waiters();
                    reply!("250 2.0.0 queued");
                }
            }
            rcpts.clear();
        } else if upper == "RSET" {
            rcpts.clear();
            reply!("250 2.0.0 ok");
        } else if upper == "NOOP" {
            reply!("250 2.0.0 ok");
        } else if upper == "QUIT" {
            reply!("221 2.0.0 bye");
            return;
        } else {
            reply!("502 5.5.2 command not recognised");
        }
    }
}

/// `<a@b> SIZE=123` → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if end > start => &arg[start + 1..end],
        _ => arg.split_whitespace().next().unwrap_or(""),
    };
    inner.to_owned()
}

impl ReceivedMail {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.data).expect("the message parses as MIME")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    fn part(&self, mime: &str) -> String {
        fn find(part: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
            if part.subparts.is_empty() {
                return (part.ctype.mimetype == mime).then(|| part.get_body().expect("a decodable body"));
            }
            part.subparts.iter().find_map(|p| find(p, mime))
        }
        find(&self.parsed(), mime).unwrap_or_else(|| panic!("no {mime} part in the message"))
    }

    pub fn text_body(&self) -> String {
        self.part("text/plain")
    }

    pub fn html_body(&self) -> String {
        self.part("text/html")
    }

    /// Every http(s) URL in the text part, in order.
    pub fn links(&self) -> Vec<String> {
        let text = self.text_body();
        let mut links = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("http") {
            let candidate = &rest[start..];
            if candidate.starts_with("http://") || candidate.starts_with("https://") {
                let end = candidate
                    .find(|c: char| c.is_whitespace() || matches!(c, '>' | '"' | ')' | '<'))
                    .unwrap_or(candidate.len());
                links.push(candidate[..end].to_owned());
                rest = &candidate[end..];
            } else {
                rest = &candidate[4..];
            }
        }
        links
    }

    /// The first link that starts with `prefix`.
    pub fn link_to(&self, prefix: &str) -> String {
        self.links()
            .into_iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no link starting with {prefix} in:\n{}", self.text_body()))
    }
}
