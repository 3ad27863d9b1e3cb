//! Subscriber exports as an attacker sees them: cells a spreadsheet would run, typed into the
//! public form; and slow downloads that must not keep anyone else from leaving or confirming.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{ADMIN_TOKEN, Options, TestApp, token_of};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const FORMULA_NAME: &str = "=cmd|' /C calc'!A0";

#[tokio::test]
async fn formulas_typed_into_the_signup_form_are_exported_inert_and_import_back_as_they_were() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up("=1+2@example.com", FORMULA_NAME).await.status(), 200);
    let added = app
        .admin_post("/admin/subscribers")
        .json(&serde_json::json!({"email": "-1@example.com", "name": "@SUM(1+1)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    app.add_confirmed(&["plain@example.com"]).await;

    let api = app.admin_get("/admin/subscribers/export").send().await.unwrap();
    assert_eq!(api.status(), 200);
    let csv = api.text().await.unwrap();
    let cli = app.cli(&["subscribers", "export"], None);
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    assert_eq!(text(&cli.stdout), csv, "the command and the API write the same file");

    let line_of = |email: &str| csv.lines().find(|l| l.contains(email)).unwrap_or_else(|| panic!("{email}: {csv}"));
    let injected = line_of("=1+2@example.com");
    let (cells, rest) = injected.split_at(injected.find(",pending,").expect("the status as it was"));
    assert_eq!(cells, "\"'=1+2@example.com\",\"'=cmd|' /C calc'!A0\"");
    let (created, rest) = rest.trim_start_matches(",pending,").split_once(',').expect("created_at, then lists");
    let (lists, attributes) = rest.split_once(',').expect("lists, then attributes");
    assert_eq!(lists, "default", "the lists they are on");
    assert_eq!(attributes, "{}");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "created_at as it was: {created}");
    assert!(line_of("-1@example.com").starts_with("\"'-1@example.com\",\"'@SUM(1+1)\",pending,"), "{csv}");
    assert!(line_of("plain@example.com").starts_with("plain@example.com,,confirmed,"), "{csv}");
    // No cell of the file starts with anything a spreadsheet would run.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    for record in reader.records() {
        for cell in &record.unwrap() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?} in {csv}");
        }
    }

    // Moved to another server, the people are who they were.
    let new = TestApp::spawn().await;
    let out = new.cli(&["subscribers", "import", "-", "--confirmed", "--consent", "moved"], Some(&csv));
    assert_eq!(text(&out.stdout).trim(), "imported 3, existing 0, skipped 0, invalid 0", "{}", text(&out.stderr));
    let everyone = "SELECT email, name, status::text, created_at FROM subscribers ORDER BY email";
    type Row = (String, Option<String>, String, chrono::DateTime<chrono::Utc>);
    let before: Vec<Row> = sqlx::query_as(everyone).fetch_all(&app.db).await.unwrap();
    let after: Vec<Row> = sqlx::query_as(everyone).fetch_all(&new.db).await.unwrap();
    assert_eq!(before, after);
    assert_eq!(after[0].1.as_deref(), Some("@SUM(1+1)"));
}

/// An HTTP request on a socket with a small receive buffer, answered up to the end of the
/// response head, whose body is then left unread: the download of someone who stopped reading.
async fn open_unread(app: &TestApp, path: &str) -> (u16, String, TcpStream) {
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    // Fixed, so the kernel does not grow it for a reader that never reads.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the connection closed before the head ended");
        head.push(byte[0]);
    }
    let head = text(&head).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, head, stream)
}

