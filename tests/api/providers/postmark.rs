//! Postmark's bounce and spam complaint webhooks, with HTTP Basic credentials in the webhook URL.

use serde_json::{Value, json};

use super::{b64, bounces_of, everything, huge, post, send_digest_to, spawn};
use crate::support::TestApp;

const USERNAME: &str = "postmark-hooks";
const PASSWORD: &str = "a-postmark-password-0123";

async fn app() -> TestApp {
    spawn(&[
        ("BROADSHEET__PROVIDERS__POSTMARK__USERNAME", USERNAME.to_owned()),
        ("BROADSHEET__PROVIDERS__POSTMARK__PASSWORD", PASSWORD.to_owned()),
    ])
    .await
}

fn basic(username: &str, password: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Basic {}", b64(format!("{username}:{password}").as_bytes())))]
}

/// A record shaped as Postmark's webhook documentation shows it.
fn record(record_type: &str, kind: &str, type_code: u32, email: &str, details: &str) -> Value {
    json!({
        "RecordType": record_type,
        "MessageStream": "broadcast",
        "ID": 4_323_372_036_854_775_807_u64,
        "Type": kind,
        "TypeCode": type_code,
        "Name": kind,
        "Tag": "digest",
        "MessageID": "9a1f6c3e-2b7d-4e58-8c0a-5d3f1e7b9c24",
        "Metadata": {"list": "news"},
        "ServerID": 23,
        "Description": "What Postmark says about this type.",
        "Details": details,
        "Email": email,
        "From": "news@example.test",
        "BouncedAt": "2026-12-07T10:00:00Z",
        "DumpAvailable": true,
        "Inactive": record_type == "SpamComplaint" || kind == "HardBounce",
        "CanActivate": true,
        "Subject": "News",
        "Content": "",
    })
}

async fn post_record(app: &TestApp, record: &Value) -> (u16, Value) {
    post(app, "/webhooks/postmark", &basic(USERNAME, PASSWORD), record.to_string().into_bytes()).await
}

#[tokio::test]
async fn postmark_bounces_and_spam_complaints_change_the_recipient() {
    let app = app().await;
    send_digest_to(&app, &["gone@example.com", "full@example.com", "angry@example.com"]).await;

    let hard =
        record("Bounce", "HardBounce", 1, "gone@example.com", "smtp;550 5.1.1 The email account does not exist.");
    let (status, answer) = post_record(&app, &hard).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("hard-bounce")), "{answer}");
    assert_eq!(app.status_of("gone@example.com").await.as_deref(), Some("bounced"));

    let soft = record("Bounce", "SoftBounce", 4096, "full@example.com", "smtp;452 4.2.2 Mailbox full");
    let (status, answer) = post_record(&app, &soft).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("soft-bounce")), "{answer}");
    assert_eq!(app.status_of("full@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(bounces_of(&app, "full@example.com").await, ["soft"]);

    let spam = record("SpamComplaint", "SpamComplaint", 512, "angry@example.com", "");
    let (status, answer) = post_record(&app, &spam).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("complaint")), "{answer}");
    assert_eq!(app.status_of("angry@example.com").await.as_deref(), Some("complained"));

    // Other records and bounce types are taken and not acted on.
    let auto_reply = record("Bounce", "AutoResponder", 64, "full@example.com", "Out of office");
    let (status, answer) = post_record(&app, &auto_reply).await;
    assert_eq!((status, &answer["skipped"]), (200, &json!(1)), "{answer}");
    assert_eq!(bounces_of(&app, "full@example.com").await, ["soft"]);
}

#[tokio::test]
async fn postmark_without_the_right_credentials_or_the_right_shape_changes_nothing() {
    let app = app().await;
    send_digest_to(&app, &["gone@example.com"]).await;
    let before = everything(&app).await;
    let hard = record("Bounce", "HardBounce", 1, "gone@example.com", "smtp;550 5.1.1 unknown").to_string();

    for headers in [
        vec![],
        basic(USERNAME, "wrong-password-0123456"),
        basic("someone", PASSWORD),
        basic(USERNAME, &format!("{PASSWORD}x")),
        vec![("authorization", format!("Bearer {PASSWORD}"))],
        vec![("authorization", "Basic !!!".to_owned())],
    ] {
        let (status, answer) = post(&app, "/webhooks/postmark", &headers, hard.clone().into_bytes()).await;
        assert_eq!(status, 401, "{headers:?}: {answer}");
    }
    for body in [
        json!({"hello": "world"}),
        json!([]),
        json!({"RecordType": 7}),
        json!({"RecordType": "Bounce", "Type": "HardBounce"}),
    ] {
        let (status, answer) = post_record(&app, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, _) = post(&app, "/webhooks/postmark", &basic(USERNAME, PASSWORD), b"not json".to_vec()).await;
    assert_eq!(status, 400);
    let (status, _) = post(&app, "/webhooks/postmark", &basic(USERNAME, PASSWORD), huge()).await;
    assert_eq!(status, 413);
    assert_eq!(everything(&app).await, before, "a refused request changed something");
}
