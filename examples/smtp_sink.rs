//! A fast SMTP sink for benchmarks: accepts everything, keeps nothing but counts.
//!
//! `cargo run --release --example smtp_sink -- --port 2525 --out stats.json [--no-pipelining]
//! [--starttls | --implicit-tls]`
//! It offers PIPELINING (RFC 2920), as postfix's smtp-sink does; it answers commands in order
//! whether or not they came in one packet. With `--starttls` it offers STARTTLS (and nothing is
//! accepted before it), with `--implicit-tls` it speaks TLS from the first byte, both with the
//! test certificate for 127.0.0.1 (`tests/fixtures/tls-relay.pem`, signed by `tls-ca.pem`), so
//! the same digest can be measured behind TLS beside the plain run.
//! On SIGTERM/SIGINT it writes {messages, bytes, recipients, duplicates, per_second[]} to --out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Stats {
    messages: u64,
    bytes: u64,
    per_rcpt: HashMap<String, u32>,
    per_second: Vec<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encryption {
    None,
    StartTls,
    Implicit,
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(include_bytes!("../tests/fixtures/tls-relay.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../tests/fixtures/tls-relay.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(2525);
    let out = arg("--out").unwrap_or_else(|| "smtp-sink-stats.json".to_owned());
    let pipelining = !args.iter().any(|a| a == "--no-pipelining");
    let tls = match (args.iter().any(|a| a == "--starttls"), args.iter().any(|a| a == "--implicit-tls")) {
        (true, _) => Encryption::StartTls,
        (_, true) => Encryption::Implicit,
        _ => Encryption::None,
    };
    let acceptor = (tls != Encryption::None).then(acceptor);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    eprintln!("smtp_sink listening on 127.0.0.1:{port}");
    let stats = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    let accept_stats = stats.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let _ = socket.set_nodelay(true);
            let stats = accept_stats.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let session = Session { stats, started, pipelining };
                match (tls, acceptor) {
                    (Encryption::Implicit, Some(acceptor)) => {
                        if let Ok(tls) = acceptor.accept(socket).await {
                            session.converse(tls, true, false).await;
                        }
                    }
                    (Encryption::StartTls, Some(acceptor)) => {
                        if let Some(socket) = session.converse(socket, true, true).await
                            && let Ok(tls) = acceptor.accept(socket).await
                        {
                            session.converse(tls, false, false).await;
                        }
                    }
                    _ => {
                        session.converse(socket, true, false).await;
                    }
                }
            });
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    let s = stats.lock().unwrap();
    let duplicates: u64 = s.per_rcpt.values().map(|&n| u64::from(n.saturating_sub(1))).sum();
    let json = serde_json::json!({
        "messages": s.messages,
        "bytes": s.bytes,
        "recipients": s.per_rcpt.len(),
        "duplicates": duplicates,
        "per_second": s.per_second,
    });
    std::fs::write(&out, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    eprintln!(
        "smtp_sink: {} messages, {} distinct recipients, {} duplicates",
        s.messages,
        s.per_rcpt.len(),
        duplicates
    );
}

struct Session {
    stats: Arc<Mutex<Stats>>,
    started: Instant,
    pipelining: bool,
}

impl Session {
    /// The SMTP conversation; `Some(stream)` back when the client asked for STARTTLS (offered
    /// only with `starttls`; mail is refused until then).
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S, greet: bool, starttls: bool) -> Option<S> {
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::with_capacity(64 * 1024, read);
        let mut line = Vec::with_capacity(1024);
        let mut rcpts: Vec<String> = Vec::new();
        let mut ehlo = b"250-bench-sink\r\n".to_vec();
        if self.pipelining {
            ehlo.extend_from_slice(b"250-PIPELINING\r\n");
        }
        if starttls {
            ehlo.extend_from_slice(b"250-STARTTLS\r\n");
        }
        ehlo.extend_from_slice(b"250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n");
        if greet && (write.write_all(b"220 bench-sink ESMTP\r\n").await.is_err() || write.flush().await.is_err()) {
            return None;
        }
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                return None;
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with(b"EHLO") {
                &ehlo
            } else if upper.starts_with(b"STARTTLS") && starttls {
                if write.write_all(b"220 go ahead\r\n").await.is_err() || write.flush().await.is_err() {
                    return None;
                }
                return Some(reader.into_inner().unsplit(write));
            } else if starttls
                && (upper.starts_with(b"MAIL") || upper.starts_with(b"RCPT") || upper.starts_with(b"DATA"))
            {
                b"530 5.7.0 must issue a STARTTLS command first\r\n"
            } else if upper.starts_with(b"MAIL")
                || upper.starts_with(b"RSET")
                || upper.starts_with(b"NOOP")
                || upper.starts_with(b"HELO")
            {
                rcpts.clear();
                b"250 ok\r\n"
            } else if upper.starts_with(b"RCPT") {
                let text = String::from_utf8_lossy(&line);
                let rcpt = text.split(['<', '>']).nth(1).unwrap_or("").to_ascii_lowercase();
                rcpts.push(rcpt);
                b"250 ok\r\n"
            } else if upper.starts_with(b"DATA") {
                if write.write_all(b"354 go\r\n").await.is_err() || write.flush().await.is_err() {
                    return None;
                }
                let mut bytes = 0u64;
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return None;
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    bytes += line.len() as u64;
                }
                let second = self.started.elapsed().as_secs() as usize;
                let mut s = self.stats.lock().unwrap();
                s.messages += 1;
                s.bytes += bytes;
                for r in rcpts.drain(..) {
                    *s.per_rcpt.entry(r).or_insert(0) += 1;
                }
                if s.per_second.len() <= second {
                    s.per_second.resize(second + 1, 0);
                }
                s.per_second[second] += 1;
                drop(s);
                b"250 queued\r\n"
            } else if upper.starts_with(b"QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                return None;
            } else {
                b"502 unknown\r\n"
            };
            // A TLS stream may hold a record back until flushed; for TCP this is free.
            if write.write_all(reply).await.is_err() || write.flush().await.is_err() {
                return None;
            }
        }
    }
}