#[tokio::test]
async fn downloads_nobody_reads_never_keep_anyone_from_leaving_or_confirming() {
    // A small pool: four connections, so one export may run (a quarter of them).
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__DATABASE__MAX_CONNECTIONS".into(), "4".into())],
        ..Options::default()
    })
    .await;
    let (confirm_link, _) = app.confirmation_link_for("stays@example.com", "").await;
    let (_, mail) = app.confirmation_link_for("leaves@example.com", "").await;
    let one_click = mail.header("List-Unsubscribe").unwrap();
    let one_click = app.local(one_click.trim_start_matches('<').trim_end_matches('>'));
    // About 10 MB of list: far more than the socket buffers between the app and a reader.
    sqlx::query(
        "INSERT INTO subscribers (id, email, name, status, confirmed_at)
         SELECT gen_random_uuid(), 'reader' || i || '@example.com', repeat('n', 200), 'confirmed', now()
         FROM generate_series(1, 40000) AS i",
    )
    .execute(&app.db)
    .await
    .unwrap();

    // More downloads than may run, none of them read.
    let mut unread = Vec::new();
    for _ in 0..5 {
        unread.push(open_unread(&app, "/admin/subscribers/export").await);
    }
    let statuses: Vec<u16> = unread.iter().map(|(status, _, _)| *status).collect();
    assert_eq!(statuses, [200, 429, 429, 429, 429]);
    for (_, head, _) in &unread[1..] {
        assert!(head.contains("retry-after: 10\r\n"), "{head}");
    }

    // Meanwhile the public routes and the admin API answer as ever.
    assert_eq!(app.get("/ready").await.status(), 200);
    let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token_of(&confirm_link))]).await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.status_of("stays@example.com").await.as_deref(), Some("confirmed"));
    let left =
        app.post_raw(&one_click, "application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click".to_vec()).await;
    assert_eq!(left.status(), 200);
    assert_eq!(app.status_of("leaves@example.com").await.as_deref(), Some("unsubscribed"));
    assert_eq!(app.admin_get("/admin/subscribers?per_page=1").send().await.unwrap().status(), 200);

    // A reader that goes away gives its place back: the next download runs, whole.
    drop(unread);
    let started = Instant::now();
    let whole = loop {
        let response = app.admin_get("/admin/subscribers/export").send().await.unwrap();
        if response.status() == 200 {
            break response.text().await.unwrap();
        }
        assert_eq!(response.status(), 429);
        assert!(started.elapsed() < Duration::from_secs(10), "the export's place was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(whole.lines().count(), 1 + 40_002);
}

#[tokio::test]
async fn a_download_read_steadily_outlasts_the_idle_timeout_and_one_nobody_reads_does_not() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__HTTP__IDLE_TIMEOUT_SECS".into(), "1".into())],
        ..Options::default()
    })
    .await;
    sqlx::query(
        "INSERT INTO subscribers (id, email, name, status, confirmed_at)
         SELECT gen_random_uuid(), 'reader' || i || '@example.com', repeat('n', 200), 'confirmed', now()
         FROM generate_series(1, 40000) AS i",
    )
    .execute(&app.db)
    .await
    .unwrap();

    // About 10 MB, read with a pause after every megabyte: three seconds in all, never one
    // without taking bytes.
    let started = Instant::now();
    let mut response = app.admin_get("/admin/subscribers/export").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (mut body, mut next_pause) = (Vec::new(), 0);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => panic!("the download was cut after {} bytes and {:?}: {e}", body.len(), started.elapsed()),
        }
        if body.len() >= next_pause {
            tokio::time::sleep(Duration::from_millis(300)).await;
            next_pause += 1024 * 1024;
        }
    }
    assert!(started.elapsed() > Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(text(&body).lines().count(), 1 + 40_000);

    // A reader that takes nothing is closed after the idle timeout, and its export's place with
    // it, long before the export's own 30 s.
    let (status, _, _unread) = open_unread(&app, "/admin/subscribers/export").await;
    assert_eq!(status, 200);
    let started = Instant::now();
    loop {
        let response = app.admin_get("/admin/subscribers/export?status=pending").send().await.unwrap();
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(started.elapsed() < Duration::from_secs(10), "the stalled download was never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
