//! Provider webhooks end to end: each provider's documented payloads, signed with keys these
//! tests make, change the subscriber their report names through the same path as a bounce by
//! mail; everything else (no credentials, a bad signature, a stale or replayed request, a body of
//! another shape, a body too large) is refused and changes nothing.

mod mailgun;
mod postmark;
mod sendgrid;
mod ses;

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::deliverability::{bounce_settings, queue_digest};
use crate::support::{Options, TestApp};

/// An app with VERP on and these provider settings.
pub(crate) async fn spawn(extra: &[(&str, String)]) -> TestApp {
    let mut vars = bounce_settings();
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    TestApp::spawn_with(Options { extra: vars, ..Default::default() }).await
}

/// One digest to each of `emails`, so each has a delivery with our Message-ID and VERP sender.
pub(crate) async fn send_digest_to(app: &TestApp, emails: &[&str]) {
    app.add_confirmed(emails).await;
    queue_digest(app, "News").await;
    app.wait_until_queue_settled(Duration::from_secs(30)).await;
}

/// The envelope sender (VERP) and the Message-ID the digest went to `email` with.
pub(crate) async fn sent_to(app: &TestApp, email: &str) -> (String, String) {
    let mail = app.sink().received().into_iter().find(|m| m.rcpt_to == [email]).expect("a mail to them");
    let message_id: String = sqlx::query_scalar(
        "SELECT d.message_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = $1",
    )
    .bind(email)
    .fetch_one(&app.db)
    .await
    .unwrap();
    (mail.mail_from, message_id)
}

/// Every subscriber's status and every recorded bounce: what a refused request must not change.
pub(crate) async fn everything(app: &TestApp) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let statuses =
        sqlx::query_as("SELECT email, status::text FROM subscribers ORDER BY email").fetch_all(&app.db).await.unwrap();
    let bounces = sqlx::query_as(
        "SELECT s.email, b.kind::text FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id ORDER BY b.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    (statuses, bounces)
}

/// The kinds of the bounces recorded for `email`, oldest first.
pub(crate) async fn bounces_of(app: &TestApp, email: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT b.kind::text FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id WHERE s.email = $1 ORDER BY b.id",
    )
    .bind(email)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Whether the last bounce recorded for `email` names a delivery (matched by VERP tag or
/// Message-ID) rather than only the address.
pub(crate) async fn names_a_delivery(app: &TestApp, email: &str) -> bool {
    sqlx::query_scalar(
        "SELECT b.delivery_id IS NOT NULL FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id
         WHERE s.email = $1 ORDER BY b.id DESC LIMIT 1",
    )
    .bind(email)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Posts `body` with `headers`; the status and the JSON answer.
pub(crate) async fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
    let mut request = app.client.post(format!("{}{path}", app.address)).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Ten megabytes: far past the 1 MiB a webhook may send.
pub(crate) fn huge() -> Vec<u8> {
    let mut body = b"[".to_vec();
    body.resize(10 * 1024 * 1024, b' ');
    body
}

#[tokio::test]
async fn providers_that_are_not_configured_answer_404() {
    let app = TestApp::spawn().await;
    for provider in ["ses", "postmark", "mailgun", "sendgrid"] {
        let (status, answer) = post(&app, &format!("/webhooks/{provider}"), &[], b"{}".to_vec()).await;
        assert_eq!(status, 404, "{provider}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(&format!("providers.{provider}")), "{answer}");
    }
}
