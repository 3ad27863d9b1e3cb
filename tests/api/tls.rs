//! Sending to a relay over TLS (STARTTLS on 587, implicit TLS on 465), as a real operator does:
//! digests go out prepared and pipelined as on plain SMTP, with the same verdicts; a relay whose
//! certificate comes from a private CA is trusted through `mail.tls_ca_file`; and a certificate
//! nobody vouches for means no send at all, never a send in the clear.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Fault, Options, Script, SinkTls, TEST_CA_FILE, TestApp};

fn trusting_the_test_ca() -> Vec<(String, String)> {
    vec![
        ("BROADSHEET__MAIL__TLS_CA_FILE".to_owned(), TEST_CA_FILE.to_owned()),
        ("BROADSHEET__MAIL__CONCURRENCY".to_owned(), "2".to_owned()),
        ("BROADSHEET__MAIL__RETRY_BASE_SECS".to_owned(), "0.2".to_owned()),
    ]
}

/// A digest to 60 readers over TLS: one refused at RCPT for good, one refused for now, one
/// whose content is refused. Checks what the sink got, and that it all came encrypted and
/// pipelined (envelopes behind the end of the message before).
async fn a_digest_arrives_pipelined_over(tls: SinkTls) {
    let script: Script = Arc::new(|rcpt: &str, attempt| match rcpt {
        "reader13@example.com" => Fault::RejectRcpt(550, "5.1.1 no such user"),
        "reader27@example.com" => Fault::RejectData(554, "5.6.0 content refused"),
        "reader40@example.com" if attempt == 1 => Fault::RejectRcpt(451, "4.3.0 try later"),
        _ => Fault::Accept,
    });
    let app = TestApp::spawn_with(Options {
        script: Some(script),
        tls: Some(tls),
        extra: trusting_the_test_ca(),
        ..Default::default()
    })
    .await;
    app.add_many_confirmed(60).await;
    app.add_article("News", "Before.\n\n```\n.leading dot\n```\n\nAfter.", None).await;
    let created: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    app.wait_until_queue_settled(Duration::from_secs(60)).await;

    let sink = app.sink();
    for i in 1..=60 {
        let wanted = usize::from(i != 13 && i != 27);
        assert_eq!(sink.count_for(&format!("reader{i}@example.com")), wanted, "{tls:?}: reader{i}");
    }
    assert_eq!(sink.attempts_for("reader13@example.com"), 1, "a 5xx at RCPT is not retried");
    assert_eq!(sink.attempts_for("reader40@example.com"), 2, "a 4xx at RCPT is");
    for email in ["reader13@example.com", "reader27@example.com"] {
        assert_eq!(app.status_of(email).await.as_deref(), Some("bounced"), "{email}");
    }
    let progress = app.digest_progress(created["id"].as_str().unwrap()).await;
    assert_eq!((progress["sent"].as_i64(), progress["bounced"].as_i64()), (Some(58), Some(2)), "{progress}");
    let mail = sink.received().into_iter().find(|m| m.rcpt_to == ["reader1@example.com"]).unwrap();
    assert!(mail.text_body().lines().any(|l| l.trim_start() == ".leading dot"), "stuffed exactly once");

    assert!(sink.tls_sessions() > 0, "{tls:?}: no TLS session");
    assert!(sink.pipelined_commands() > 0, "{tls:?}: MAIL, RCPT and DATA were sent together");
    assert!(sink.envelopes_behind_data() > 20, "{tls:?}: {} of 58", sink.envelopes_behind_data());
    let clear = sink.commands_in_clear();
    assert!(clear.iter().all(|verb| verb == "EHLO" || verb == "STARTTLS"), "{tls:?}: in the clear: {clear:?}");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_digest_over_starttls_goes_pipelined_with_the_same_verdicts_as_plain() {
    a_digest_arrives_pipelined_over(SinkTls::StartTls).await;
}

#[tokio::test]
async fn a_digest_over_implicit_tls_goes_pipelined_with_the_same_verdicts_as_plain() {
    a_digest_arrives_pipelined_over(SinkTls::Implicit).await;
}

/// Without `mail.tls_ca_file` the sink's certificate is signed by nobody we trust: the
/// confirmation waits (no attempt spent), its `last_error` says why, and the sink saw no
/// command but EHLO and STARTTLS in the clear, no message, no password.
#[tokio::test]
async fn an_untrusted_certificate_leaves_the_mail_waiting_with_the_reason_and_sends_nothing_in_the_clear() {
    for tls in [SinkTls::StartTls, SinkTls::Implicit] {
        let app = TestApp::spawn_with(Options { tls: Some(tls), ..Default::default() }).await;
        let signed_up = app.sign_up("ada@example.com", "Ada").await;
        assert!(signed_up.status().is_success(), "{tls:?}");
        let waiting = "SELECT count(*) FROM deliveries WHERE status = 'pending' AND last_error LIKE '%certificate%'";
        app.wait_for_count(waiting, |n| n == 1, Duration::from_secs(20), "the reason in last_error").await;
        let error: String = sqlx::query_scalar("SELECT last_error FROM deliveries").fetch_one(&app.db).await.unwrap();
        assert!(error.contains("UnknownIssuer") && error.contains("mail.tls_ca_file"), "{tls:?}: {error}");
        let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM deliveries").fetch_one(&app.db).await.unwrap();
        assert_eq!(attempts, 0, "{tls:?}: an outage, not the message's failure");

        let sink = app.sink();
        assert!(sink.failed_handshakes() > 0, "{tls:?}");
        assert_eq!((sink.tls_sessions(), sink.attempts(), sink.auth_commands()), (0, 0, 0), "{tls:?}");
        assert!(sink.received().is_empty(), "{tls:?}");
        let clear = sink.commands_in_clear();
        assert!(clear.iter().all(|verb| verb == "EHLO" || verb == "STARTTLS"), "{tls:?}: in the clear: {clear:?}");
    }
}

/// The same relay, trusted through `mail.tls_ca_file`: the confirmation goes.
#[tokio::test]
async fn a_private_ca_in_tls_ca_file_makes_the_relay_trusted() {
    let app = TestApp::spawn_with(Options {
        tls: Some(SinkTls::StartTls),
        extra: trusting_the_test_ca(),
        ..Default::default()
    })
    .await;
    app.sign_up("ada@example.com", "Ada").await;
    let mail = app.sink().wait_for(1, Duration::from_secs(20)).await.pop().unwrap();
    assert_eq!(mail.rcpt_to, ["ada@example.com"]);
    assert!(mail.text_body().contains("/subscriptions/confirm"));
    assert_eq!(app.sink().commands_in_clear(), ["EHLO", "STARTTLS"]);
}

/// `smtp://` without `tls=`: plain text to a relay that offers no STARTTLS (the first EHLO was
/// ours, lettre's second one is harmless).
#[tokio::test]
async fn opportunistic_tls_sends_in_plain_text_to_a_relay_that_offers_no_starttls() {
    let port = crate::support::free_port();
    let url = ("BROADSHEET__MAIL__URL".to_owned(), format!("smtp://127.0.0.1:{port}"));
    let app = TestApp::spawn_with(Options { mail_port: Some(port), extra: vec![url], ..Default::default() }).await;
    app.sign_up("ada@example.com", "Ada").await;
    let mail = app.sink().wait_for(1, Duration::from_secs(20)).await.pop().unwrap();
    assert_eq!(mail.rcpt_to, ["ada@example.com"]);
}
