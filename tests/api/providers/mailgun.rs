//! Mailgun's webhooks: HMAC-SHA256 of timestamp and token with the signing key; a stale or
//! replayed signature is refused.

use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{bounces_of, everything, huge, post, send_digest_to, sent_to, spawn};
use crate::support::TestApp;

const SIGNING_KEY: &str = "mailgun-signing-key-0123456789abcdef";

async fn app() -> TestApp {
    spawn(&[("BROADSHEET__PROVIDERS__MAILGUN__SIGNING_KEY", SIGNING_KEY.to_owned())]).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token like Mailgun's: 50 random hex digits.
fn token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())[..50].to_owned()
}

fn hmac_hex(key: &str, timestamp: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A webhook body shaped as Mailgun's documentation shows it, signed with `key` at `timestamp`.
fn webhook(event_data: Value, key: &str, timestamp: i64) -> Value {
    let (timestamp, token) = (timestamp.to_string(), token());
    let signature = hmac_hex(key, &timestamp, &token);
    json!({"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data})
}

/// `event-data` of a `failed` event: how Mailgun reports a bounce.
fn failed(severity: &str, recipient: &str, sender: &str, message_id: &str, code: u16, enhanced: &str) -> Value {
    json!({
        "id": "Ase7i2zsRYeDXztHGENqRA",
        "timestamp": 1_765_101_600.123_456,
        "log-level": "error",
        "event": "failed",
        "severity": severity,
        "reason": if severity == "permanent" { "bounce" } else { "generic" },
        "envelope": {"sender": sender, "transport": "smtp", "targets": recipient},
        "flags": {"is-routed": false, "is-authenticated": true, "is-system-test": false, "is-test-mode": false},
        "recipient-domain": "example.com",
        "delivery-status": {
            "attempt-no": 1,
            "message": if severity == "permanent" { "No Such User Here" } else { "Mailbox full" },
            "code": code,
            "enhanced-code": enhanced,
            "description": "",
            "session-seconds": 0.4,
        },
        "message": {
            // Mailgun quotes the Message-ID without its angle brackets.
            "headers": {"to": recipient, "message-id": message_id.trim_matches(['<', '>']),
                        "from": "news@example.test", "subject": "News"},
            "attachments": [],
            "size": 4211,
        },
        "recipient": recipient,
        "storage": {"url": "https://storage.api.mailgun.net/v3/domains/news.example.test/messages/AgEFAQ", "key": "AgEFAQ"},
        "user-variables": {},
        "tags": [],
        "campaigns": [],
    })
}

async fn post_webhook(app: &TestApp, body: &Value) -> (u16, Value) {
    post(app, "/webhooks/mailgun", &[], body.to_string().into_bytes()).await
}

#[tokio::test]
async fn mailgun_failures_and_complaints_change_the_subscriber_they_name() {
    let app = app().await;
    send_digest_to(&app, &["gone@example.com", "full@example.com", "angry@example.com"]).await;
    let (gone_sender, gone_id) = sent_to(&app, "gone@example.com").await;
    let (_, full_id) = sent_to(&app, "full@example.com").await;

    let permanent = failed("permanent", "gone@example.com", &gone_sender, &gone_id, 550, "5.1.1");
    let (status, answer) = post_webhook(&app, &webhook(permanent, SIGNING_KEY, now())).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("hard-bounce")), "{answer}");
    assert_eq!(app.status_of("gone@example.com").await.as_deref(), Some("bounced"));

    let temporary = failed("temporary", "full@example.com", "news@example.test", &full_id, 452, "4.2.2");
    let (status, answer) = post_webhook(&app, &webhook(temporary, SIGNING_KEY, now() - 60)).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("soft-bounce")), "{answer}");
    assert_eq!(app.status_of("full@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(bounces_of(&app, "full@example.com").await, ["soft"]);

    let complained = json!({"event": "complained", "id": "ncV2XwymRUKbPek_MIM-Gw", "timestamp": 1_765_101_700.0,
                            "recipient": "angry@example.com", "tags": [], "campaigns": [], "user-variables": {},
                            "message": {"headers": {"to": "angry@example.com", "from": "news@example.test", "subject": "News"}}});
    let (status, answer) = post_webhook(&app, &webhook(complained, SIGNING_KEY, now())).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("complaint")), "{answer}");
    assert_eq!(app.status_of("angry@example.com").await.as_deref(), Some("complained"));

    let delivered = json!({"event": "delivered", "recipient": "full@example.com", "timestamp": 1_765_101_800.0});
    let (status, answer) = post_webhook(&app, &webhook(delivered, SIGNING_KEY, now())).await;
    assert_eq!((status, &answer["skipped"]), (200, &json!(1)), "{answer}");
}

#[tokio::test]
async fn mailgun_bad_stale_or_replayed_signatures_are_refused_and_change_nothing() {
    let app = app().await;
    send_digest_to(&app, &["gone@example.com", "full@example.com"]).await;
    let (sender, id) = sent_to(&app, "gone@example.com").await;
    let permanent = failed("permanent", "gone@example.com", &sender, &id, 550, "5.1.1");
    let before = everything(&app).await;

    let mut short = webhook(permanent.clone(), SIGNING_KEY, now());
    short["signature"]["signature"] = json!("0123abcd");
    let mut long = webhook(permanent.clone(), SIGNING_KEY, now());
    long["signature"]["signature"] = json!("ab".repeat(4096));
    let mut not_hex = webhook(permanent.clone(), SIGNING_KEY, now());
    not_hex["signature"]["signature"] = json!("z".repeat(64));
    let mut moved = webhook(permanent.clone(), SIGNING_KEY, now());
    moved["signature"]["timestamp"] = json!((now() - 1).to_string());
    for (body, why) in [
        (webhook(permanent.clone(), "another-signing-key-0123456789", now()), "does not verify"),
        (short, "does not verify"),
        (long, "does not verify"),
        (not_hex, "does not verify"),
        (moved, "does not verify"),
        (webhook(permanent.clone(), SIGNING_KEY, now() - 6 * 60), "5 minutes"),
        (webhook(permanent.clone(), SIGNING_KEY, now() + 6 * 60), "5 minutes"),
    ] {
        let (status, answer) = post_webhook(&app, &body).await;
        assert_eq!(status, 401, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{answer}");
    }
    for body in
        [json!({"hello": "world"}), json!([]), json!({"signature": {"timestamp": "1", "token": "t", "signature": "s"}})]
    {
        let (status, answer) = post_webhook(&app, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, _) = post(&app, "/webhooks/mailgun", &[], huge()).await;
    assert_eq!(status, 413);
    assert_eq!(everything(&app).await, before, "a refused request changed something");

    // The same signed request twice: taken once, refused the second time.
    let temporary = failed("temporary", "full@example.com", "news@example.test", "<x@y>", 452, "4.2.2");
    let once = webhook(temporary, SIGNING_KEY, now());
    assert_eq!(post_webhook(&app, &once).await.0, 200);
    let (status, answer) = post_webhook(&app, &once).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("replayed"), "{answer}");
    assert_eq!(bounces_of(&app, "full@example.com").await, ["soft"], "the replay counted nothing");
}
