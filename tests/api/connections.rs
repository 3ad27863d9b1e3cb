//! Slow and silent clients: request heads must arrive in time, idle connections are closed, and
//! a pile of idle sockets cannot lock other clients out.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{Options, TestApp};

fn with_limits(header_secs: &str, idle_secs: &str, max_connections: &str) -> Options {
    Options {
        extra: vec![
            ("BROADSHEET__HTTP__HEADER_READ_TIMEOUT_SECS".into(), header_secs.into()),
            ("BROADSHEET__HTTP__IDLE_TIMEOUT_SECS".into(), idle_secs.into()),
            ("BROADSHEET__HTTP__MAX_CONNECTIONS".into(), max_connections.into()),
        ],
        with_worker: false,
        ..Default::default()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// True when the server has closed the socket (end of stream or reset); false when it is still
/// open and silent.
async fn is_closed(socket: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(Duration::from_millis(5), socket.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent bytes to a client that asked for nothing"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_disconnected_after_the_header_timeout() {
    let app = TestApp::spawn_with(with_limits("1", "30", "10000")).await;
    let mut socket = connect(&app).await;
    // Idle first, so the head starts while the connection's clock waits out the idle timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    socket.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    // One header line every 300 ms, each long before the timeout, the head never complete.
    let mut closed_after = None;
    for i in 0.. {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let line = format!("X-Slow-{i}: still coming\r\n");
        if socket.write_all(line.as_bytes()).await.is_err() || is_closed(&mut socket).await {
            closed_after = Some(started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(12) {
            break;
        }
    }
    // The header timeout is 1 s and the idle timeout 30 s: anything well under 30 s is the former,
    // with room for a loaded machine.
    let closed_after = closed_after.expect("the connection is closed once the head is late");
    assert!(closed_after < Duration::from_secs(10), "closed after {closed_after:?}");
}

#[tokio::test]
async fn a_keep_alive_connection_may_rest_between_requests_longer_than_the_header_timeout() {
    let app = TestApp::spawn_with(with_limits("1", "30", "10000")).await;
    let mut socket = connect(&app).await;
    let request = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        socket.write_all(request).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await.unwrap().unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
        // Idle, not reading a head: the idle timeout (30 s) applies, not the header timeout.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
}

#[tokio::test]
async fn hundreds_of_idle_sockets_neither_lock_out_other_clients_nor_stay_open() {
    let app = TestApp::spawn_with(with_limits("2", "2", "100")).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect(&app).await);
    }
    // At the cap the longest-idle connection makes room, so a new client is still served.
    let started = Instant::now();
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1), "answered at once, not after the idle timeout");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut open = 0;
    for socket in &mut idle {
        open += usize::from(!is_closed(socket).await);
    }
    assert!(open <= 100, "{open} idle connections open, over the cap of 100");

    // The survivors are closed once they have been idle for the idle timeout.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for (i, socket) in idle.iter_mut().enumerate() {
        assert!(is_closed(socket).await, "idle connection {i} is still open after the idle timeout");
    }
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn on_shutdown_a_request_in_flight_finishes_while_idle_connections_close() {
    let mut app = TestApp::spawn_with(with_limits("10", "30", "10000")).await;
    let mut idle = connect(&app).await;
    let mut busy = connect(&app).await;
    let body = r#"{"email": "late@example.com"}"#;
    let head = format!(
        "POST /subscriptions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    // The head, then half the body once the server asks for it: its `100 Continue` says the
    // request is being served (not still waiting to be accepted) when the signal comes.
    busy.write_all(head.as_bytes()).await.unwrap();
    let continued = read_until(&mut busy, b"\r\n\r\n").await;
    assert!(continued.starts_with("HTTP/1.1 100"), "{continued}");
    busy.write_all(&body.as_bytes()[..10]).await.unwrap();
    app.begin_shutdown();
    // Well inside the idle timeout (30 s): closed by the shutdown, not by idling.
    let started = Instant::now();
    while !is_closed(&mut idle).await {
        assert!(started.elapsed() < Duration::from_secs(5), "an idle connection is closed at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while TcpStream::connect(app.address.trim_start_matches("http://")).await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(5), "no new connections");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    busy.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), busy.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    assert!(response.to_lowercase().contains("connection: close"), "{response}");
    assert!(app.wait_stopped(Duration::from_secs(5)).await, "the application finished once the request was served");
}

/// Reads from `socket` until `end` has arrived (at most 5 s), and returns what came.
async fn read_until(socket: &mut TcpStream, end: &[u8]) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(end) {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(n, 1, "the connection closed after {:?}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
    }
    String::from_utf8_lossy(&got).into_owned()
}
