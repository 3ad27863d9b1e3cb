//! A fast SMTP sink for benchmarks: accepts everything, keeps nothing but counts.
//!
//! `cargo run --release --example smtp_sink -- --port 2525 --out stats.json [--no-pipelining]`
//! It offers PIPELINING (RFC 2920), as postfix's smtp-sink does; it answers commands in order
//! whether or not they came in one packet.
//! On SIGTERM/SIGINT it writes {messages, bytes, recipients, duplicates, per_second[]} to --out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Stats {
    messages: u64,
    bytes: u64,
    per_rcpt: HashMap<String, u32>,
    per_second: Vec<u64>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(2525);
    let out = arg("--out").unwrap_or_else(|| "smtp-sink-stats.json".to_owned());
    let ehlo: &'static [u8] = if args.iter().any(|a| a == "--no-pipelining") {
        b"250-bench-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
    } else {
        b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
    };
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
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut reader = BufReader::with_capacity(64 * 1024, read);
                let mut line = Vec::with_capacity(1024);
                let mut rcpts: Vec<String> = Vec::new();
                if write.write_all(b"220 bench-sink ESMTP\r\n").await.is_err() {
                    return;
                }
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with(b"EHLO") {
                        ehlo
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
                        if write.write_all(b"354 go\r\n").await.is_err() {
                            return;
                        }
                        let mut bytes = 0u64;
                        loop {
                            line.clear();
                            if reader.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == b".\r\n" {
                                break;
                            }
                            bytes += line.len() as u64;
                        }
                        let second = started.elapsed().as_secs() as usize;
                        let mut s = stats.lock().unwrap();
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
                        return;
                    } else {
                        b"502 unknown\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
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
