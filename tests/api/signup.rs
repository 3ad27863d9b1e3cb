use std::time::Duration;

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn a_visitor_signs_up_confirms_from_the_mail_and_is_subscribed() {
    let app = TestApp::spawn().await;

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="/subscriptions""#), "{html}");
    assert!(html.contains(r#"name="email""#));

    let response = app.sign_up("ada@example.com", "Ada Lovelace").await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().to_lowercase().contains("inbox"));
    assert_eq!(app.status_of("ada@example.com").await.as_deref(), Some("pending"));

    let mails = app.sink().wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec!["ada@example.com".to_owned()]);
    assert!(mail.header("Message-ID").unwrap().ends_with("@example.test>"));
    assert!(mail.header("Content-Type").unwrap().starts_with("multipart/alternative"));
    assert!(mail.text_body().contains("Ada Lovelace"));
    assert!(mail.html_body().contains("Ada Lovelace"));
    assert!(mail.header("List-Unsubscribe").unwrap().starts_with("<https://news.example.test/unsubscribe?token="));

    let link = app.local(&mail.link_to("https://news.example.test/subscriptions/confirm"));
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    assert_eq!(app.status_of("ada@example.com").await.as_deref(), Some("pending"), "GET must change nothing");

    let token = crate::support::token_of(&link);
    let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token)]).await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.status_of("ada@example.com").await.as_deref(), Some("confirmed"));

    // The consent record: signup and confirmation, with where they came from.
    let events: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action::text, host(ip) FROM consent_events ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(events, vec![("signup".into(), Some("127.0.0.1".into())), ("confirm".into(), Some("127.0.0.1".into()))]);
}

#[tokio::test]
async fn the_json_api_answers_202_pending_and_sends_the_same_mail() {
    let app = TestApp::spawn().await;
    let response = app.post_json("/subscriptions", &json!({ "email": "grace@example.com", "name": "Grace" })).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({ "status": "pending" }));
    let mails = app.sink().wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].rcpt_to, vec!["grace@example.com".to_owned()]);
}

#[tokio::test]
async fn signing_up_again_looks_the_same_whatever_the_address_state() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("known@example.com", "").await;
    app.post_form("/subscriptions/confirm", &[("token", &crate::support::token_of(&link))]).await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;

    let new = app.post_json("/subscriptions", &json!({ "email": "new@example.com" })).await;
    let confirmed = app.post_json("/subscriptions", &json!({ "email": "KNOWN@example.com" })).await;
    assert_eq!(new.status(), confirmed.status());
    assert_eq!(new.text().await.unwrap(), confirmed.text().await.unwrap());

    let new_page = app.sign_up("new2@example.com", "").await.text().await.unwrap();
    let confirmed_page = app.sign_up("known@example.com", "").await.text().await.unwrap();
    assert_eq!(new_page, confirmed_page);

    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    // The confirmed subscriber got nothing for signing up again (only the confirmation mail and
    // the welcome); the new addresses got theirs.
    assert_eq!(app.sink().count_for("known@example.com"), 2);
    assert_eq!(app.sink().count_for("new@example.com"), 1);
    assert_eq!(app.status_of("known@example.com").await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn a_pending_address_gets_its_mail_again_but_only_a_few_times_a_day() {
    let app = TestApp::spawn().await;
    for _ in 0..6 {
        let response = app.sign_up("again@example.com", "").await;
        assert_eq!(response.status(), 200);
        // Let each mail go out, so the next signup is a resend rather than a duplicate in the queue.
        app.wait_until_queue_settled(Duration::from_secs(10)).await;
    }
    assert_eq!(app.sink().count_for("again@example.com"), 3, "capped at limits.confirmation_mails_per_address_per_day");
    let subscribers: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(subscribers, 1);
}

#[tokio::test]
async fn addresses_are_unique_whatever_their_case_and_the_domain_is_normalised() {
    let app = TestApp::spawn().await;
    app.sign_up("  Mixed.Case@EXAMPLE.com ", "").await;
    app.sign_up("mixed.case@example.com", "").await;
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM subscribers").fetch_all(&app.db).await.unwrap();
    assert_eq!(emails, vec!["Mixed.Case@example.com".to_owned()]);
}

#[tokio::test]
async fn someone_who_unsubscribed_can_sign_up_again_and_must_confirm_again() {
    let app = TestApp::spawn().await;
    let (link, mail) = app.confirmation_link_for("back@example.com", "").await;
    app.post_form("/subscriptions/confirm", &[("token", &crate::support::token_of(&link))]).await;
    let unsubscribe = app.local(&mail.link_to("https://news.example.test/unsubscribe"));
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200);
    assert_eq!(app.status_of("back@example.com").await.as_deref(), Some("unsubscribed"));
    app.wait_until_queue_settled(Duration::from_secs(10)).await;

    let (link, _) = app.confirmation_link_for("back@example.com", "").await;
    assert_eq!(app.status_of("back@example.com").await.as_deref(), Some("pending"));
    app.post_form("/subscriptions/confirm", &[("token", &crate::support::token_of(&link))]).await;
    assert_eq!(app.status_of("back@example.com").await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(app.get("/ready").await.status(), 200);
    app.sign_up("counted@example.com", "").await;
    app.wait_until_queue_settled(std::time::Duration::from_secs(10)).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "broadsheet_signups_total",
        "broadsheet_confirmations_total",
        "broadsheet_unsubscribes_total",
        "broadsheet_deliveries_total{outcome=\"sent\"}",
        "broadsheet_smtp_send_seconds_bucket{le=\"+Inf\"}",
        "broadsheet_worker_in_flight",
        "broadsheet_queue_depth 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}
