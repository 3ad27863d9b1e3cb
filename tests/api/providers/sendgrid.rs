//! SendGrid's signed event webhook: an array of events, ECDSA P-256 over the timestamp header
//! followed by the raw body, with a key pair these tests make.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::{b64, bounces_of, everything, huge, post, send_digest_to, sent_to, spawn};
use crate::support::TestApp;

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// SendGrid's side: the key pair whose public half the operator pastes into the configuration.
struct Signer {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self { pair, rng }
    }

    /// The verification key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo.
    fn public_key(&self) -> String {
        // id-ecPublicKey with prime256v1, then the uncompressed point (RFC 5480).
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(self.pair.public_key().as_ref());
        b64(&spki)
    }

    fn headers(&self, timestamp: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let signature = self.pair.sign(&self.rng, &signed).unwrap();
        vec![(SIGNATURE, b64(signature.as_ref())), (TIMESTAMP, timestamp.to_owned())]
    }
}

async fn app(signer: &Signer) -> TestApp {
    spawn(&[("BROADSHEET__PROVIDERS__SENDGRID__PUBLIC_KEY", signer.public_key())]).await
}

/// One event as SendGrid's event webhook documentation shows it.
fn event(kind: &str, email: &str, smtp_id: &str, extra: Value) -> Value {
    let mut event = json!({
        "email": email,
        "timestamp": 1_765_101_600,
        "smtp-id": smtp_id,
        "event": kind,
        "category": ["digest"],
        "sg_event_id": format!("sg-event-{}", uuid::Uuid::new_v4().simple()),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    });
    if let (Value::Object(event), Value::Object(extra)) = (&mut event, extra) {
        event.extend(extra);
    }
    event
}

#[tokio::test]
async fn sendgrid_event_batches_bounce_defer_and_complain_by_event() {
    let signer = Signer::new();
    let app = app(&signer).await;
    send_digest_to(&app, &["gone@example.com", "full@example.com", "blocked@example.com", "angry@example.com"]).await;
    let (_, gone_id) = sent_to(&app, "gone@example.com").await;
    let (_, full_id) = sent_to(&app, "full@example.com").await;

    let events = json!([
        event("processed", "gone@example.com", &gone_id, json!({})),
        event(
            "bounce",
            "gone@example.com",
            &gone_id,
            json!({"reason": "550 5.1.1 unknown recipient", "status": "5.1.1",
                                                             "type": "bounce", "bounce_classification": "Invalid Address"})
        ),
        event("deferred", "full@example.com", &full_id, json!({"response": "452 4.2.2 mailbox full", "attempt": "3"})),
        event(
            "bounce",
            "blocked@example.com",
            "<elsewhere@example.net>",
            json!({"reason": "554 blocked for now",
                                                             "status": "4.7.1", "type": "blocked"})
        ),
        event("spamreport", "angry@example.com", "<elsewhere@example.net>", json!({})),
        event(
            "open",
            "angry@example.com",
            "<elsewhere@example.net>",
            json!({"useragent": "Mozilla/5.0", "ip": "192.0.2.1"})
        ),
    ]);
    let body = events.to_string().into_bytes();
    let (status, answer) = post(&app, "/webhooks/sendgrid", &signer.headers("1765101600", &body), body).await;
    assert_eq!(status, 200, "{answer}");
    let outcomes: Vec<&str> =
        answer["reports"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["hard-bounce", "soft-bounce", "soft-bounce", "complaint"], "{answer}");
    assert_eq!(answer["skipped"], 2);
    assert_eq!(app.status_of("gone@example.com").await.as_deref(), Some("bounced"));
    assert_eq!(app.status_of("full@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(bounces_of(&app, "blocked@example.com").await, ["soft"]);
    assert_eq!(app.status_of("angry@example.com").await.as_deref(), Some("complained"));
}

#[tokio::test]
async fn sendgrid_signatures_that_do_not_hold_are_refused_and_change_nothing() {
    let signer = Signer::new();
    let app = app(&signer).await;
    send_digest_to(&app, &["gone@example.com"]).await;
    let before = everything(&app).await;
    let body =
        json!([event("bounce", "gone@example.com", "<x@y>", json!({"reason": "550 unknown", "status": "5.1.1"}))])
            .to_string()
            .into_bytes();
    let good = signer.headers("1765101600", &body);

    let other_key = Signer::new().headers("1765101600", &body);
    let other_body = signer.headers("1765101600", b"[]");
    let other_time = vec![good[0].clone(), (TIMESTAMP, "1765101601".to_owned())];
    for headers in [
        vec![],
        vec![good[0].clone()],
        vec![good[1].clone()],
        vec![(SIGNATURE, "MEUCIQ==".to_owned()), good[1].clone()],
        vec![(SIGNATURE, b64(&[0x30; 4096])), good[1].clone()],
        vec![(SIGNATURE, "not base64!".to_owned()), good[1].clone()],
        other_key,
        other_body,
        other_time,
    ] {
        let (status, answer) = post(&app, "/webhooks/sendgrid", &headers, body.clone()).await;
        assert_eq!(status, 401, "{headers:?}: {answer}");
    }
    // Signed, but not SendGrid's shape: an object instead of an array, events without their type.
    for shape in [json!({"event": "bounce", "email": "gone@example.com"}), json!([{"email": "gone@example.com"}])] {
        let bytes = shape.to_string().into_bytes();
        let (status, answer) = post(&app, "/webhooks/sendgrid", &signer.headers("1", &bytes), bytes).await;
        assert_eq!(status, 400, "{shape}: {answer}");
    }
    let big = huge();
    let (status, _) = post(&app, "/webhooks/sendgrid", &signer.headers("1", &big), big).await;
    assert_eq!(status, 413);
    assert_eq!(everything(&app).await, before, "a refused request changed something");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("broadsheet_webhooks_total{provider=\"sendgrid\",outcome=\"refused\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 11), "{metrics}");
}
