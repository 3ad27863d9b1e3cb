use serde_json::json;

use super::*;

fn trusted() -> Vec<String> {
    vec!["127.0.0.1:4567".to_owned(), "certs.example.test".to_owned()]
}

#[test]
fn sns_urls_must_be_amazon_https_unless_listed_and_http_only_for_listed_loopback() {
    let ok = |u: &str| sns::certificate_url(u, &trusted()).is_ok();
    assert!(ok("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"));
    assert!(ok("https://sns.eu-west-3.amazonaws.com/x.pem"));
    assert!(ok("http://127.0.0.1:4567/cert.pem"));
    assert!(ok("https://certs.example.test/cert.pem"));
    for refused in [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        "https://sns..amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "http://127.0.0.1:4568/cert.pem",
        "http://certs.example.test/cert.pem",
        "ftp://sns.us-east-1.amazonaws.com/x.pem",
        "not a url",
    ] {
        assert!(!ok(refused), "{refused} was accepted");
    }
    assert!(sns::subscribe_url("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=x", &[]).is_ok());
    assert!(sns::subscribe_url("https://example.com/?Action=ConfirmSubscription", &[]).is_err());
}

fn envelope(kind: &str, subject: Option<&str>) -> sns::Envelope {
    let mut fields = json!({
        "Type": kind, "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses",
        "Message": "hello\nworld", "Timestamp": "2026-12-07T10:00:00.000Z", "SignatureVersion": "1",
        "Signature": "AAAA", "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem",
    });
    if kind != "Notification" {
        fields["Token"] = json!("tok");
        fields["SubscribeURL"] = json!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription");
    }
    if let Some(subject) = subject {
        fields["Subject"] = json!(subject);
    }
    sns::Envelope::parse(fields.to_string().as_bytes()).unwrap()
}

#[test]
fn sns_signs_different_keys_for_notifications_and_subscription_messages() {
    assert_eq!(
        envelope("Notification", None).string_to_sign(),
        "Message\nhello\nworld\nMessageId\nm-1\nTimestamp\n2026-12-07T10:00:00.000Z\n\
         TopicArn\narn:aws:sns:us-east-1:123456789012:ses\nType\nNotification\n"
    );
    assert!(envelope("Notification", Some("Hi")).string_to_sign().contains("MessageId\nm-1\nSubject\nHi\nTimestamp\n"));
    assert_eq!(
        envelope("SubscriptionConfirmation", None).string_to_sign(),
        "Message\nhello\nworld\nMessageId\nm-1\n\
         SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\n\
         Timestamp\n2026-12-07T10:00:00.000Z\nToken\ntok\nTopicArn\narn:aws:sns:us-east-1:123456789012:ses\n\
         Type\nSubscriptionConfirmation\n"
    );
}

#[test]
fn json_of_another_shape_is_refused_with_a_reason() {
    for body in [&b"{}"[..], b"[]", b"{\"Type\":\"Notification\"}", b"not json"] {
        assert!(sns::Envelope::parse(body).is_err());
        assert!(postmark::reports(body).is_err());
        assert!(mailgun::parse(body).is_err());
    }
    assert!(sendgrid::reports(b"{}").is_err());
    assert!(sendgrid::reports(b"[{\"email\": 3}]").is_err());
    assert!(ses::reports("{\"foo\": 1}").is_err());
}

#[test]
fn ses_bounce_types_and_complaints() {
    let message = json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull",
                   "bouncedRecipients": [{"emailAddress": "a@example.com", "status": "4.2.2",
                                          "diagnosticCode": "smtp; 452 4.2.2 full"}]},
        "mail": {"source": "bounces+d1-00@news.example.com", "messageId": "ses-id",
                 "headers": [{"name": "Message-ID", "value": "<x.d1@news.example.com>"}]}
    });
    let out = ses::reports(&message.to_string()).unwrap();
    let r = &out.reports[0];
    assert!(matches!(&r.verdict, Verdict::Bounce(b) if !b.hard && b.status == "4.2.2"));
    assert_eq!(r.message_id.as_deref(), Some("<x.d1@news.example.com>"));
    assert_eq!(r.envelope_sender.as_deref(), Some("bounces+d1-00@news.example.com"));
    let delivery = json!({"notificationType": "Delivery", "mail": {}});
    assert_eq!(ses::reports(&delivery.to_string()).unwrap().skipped, 1);
}

#[test]
fn mailgun_signatures_of_the_wrong_length_or_not_hex_do_not_hold() {
    let body = |sig: &str| {
        json!({"signature": {"timestamp": "1700000000", "token": "t", "signature": sig},
               "event-data": {"event": "delivered"}})
        .to_string()
    };
    for sig in ["", "00", "zz", &"0".repeat(63), &"0".repeat(64), &"ab".repeat(5000)] {
        assert!(!mailgun::parse(body(sig).as_bytes()).unwrap().verify(b"key"), "{sig}");
    }
}

#[test]
fn sendgrid_keys_must_be_p256_and_signatures_cover_timestamp_and_body() {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
    assert!(sendgrid::VerificationKey::parse("not base64!").is_err());
    assert!(sendgrid::VerificationKey::parse("AAAA").is_err());
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // SubjectPublicKeyInfo for a P-256 key: the fixed header, then the uncompressed point.
    let mut spki =
        b"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00"
            .to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let key = sendgrid::VerificationKey::parse(&b64(&spki)).unwrap();
    let signature = b64(pair.sign(&rng, b"1700000000[]").unwrap().as_ref());
    assert!(key.verify("1700000000", b"[]", &signature));
    assert!(!key.verify("1700000001", b"[]", &signature));
    assert!(!key.verify("1700000000", b"[ ]", &signature));
    assert!(!key.verify("1700000000", b"[]", "short"));
    assert!(!key.verify("1700000000", b"[]", &b64(&[0; 4096])));
}
