//! Hostile input and hostile networks (issue 17): deeply nested feed HTML, SMTP servers that do
//! not offer TLS, feed URLs that lead into our own network, credentials in feed URLs, and
//! control characters in titles.

use std::time::Duration;

use crate::support::{Options, TestApp, free_port};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
