//! The operator's command line, run as the real binary against the test database.

use std::time::Duration;

use crate::support::TestApp;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_articles_previews_sends_and_watches_a_digest() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["a@example.com", "b@example.com"]).await;

    let added = tokio::task::block_in_place(|| {
        app.cli(
            &["articles", "add", "--title", "From the CLI", "--url", "https://example.com/cli", "--body", "-"],
            Some("Hello *CLI*."),
        )
    });
    assert!(added.status.success(), "{}", text(&added.stderr));
    let id = text(&added.stdout).trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "prints the id: {id}");

    let preview = tokio::task::block_in_place(|| app.cli(&["digest", "preview", "--format", "text"], None));
    assert!(preview.status.success(), "{}", text(&preview.stderr));
    let shown = text(&preview.stdout);
    assert!(shown.contains("From the CLI") && shown.contains("Hello CLI."), "{shown}");
    assert_eq!(app.sink().received().len(), 0, "a preview sends nothing");

    let sent = tokio::task::block_in_place(|| app.cli(&["digest", "send", "--subject", "CLI news", "--wait"], None));
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let out = text(&sent.stdout);
    assert!(out.contains("queued for 2 recipients"), "{out}");
    assert!(out.contains("done: 2 sent, 0 failed"), "{out}");
    app.sink().wait_for(2, Duration::from_secs(5)).await;

    let digest_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM digests").fetch_one(&app.db).await.unwrap();
    let status = tokio::task::block_in_place(|| app.cli(&["digest", "status", &digest_id.to_string()], None));
    assert!(status.status.success());
    let shown = text(&status.stdout);
    assert!(shown.contains("recipients  2") && shown.contains("sent        2"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_command_line_exits_2_with_a_message() {
    let app = TestApp::spawn().await;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["articles", "add", "--title", "", "--body", "-"], "title"),
        (vec!["articles", "add", "--title", "T", "--body", "/nonexistent/file.md"], "--body"),
        (vec!["articles", "add", "--title", "T", "--url", "ftp://x", "--body", "-"], "url"),
        (vec!["digest", "send"], "no new articles"),
        (vec!["digest", "status", "not-a-uuid"], "not a digest id"),
        (vec!["digest", "status", "00000000-0000-0000-0000-000000000000"], "no digest"),
        (vec!["digest", "preview", "--articles", "nope"], "not an article id"),
        (vec!["no-such-command"], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let out = tokio::task::block_in_place(|| app.cli(&args, Some("body")));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.to_lowercase().contains(&expected.to_lowercase()), "{args:?}: {stderr}");
    }
    let bad_config = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .arg("migrate")
            .env("BROADSHEET__MAIL__CONCURRENCY", "lots")
            .output()
            .unwrap()
    });
    assert_eq!(bad_config.status.code(), Some(2));
    assert!(text(&bad_config.stderr).contains("mail.concurrency"), "{}", text(&bad_config.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_ca_file_that_cannot_be_read_stops_the_start_in_one_line_naming_the_key() {
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .arg("migrate")
            .env("BROADSHEET__MAIL__TLS_CA_FILE", "/nonexistent/relay-ca.pem")
            .output()
            .unwrap()
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("mail.tls_ca_file") && stderr.contains("/nonexistent/relay-ca.pem"), "{stderr}");
}
