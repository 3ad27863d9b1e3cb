//! Hostile input and hostile networks: deeply nested feed HTML, SMTP servers that do
//! not offer TLS, feed URLs that lead into our own network, credentials in feed URLs, and
//! control characters in titles.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Options, TestApp, free_port};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const ALLOW_PRIVATE: (&str, &str) = ("BROADSHEET__FEEDS__ALLOW_PRIVATE", "true");

/// Runs the CLI, killing it if it takes longer than `limit` (a regression must not hang the
/// suite for minutes).
fn cli_within(app: &TestApp, args: &[&str], env: &[(&str, &str)], limit: Duration) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let mut child = app.cli_command(args).envs(env.iter().copied()).spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("broadsheet {args:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn nested_div(depth: usize, text: &str) -> String {
    format!("{}{text}{}", "<div>".repeat(depth), "</div>".repeat(depth))
}

fn rss(items: &[(&str, &str, String)]) -> String {
    let items: String = items
        .iter()
        .map(|(guid, title, html)| {
            format!(
                "<item><guid>{guid}</guid><title>{title}</title><description><![CDATA[{html}]]></description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>https://example.com/</link><description>d</description>{items}</channel></rss>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_of_deeply_nested_html_imports_in_moments_flattened() {
    let app = TestApp::spawn().await;
    // 40,000 levels fit in an article's 512 KiB (the parser alone took 13 s on them); 200,000
    // do not, and are refused before anything parses them.
    let feed = rss(&[
        ("deep-40k", "Forty thousand", nested_div(40_000, "deep forty")),
        ("deep-200k", "Two hundred thousand", nested_div(200_000, "deep two hundred")),
        ("fine", "Fine", "<p>An <b>ordinary</b> entry.</p>".to_owned()),
    ]);
    let path = std::env::temp_dir().join(format!("broadsheet-deep-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&path, feed).unwrap();
    let path_arg = path.to_string_lossy().into_owned();
    let (out, took) = tokio::task::block_in_place(|| {
        cli_within(&app, &["articles", "import", &path_arg], &[], Duration::from_secs(60))
    });
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(20), "the import took {took:?}");
    assert!(
        text(&out.stdout).starts_with("2 new articles, 0 already imported, 1 entries without content skipped"),
        "{}",
        text(&out.stdout)
    );
    let (body, format): (String, String) =
        sqlx::query_as("SELECT body, body_format FROM articles WHERE title = 'Forty thousand'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(format, "sanitised-html", "stored sanitised, so rendering need not parse it again");
    assert!(body.contains("deep forty"), "the text stays");
    assert!(body.matches("<div>").count() <= broadsheet::content::MAX_NESTING, "nesting is flattened");
}

/// An article stored before import-time sanitising (format `html`) is sanitised at every render:
/// its preview must neither take long nor keep the runtime from answering `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn health_answers_while_a_deeply_nested_article_previews() {
    let app = TestApp::spawn().await;
    sqlx::query("INSERT INTO articles (id, title, body, body_format) VALUES ($1, 'Deep', $2, 'html')")
        .bind(uuid::Uuid::new_v4())
        .bind(nested_div(40_000, "deep-text"))
        .execute(&app.db)
        .await
        .unwrap();
    // One runtime thread, as on a busy server: CPU work on it stops everything else.
    let started = Instant::now();
    let preview = tokio::spawn(app.admin_get("/admin/digests/preview").send());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let health = app.get("/health").await;
    let waited = started.elapsed();
    assert_eq!(health.status(), 200);
    assert!(waited < Duration::from_secs(2), "/health answered {waited:?} after a preview started");
    let preview = preview.await.unwrap().unwrap();
    assert_eq!(preview.status(), 200);
    assert!(preview.text().await.unwrap().contains("deep-text"));
    assert!(started.elapsed() < Duration::from_secs(5), "the preview took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_never_sent_to_a_server_without_starttls() {
    // The sink offers AUTH but never STARTTLS, like a server stripped of its offer on the way.
    let sink = crate::support::SmtpSink::start().await;
    let url = format!("smtp://news%40example.test:hunter2@127.0.0.1:{}", sink.port());
    let app = TestApp::spawn_with(Options {
        start_sink: false,
        mail_port: Some(free_port()),
        extra: vec![("BROADSHEET__MAIL__URL".into(), url)],
        ..Options::default()
    })
    .await;
    app.sign_up("reader@example.com", "").await;
    let failed = "SELECT count(*) FROM deliveries WHERE last_error IS NOT NULL";
    app.wait_for_count(failed, |n| n == 1, Duration::from_secs(10), "the send to be refused").await;
    let error: String = sqlx::query_scalar("SELECT last_error FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert!(error.contains("does not offer STARTTLS") && error.contains("password"), "{error}");
    assert_eq!(sink.auth_commands(), 0, "no AUTH went out in the clear");
    assert_eq!(sink.received().len(), 0);

    // Saying so explicitly (a local relay) is the only way to send credentials unencrypted.
    let bad = tokio::task::block_in_place(|| {
        app.cli_with(
            &["migrate"],
            None,
            &[("BROADSHEET__MAIL__URL", &format!("smtp://u:p@127.0.0.1:{}?tls=opportunistic", sink.port()))],
        )
    });
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("mail.url") && text(&bad.stderr).contains("unencrypted"),
        "{}",
        text(&bad.stderr)
    );
}

/// Answers every request on loopback: `/r/N` redirects to `/r/N-1`, `/r/0` to `/feed.xml`, which
/// is an RSS feed. Returns the port and a count of requests.
async fn feed_server() -> (u16, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            *counter.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let answer = match path.strip_prefix("/r/").and_then(|n| n.parse::<usize>().ok()) {
                    Some(0) => {
                        "HTTP/1.1 302 Found\r\nLocation: /feed.xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    }
                    Some(n) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: /r/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        n - 1
                    ),
                    None => {
                        let feed = rss(&[("only", "Internal notes", "<p>internal</p>".to_owned())]);
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{feed}",
                            feed.len()
                        )
                    }
                };
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_on_internal_addresses_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let (port, requests) = feed_server().await;
    for url in [format!("http://127.0.0.1:{port}/feed.xml"), format!("http://localhost:{port}/feed.xml")] {
        let out = tokio::task::block_in_place(|| app.cli(&["articles", "import", &url], None));
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("internal address") && stderr.contains("feeds.allow_private = true"), "{stderr}");
    }
    assert_eq!(*requests.lock().unwrap(), 0, "nothing reached the internal server");

    // Allowed: redirects are followed, up to the limit.
    let allowed = [ALLOW_PRIVATE];
    let within = format!("http://127.0.0.1:{port}/r/{}", broadsheet::ops::feeds::MAX_REDIRECTS - 1);
    let out = tokio::task::block_in_place(|| app.cli_with(&["articles", "import", &within], None, &allowed));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("1 new articles"), "{}", text(&out.stdout));
    let beyond = format!("http://127.0.0.1:{port}/r/{}", broadsheet::ops::feeds::MAX_REDIRECTS);
    let out = tokio::task::block_in_place(|| app.cli_with(&["articles", "import", &beyond], None, &allowed));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("redirects"), "{}", text(&out.stderr));
}

/// Credentials in feed URLs never reach the logs: the worker's poll of a feed that answers (INFO)
/// and of one that cannot be reached (WARN), read from the real process's log output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_credentials_stay_out_of_the_logs() {
    let app = TestApp::spawn().await;
    let (port, _) = feed_server().await;
    let urls = format!(
        "http://reader:s3cret-one@127.0.0.1:{port}/feed.xml,http://reader:s3cret-two@127.0.0.1:{}/gone.xml",
        free_port()
    );
    let mut worker = app
        .cli_command(&["worker"])
        .envs([("BROADSHEET__FEEDS__URLS", urls.as_str()), ALLOW_PRIVATE, ("RUST_LOG", "info")])
        .spawn()
        .unwrap();
    let stderr = worker.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let both = || {
        let log = log.lock().unwrap();
        log.contains("feed polled") && log.contains("feed poll failed")
    };
    while !both() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = worker.kill();
    let _ = worker.wait();
    let log = log.lock().unwrap().clone();
    assert!(both(), "the worker polled both feeds:\n{log}");
    assert!(!log.contains("s3cret") && !log.contains("reader:"), "credentials in the log:\n{log}");
    assert!(log.contains(&format!("127.0.0.1:{port}/feed.xml")), "the feed is still named:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_never_reach_titles_subjects_or_the_terminal() {
    let app = TestApp::spawn().await;
    // Through the admin API.
    let id = app.add_article("\u{1b}[31mRed alert\u{7}", "Body\u{1b}[0m text.", None).await;
    let (title, body): (String, String) = sqlx::query_as("SELECT title, body FROM articles WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((title.as_str(), body.as_str()), ("[31mRed alert", "Body[0m text."));

    // Through a feed: raw in RSS, and as character references in an HTML title.
    let feed = "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><id>urn:t</id>\
        <updated>2026-11-30T00:00:00Z</updated><entry><id>urn:e1</id><updated>2026-11-30T00:00:00Z</updated>\
        <title type=\"html\">Breaking &amp;#x1b;]0;pwned&amp;#x7; &amp;#x1b;[2Jnews\u{1b}[5m</title>\
        <content type=\"html\">&lt;p&gt;Story&lt;/p&gt;</content></entry></feed>";
    let path = std::env::temp_dir().join(format!("broadsheet-ctl-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&path, feed).unwrap();
    let out = tokio::task::block_in_place(|| app.cli(&["articles", "import", &path.to_string_lossy()], None));
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A row stored before titles were cleaned.
    sqlx::query("INSERT INTO articles (id, title, body) VALUES ($1, $2, 'Old')")
        .bind(uuid::Uuid::new_v4())
        .bind("Old \u{1b}[31mtitle\u{9b}1m\u{7}")
        .execute(&app.db)
        .await
        .unwrap();

    let titles: Vec<String> =
        sqlx::query_scalar("SELECT title FROM articles WHERE body <> 'Old'").fetch_all(&app.db).await.unwrap();
    for title in &titles {
        assert!(!title.chars().any(char::is_control), "{title:?}");
    }
    let listed = tokio::task::block_in_place(|| app.cli(&["articles", "list"], None));
    let shown = text(&listed.stdout);
    assert!(shown.contains("Breaking ]0;pwned [2Jnews[5m") && shown.contains("Old [31mtitle1m"), "{shown}");
    assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{shown:?}");

    // The default subject is made from titles; it reaches the Subject header clean.
    let preview = tokio::task::block_in_place(|| app.cli(&["digest", "preview", "--format", "text"], None));
    let subject = text(&preview.stdout).lines().next().unwrap_or("").to_owned();
    assert!(subject.starts_with("Subject: ") && !subject.chars().any(char::is_control), "{subject:?}");
}
