//! Amazon SES through an SNS topic: signed envelopes (SignatureVersion 1 and 2) carrying SES
//! notifications, the signing certificate served by a stand-in for Amazon on this machine, whose
//! host the configuration trusts (`providers.ses.certificate_hosts`).

use std::sync::{Arc, Mutex};

use axum::http::Uri;
use axum::response::IntoResponse as _;
use rsa::pkcs8::DecodePrivateKey as _;
use serde_json::{Value, json};

use super::{b64, bounces_of, everything, huge, names_a_delivery, post, send_digest_to, sent_to, spawn};
use crate::support::TestApp;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-reports";
/// A self-signed certificate and its key, made with
/// `openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj /CN=sns.test.invalid`.
const CERT: &str = include_str!("../../fixtures/sns-signing-cert.pem");
const KEY: &str = include_str!("../../fixtures/sns-signing-key.pem");

/// Amazon's part: serves the signing certificate and answers subscription confirmations,
/// noting every request.
struct StandIn {
    host: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    async fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let noted = requests.clone();
        let router = axum::Router::new().fallback(move |uri: Uri| {
            let noted = noted.clone();
            async move {
                noted.lock().unwrap().push(uri.to_string());
                if uri.path().ends_with(".pem") {
                    CERT.into_response()
                } else if uri.path() == "/confirm" {
                    "<ConfirmSubscriptionResponse/>".into_response()
                } else {
                    axum::http::StatusCode::NOT_FOUND.into_response()
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { host, requests }
    }

    fn cert_url(&self) -> String {
        format!("http://{}/SimpleNotificationService-0123456789abcdef.pem", self.host)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn app_trusting(stand_in: &StandIn) -> TestApp {
    spawn(&[
        ("BROADSHEET__PROVIDERS__SES__TOPIC_ARNS", TOPIC.to_owned()),
        ("BROADSHEET__PROVIDERS__SES__CERTIFICATE_HOSTS", stand_in.host.clone()),
    ])
    .await
}

/// The string SNS signs, built as Amazon's documentation describes it: `Key\nvalue\n` for the
/// message's keys in this order, Subject only when present.
fn string_to_sign(fields: &Value) -> String {
    let keys: &[&str] = if fields["Type"] == "Notification" {
        &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    } else {
        &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    };
    keys.iter().filter_map(|k| fields.get(*k).and_then(Value::as_str).map(|v| format!("{k}\n{v}\n"))).collect()
}

/// Signs the envelope as SNS does: version 1 SHA1withRSA, version 2 SHA256withRSA.
fn sign(mut fields: Value, version: u8) -> Value {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(KEY).unwrap();
    let text = string_to_sign(&fields);
    let signature = if version == 1 {
        // DigestInfo for SHA-1 (RFC 8017, 9.2), then the digest.
        let mut info = vec![0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];
        info.extend_from_slice(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes()).as_ref());
        key.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info).unwrap()
    } else {
        use sha2::Digest as _;
        key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &sha2::Sha256::digest(text.as_bytes())).unwrap()
    };
    fields["SignatureVersion"] = json!(version.to_string());
    fields["Signature"] = json!(b64(&signature));
    fields
}

/// An SNS notification carrying `message`, unsigned, shaped as SNS's documentation shows.
fn notification(message: &Value, cert_url: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "6f0c2b1e-8a47-4d3b-9e15-3c7a0d9b2e41",
        "TopicArn": TOPIC,
        "Message": message.to_string(),
        "Timestamp": "2026-12-07T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:ses-reports:4b7e2a90",
    })
}

/// The `mail` object of an SES notification, for a message with this envelope sender and
/// Message-ID (SES keeps its own id in `messageId`).
fn mail(source: &str, to: &str, message_id: Option<&str>) -> Value {
    let headers: Vec<Value> = message_id.map(|id| json!({"name": "Message-ID", "value": id})).into_iter().collect();
    json!({
        "timestamp": "2026-12-07T09:59:58.000Z",
        "source": source,
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/news.example.test",
        "sourceIp": "203.0.113.7",
        "sendingAccountId": "123456789012",
        "messageId": "0100018c3a7e9d2f-5f1b7d31-3a5e-4c8e-9b1a-2f1c0e7d8a9b-000000",
        "destination": [to],
        "headersTruncated": false,
        "headers": headers,
        "commonHeaders": {"from": ["news@example.test"], "to": [to], "subject": "News"},
    })
}

