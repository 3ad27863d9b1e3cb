//! RSS/Atom import from real-world-shaped feed files, a URL, and the worker's poller.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Options, TestApp};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn articles(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as("SELECT title, body, url FROM articles ORDER BY created_at, title").fetch_all(&app.db).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rss_feed_imports_once_sanitised_and_previews_in_order() {
    let app = TestApp::spawn().await;
    let first = tokio::task::block_in_place(|| app.cli(&["articles", "import", "tests/feeds/rss2.xml"], None));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).starts_with("2 new articles, 0 already imported, 1 entries without content skipped"),
        "{}",
        text(&first.stdout)
    );
    let again = tokio::task::block_in_place(|| app.cli(&["articles", "import", "tests/feeds/rss2.xml"], None));
    assert!(text(&again.stdout).starts_with("0 new articles, 2 already imported"), "{}", text(&again.stdout));

    let stored = articles(&app).await;
    assert_eq!(stored.len(), 2);
    let (title, body, url) = &stored[0];
    assert_eq!(title, "Why we moved our queue into Postgres");
    assert_eq!(url.as_deref(), Some("https://blog.example.com/2026/11/postgres-queue"));
    for bad in ["<script", "<img", "onclick", "tracker.example.net", "document.cookie", "<iframe"] {
        assert!(!body.contains(bad) && !stored[1].1.contains(bad), "{bad} survived: {body}");
    }
    assert!(body.contains("<strong>It cost us</strong>") && body.contains("<li>fewer moving parts</li>"), "{body}");

    let preview = tokio::task::block_in_place(|| app.cli(&["digest", "preview", "--format", "text"], None));
    let shown = text(&preview.stdout);
    let queue = shown.find("Why we moved our queue").unwrap();
    let release = shown.find("Release notes: 2.4").unwrap();
    assert!(queue < release, "feed order (oldest first):\n{shown}");
    assert!(shown.contains("- fewer moving parts"), "{shown}");
    assert!(shown.contains("Read the docs (https://www.postgresql.org/docs/current/sql-select.html)"), "{shown}");
    let html = tokio::task::block_in_place(|| app.cli(&["digest", "preview", "--format", "html"], None));
    assert!(!text(&html.stdout).contains("<script"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atom_and_latin1_feeds_import_with_their_text_intact() {
    let app = TestApp::spawn().await;
    for feed in ["tests/feeds/atom.xml", "tests/feeds/latin1.xml"] {
        let out = tokio::task::block_in_place(|| app.cli(&["articles", "import", feed], None));
        assert!(out.status.success(), "{feed}: {}", text(&out.stderr));
    }
    let stored = articles(&app).await;
    let titles: Vec<&str> = stored.iter().map(|(t, _, _)| t.as_str()).collect();
    assert!(titles.contains(&"Fish & chips, fast"), "{titles:?}");
    assert!(titles.contains(&"Crème brûlée et café noir"), "{titles:?}");
    let plain = stored.iter().find(|(t, _, _)| t == "Plain text entry").unwrap();
    assert!(plain.1.contains("&lt;angle brackets&gt;"), "text content stays text: {}", plain.1);
    let small = stored.iter().find(|(t, _, _)| t == "Fish & chips, fast").unwrap();
    assert!(!small.1.contains("onmouseover") && !small.1.contains("color:red"), "{}", small.1);
    let french = stored.iter().find(|(t, _, _)| t.starts_with("Crème")).unwrap();
    assert!(french.1.contains("Noël"), "{}", french.1);

    let bad = tokio::task::block_in_place(|| app.cli(&["articles", "import", "Cargo.toml"], None));
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("not an RSS or Atom feed"), "{}", text(&bad.stderr));
    let missing = tokio::task::block_in_place(|| app.cli(&["articles", "import", "tests/feeds/nope.xml"], None));
    assert_eq!(missing.status.code(), Some(2));
}

/// Serves one file over HTTP on loopback, as often as asked.
async fn serve_feed(bytes: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(bytes).await;
            });
        }
    });
    format!("http://{addr}/feed.xml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_url_imports_and_the_worker_polls_configured_feeds() {
    let url = serve_feed(include_bytes!("../feeds/rss2.xml")).await;
    // The test server is on loopback, which feeds may reach only when allowed.
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("BROADSHEET__FEEDS__URLS".into(), url.clone()),
            ("BROADSHEET__FEEDS__ALLOW_PRIVATE".into(), "true".into()),
        ],
        ..Default::default()
    })
    .await;
    let count = "SELECT count(*) FROM articles";
    app.wait_for_count(count, |n| n == 2, Duration::from_secs(15), "the worker to poll the feed").await;
    let allow = [("BROADSHEET__FEEDS__ALLOW_PRIVATE", "true")];
    let again = tokio::task::block_in_place(|| app.cli_with(&["articles", "import", &url], None, &allow));
    assert!(text(&again.stdout).starts_with("0 new articles, 2 already imported"), "{}", text(&again.stdout));
}
