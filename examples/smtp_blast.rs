//! The ceiling for the digest benchmark: push N messages of a given size to an SMTP server with
//! the same concurrency and the same connection handling as the worker (lettre over sockets
//! with TCP_NODELAY, reused), but no database, no templates, no queue.
//!
//! `cargo run --release --example smtp_blast -- --port 2525 --count 10000 --size 30000 --concurrency 16`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let port = arg("--port", 2525) as u16;
    let count = arg("--count", 10_000);
    let size = arg("--size", 30_000) as usize;
    let concurrency = arg("--concurrency", 16);

    // A realistic body: quoted-printable-safe text lines of 76 characters.
    let mut body = String::with_capacity(size + 512);
    body.push_str("From: Bench <news@example.com>\r\nTo: reader@example.com\r\nSubject: Bench\r\n");
    body.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    while body.len() < size {
        body.push_str("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n");
    }
    let body = Arc::new(body.into_bytes());
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (body, next) = (body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<AsyncSmtpConnection> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                if conn.as_ref().is_none_or(|c| c.has_broken()) {
                    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                    tcp.set_nodelay(true).unwrap();
                    let id = ClientId::Domain("example.com".into());
                    conn = Some(AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &id).await.unwrap());
                }
                let envelope = Envelope::new(
                    Some("news@example.com".parse().unwrap()),
                    vec![format!("blast{i}@example.com").parse().unwrap()],
                )
                .unwrap();
                conn.as_mut().unwrap().send(&envelope, &body).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{{\"messages\": {count}, \"seconds\": {secs:.3}, \"msgs_per_sec\": {:.1}}}", count as f64 / secs);
}