fn bounce(kind: &str, to: &str, status: &str, diagnostic: &str, mail: Value) -> Value {
    json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": if kind == "Permanent" { "General" } else { "MailboxFull" },
            "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": status, "diagnosticCode": diagnostic}],
            "timestamp": "2026-12-07T10:00:00.000Z",
            "feedbackId": "0100018c3a7ea0b1-2d1c5b8e-0c4f-4b7a-8e62-6f3d2a1b0c9d-000000",
            "reportingMTA": "dsn; smtp-out.us-east-1.amazonses.com",
        },
        "mail": mail,
    })
}

async fn post_sns(app: &TestApp, envelope: &Value) -> (u16, Value) {
    // SNS posts its JSON as text/plain.
    let response = app
        .client
        .post(format!("{}/webhooks/ses", app.address))
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", envelope["Type"].as_str().unwrap_or_default())
        .body(envelope.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ses_bounces_and_complaints_signed_with_version_1_and_2_change_the_subscriber_they_name() {
    let amazon = StandIn::start().await;
    let app = app_trusting(&amazon).await;
    send_digest_to(&app, &["gone@example.com", "full@example.com", "angry@example.com", "calm@example.com"]).await;
    let (gone_sender, _) = sent_to(&app, "gone@example.com").await;
    let (_, full_id) = sent_to(&app, "full@example.com").await;

    // A permanent bounce, SignatureVersion 1, named by the VERP envelope sender SES quotes.
    let permanent = bounce(
        "Permanent",
        "gone@example.com",
        "5.1.1",
        "smtp; 550 5.1.1 user unknown",
        mail(&gone_sender, "gone@example.com", None),
    );
    let (status, answer) = post_sns(&app, &sign(notification(&permanent, &amazon.cert_url()), 1)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reports"][0]["outcome"], "hard-bounce", "{answer}");
    assert_eq!(app.status_of("gone@example.com").await.as_deref(), Some("bounced"));

    // A transient bounce, version 2, named by our Message-ID: counted, not yet the end.
    let transient = bounce(
        "Transient",
        "full@example.com",
        "4.2.2",
        "smtp; 452 4.2.2 mailbox full",
        mail("news@example.test", "full@example.com", Some(&full_id)),
    );
    let (status, answer) = post_sns(&app, &sign(notification(&transient, &amazon.cert_url()), 2)).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("soft-bounce")), "{answer}");
    assert_eq!(app.status_of("full@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(bounces_of(&app, "full@example.com").await, ["soft"]);

    // A complaint, version 2, named only by its recipient (the webhook is authenticated).
    let complaint = json!({
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "Feedback Loop Test/1.0",
            "complainedRecipients": [{"emailAddress": "angry@example.com"}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-12-07T10:01:00.000Z",
            "timestamp": "2026-12-07T10:01:10.000Z",
            "feedbackId": "0100018c3a7eb3c4-1e2f3a4b-5c6d-7e8f-9a0b-1c2d3e4f5a6b-000000",
        },
        "mail": mail("news@example.test", "angry@example.com", None),
    });
    let (status, answer) = post_sns(&app, &sign(notification(&complaint, &amazon.cert_url()), 2)).await;
    assert_eq!((status, &answer["reports"][0]["outcome"]), (200, &json!("complaint")), "{answer}");
    assert_eq!(app.status_of("angry@example.com").await.as_deref(), Some("complained"));
    // The tag and the Message-ID named the very delivery; the bare address named only its subscriber.
    assert!(names_a_delivery(&app, "gone@example.com").await && names_a_delivery(&app, "full@example.com").await);
    assert!(!names_a_delivery(&app, "angry@example.com").await);

    // Deliveries are not acted on; an address we do not know is ignored.
    let delivery = json!({"notificationType": "Delivery", "mail": mail("news@example.test", "calm@example.com", None),
                          "delivery": {"recipients": ["calm@example.com"], "smtpResponse": "250 ok"}});
    let (status, answer) = post_sns(&app, &sign(notification(&delivery, &amazon.cert_url()), 2)).await;
    assert_eq!((status, &answer["skipped"]), (200, &json!(1)), "{answer}");
    let stranger =
        bounce("Permanent", "who@example.com", "5.1.1", "x", mail("news@example.test", "who@example.com", None));
    let (_, answer) = post_sns(&app, &sign(notification(&stranger, &amazon.cert_url()), 2)).await;
    assert_eq!(answer["reports"][0]["outcome"], "ignored", "{answer}");
    assert_eq!(app.status_of("calm@example.com").await.as_deref(), Some("confirmed"));

    // The certificate was fetched once and kept.
    assert_eq!(amazon.requests().len(), 1, "{:?}", amazon.requests());
}

#[tokio::test]
async fn ses_subscription_confirmation_fetches_the_subscribe_url_from_amazons_host_only() {
    let amazon = StandIn::start().await;
    let app = app_trusting(&amazon).await;
    let confirmation = |subscribe_url: String| {
        json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "0d9e4a7c-51b2-4f86-a3c8-7e2b19f0d654",
            "Token": "5e1c0a7d9b3f42e8a6d1c4b2f0e9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1",
            "TopicArn": TOPIC,
            "Message": format!("You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-12-07T09:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertURL": amazon.cert_url(),
        })
    };
    let offsite = sign(confirmation("https://subscribe.example.net/confirm?Action=ConfirmSubscription".to_owned()), 1);
    let (status, answer) = post_sns(&app, &offsite).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("SubscribeURL"), "{answer}");

    let url = format!("http://{}/confirm?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=5e1c0a7d", amazon.host);
    let (status, answer) = post_sns(&app, &sign(confirmation(url), 2)).await;
    assert_eq!((status, &answer["subscription"]), (200, &json!("confirmed")), "{answer}");
    let confirmed: Vec<String> = amazon.requests().into_iter().filter(|r| r.starts_with("/confirm")).collect();
    assert_eq!(confirmed.len(), 1, "only the confirmation on the trusted host was fetched: {confirmed:?}");
}

#[tokio::test]
async fn ses_refusals_change_nothing_and_fetch_nothing_they_need_not() {
    let amazon = StandIn::start().await;
    let app = app_trusting(&amazon).await;
    send_digest_to(&app, &["gone@example.com"]).await;
    let before = everything(&app).await;
    let (sender, _) = sent_to(&app, "gone@example.com").await;
    let permanent = bounce("Permanent", "gone@example.com", "5.1.1", "x", mail(&sender, "gone@example.com", None));

    // Refused before anything is fetched: a topic we do not take, certificates elsewhere.
    let mut other_topic = notification(&permanent, &amazon.cert_url());
    other_topic["TopicArn"] = json!("arn:aws:sns:us-east-1:999999999999:someone-else");
    for (envelope, why) in [
        (sign(other_topic, 2), "TopicArn"),
        (
            sign(notification(&permanent, "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem"), 2),
            "SigningCertURL",
        ),
        (
            sign(notification(&permanent, "https://certs.example.net/SimpleNotificationService-1.pem"), 2),
            "SigningCertURL",
        ),
        (
            sign(
                notification(
                    &permanent,
                    "https://sns.us-east-1.amazonaws.com.example.net/SimpleNotificationService-1.pem",
                ),
                1,
            ),
            "SigningCertURL",
        ),
    ] {
        let (status, answer) = post_sns(&app, &envelope).await;
        assert_eq!(status, 401, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{answer}");
    }
    assert!(amazon.requests().is_empty(), "nothing was fetched: {:?}", amazon.requests());

    // Signatures that do not hold: a changed message, one of the wrong length, one not base64.
    let mut changed = sign(notification(&permanent, &amazon.cert_url()), 1);
    changed["Message"] = json!(permanent.to_string().replace("Permanent", "Transient"));
    let mut short = sign(notification(&permanent, &amazon.cert_url()), 2);
    short["Signature"] = json!("AAAA");
    let mut garbage = sign(notification(&permanent, &amazon.cert_url()), 2);
    garbage["Signature"] = json!("not base64 at all!");
    let mut wrong_version = sign(notification(&permanent, &amazon.cert_url()), 1);
    wrong_version["SignatureVersion"] = json!("2");
    for envelope in [changed, short, garbage, wrong_version] {
        let (status, answer) = post_sns(&app, &envelope).await;
        assert_eq!(status, 401, "{answer}");
    }

    // Not SNS's shape, or SNS carrying something that is not SES: 400.
    let not_ses = sign(notification(&json!({"hello": "world"}), &amazon.cert_url()), 2);
    for body in [json!({"hello": "world"}), json!([]), json!({"Type": "Notification"}), not_ses] {
        let (status, answer) = post_sns(&app, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, _) = post(&app, "/webhooks/ses", &[], huge()).await;
    assert_eq!(status, 413);

    assert_eq!(everything(&app).await, before, "a refused request changed something");
    assert_eq!(app.get("/health").await.status(), 200);
}
