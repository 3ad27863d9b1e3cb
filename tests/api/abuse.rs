//! Abuse: subscription bombing, enumeration, and what reaches the logs.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{Options, TestApp, token_of};

#[tokio::test]
async fn a_script_posting_signups_from_one_address_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__LIMITS__SIGNUPS_PER_IP_PER_MINUTE".into(), "5".into())],
        ..Default::default()
    })
    .await;
    for i in 0..5 {
        let ok = app.post_json("/subscriptions", &json!({ "email": format!("victim{i}@example.com") })).await;
        assert_eq!(ok.status(), 202);
    }
    let refused = app.post_json("/subscriptions", &json!({ "email": "victim@example.com" })).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert!(refused.json::<serde_json::Value>().await.unwrap()["error"].as_str().unwrap().contains("wait"));
    let form = app.sign_up("victim@example.com", "").await;
    assert_eq!(form.status(), 429, "the HTML form is limited too");
    let subscribers: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(subscribers, 5);
}

/// Runs the real binary with `info` logs, walks a subscriber through signup, confirmation and
/// unsubscribe, and reads everything it logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_or_token_reaches_the_logs_at_info() {
    // The harness gives us a database and a sink; the service under test is a separate process.
    let harness = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let port = crate::support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .arg("serve")
        .env("DATABASE_URL", harness.database_url())
        .env("BROADSHEET__HTTP__ADDR", format!("127.0.0.1:{port}"))
        .env("BROADSHEET__HTTP__BASE_URL", crate::support::BASE_URL)
        .env("BROADSHEET__MAIL__URL", harness.sink().url())
        .env("BROADSHEET__LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    crate::support::wait_until(Duration::from_secs(20), "the service to listen", || {
        let url = format!("{base}/health");
        async move { reqwest::get(url).await.is_ok() }
    })
    .await;

    let email = "secret.person@private-domain.example";
    let client = reqwest::Client::new();
    let form = |fields: &[(&str, &str)]| serde_urlencoded::to_string(fields).unwrap();
    let post = |path: String, body: String| {
        client.post(path).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    assert_eq!(
        post(format!("{base}/subscriptions"), form(&[("email", email), ("name", "Secret Name")]))
            .await
            .unwrap()
            .status(),
        200
    );
    let mail = harness.sink().wait_for(1, Duration::from_secs(10)).await.remove(0);
    let confirm = mail.link_to("https://news.example.test/subscriptions/confirm");
    let unsubscribe = mail.link_to("https://news.example.test/unsubscribe");
    let confirm_token = token_of(&confirm);
    let unsubscribe_token = token_of(&unsubscribe);
    assert_eq!(
        client.get(format!("{base}/subscriptions/confirm?token={confirm_token}")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        post(format!("{base}/subscriptions/confirm"), form(&[("token", &confirm_token)])).await.unwrap().status(),
        200
    );
    assert_eq!(
        post(format!("{base}/unsubscribe?token={unsubscribe_token}"), "List-Unsubscribe=One-Click".into())
            .await
            .unwrap()
            .status(),
        200
    );

    // SIGTERM, then read the whole log.
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "exits 0 on SIGTERM");
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(
        logs.contains("signup") && logs.contains("subscription confirmed") && logs.contains("unsubscribed"),
        "{logs}"
    );
    for secret in [email, "secret.person", "private-domain", "Secret Name", &confirm_token, &unsubscribe_token] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs:\n{logs}");
    }
    assert!(logs.contains("request_id"), "requests are logged with their id");
}
