//! Digest messages go out prepared and dot-stuffed once per digest, written straight to the
//! connection: pipelined (RFC 2920) where the server offers it, one command at a time where it
//! does not, with the same verdicts either way.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Fault, Options, Script, TestApp};

const READERS: [(&str, Option<&str>); 3] = [
    ("ada@example.com", Some("Ada <Lovelace> & \"Co\"")),
    ("zoe@example.com", Some("Zoë Ünïcode")),
    ("anon@example.com", None),
];

/// A digest to three readers and one address the server refuses at RCPT; checks what each got.
async fn send_digest_and_check(app: &TestApp) {
    app.add_confirmed(&READERS.map(|(email, _)| email)).await;
    app.add_confirmed(&["gone@example.com"]).await;
    for (email, name) in READERS {
        sqlx::query("UPDATE subscribers SET name = $1 WHERE email = $2")
            .bind(name)
            .bind(email)
            .execute(&app.db)
            .await
            .unwrap();
    }
    // A line that starts with a dot: the sink strips one dot from such lines, so it arrives
    // whole only if it was stuffed exactly once.
    app.add_article("Dots", "Before.\n\n```\n.leading dot\n..two dots\n```\n\nAfter.", None).await;
    let created: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    app.wait_until_queue_settled(Duration::from_secs(20)).await;

    let progress = app.digest_progress(created["id"].as_str().unwrap()).await;
    assert_eq!((progress["sent"].as_i64(), progress["bounced"].as_i64()), (Some(3), Some(1)), "{progress}");
    assert_eq!(app.status_of("gone@example.com").await.as_deref(), Some("bounced"), "a 5xx at RCPT is a hard bounce");
    assert_eq!(app.sink().attempts_for("gone@example.com"), 1, "and is not retried");

    for (email, name) in READERS {
        assert_eq!(app.sink().count_for(email), 1, "{email} gets the digest once");
        let mail = app.sink().received().into_iter().find(|m| m.rcpt_to == [email]).unwrap();
        let (text, html) = (mail.text_body(), mail.html_body());
        let greeting = match name {
            Some(name) => format!("Hi {name},"),
            None => "Hi,".to_owned(),
        };
        assert!(text.contains(&greeting), "{email}: {text}");
        assert!(text.lines().any(|l| l.trim_start() == ".leading dot"), "{email}: {text}");
        assert!(text.lines().any(|l| l.trim_start() == "..two dots"), "{email}: {text}");
        assert!(html.contains(".leading dot"), "{email}");
        if email.starts_with("ada") {
            assert!(html.contains("Hi Ada &lt;Lovelace&gt; &amp; &quot;Co&quot;,"), "{html}");
            let to = mail.header("To").unwrap();
            assert!(to.starts_with("Ada <Lovelace> & ") && to.ends_with(" <ada@example.com>"), "{to}");
        }
        if email.starts_with("zoe") {
            assert_eq!(mail.header("To").unwrap(), "Zoë Ünïcode <zoe@example.com>");
        }
        let unsubscribe = mail.link_to("/unsubscribe");
        assert_eq!(mail.header("List-Unsubscribe").unwrap(), format!("<{unsubscribe}>"));
        assert_eq!(mail.header("List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");
        assert!(mail.header("List-Id").is_some() && mail.header("Message-ID").is_some());
        assert!(html.contains(&format!("href=\"{}\"", unsubscribe.replace('&', "&amp;"))), "{email}: link in HTML");
    }
}

fn refusing_gone() -> Script {
    Arc::new(|rcpt: &str, _| match rcpt {
        "gone@example.com" => Fault::RejectRcpt(550, "5.1.1 no such user"),
        _ => Fault::Accept,
    })
}

#[tokio::test]
async fn a_server_that_offers_pipelining_gets_each_transaction_in_one_go() {
    let app = TestApp::spawn_with(Options { script: Some(refusing_gone()), ..Default::default() }).await;
    send_digest_and_check(&app).await;
    assert!(app.sink().pipelined_commands() > 0, "MAIL, RCPT and DATA were sent together");
}

/// A lane with its next message queued writes that message's MAIL, RCPT and DATA behind the end
/// of the one before (one round trip per message), and every message keeps its own verdict: a
/// recipient refused for good, content refused, a recipient refused for now, and a connection
/// that drops in the middle of a message (the message whose envelope rode behind it was not
/// sent, and goes on a fresh connection).
#[tokio::test]
async fn a_lane_writes_the_next_envelope_behind_the_end_of_data_and_keeps_each_verdict_apart() {
    let script: Script = Arc::new(|rcpt: &str, attempt| match rcpt {
        "reader13@example.com" => Fault::RejectRcpt(550, "5.1.1 no such user"),
        "reader27@example.com" => Fault::RejectData(554, "5.6.0 content refused"),
        "reader40@example.com" if attempt == 1 => Fault::RejectRcpt(451, "4.3.0 try later"),
        "reader55@example.com" if attempt == 1 => Fault::DropMidData,
        _ => Fault::Accept,
    });
    let extra = vec![
        ("BROADSHEET__MAIL__CONCURRENCY".to_owned(), "2".to_owned()),
        ("BROADSHEET__MAIL__RETRY_BASE_SECS".to_owned(), "0.2".to_owned()),
    ];
    let app = TestApp::spawn_with(Options { script: Some(script), extra, ..Default::default() }).await;
    app.add_many_confirmed(300).await;
    app.add_article("News", "Body of the news.", None).await;
    let created: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    app.wait_until_queue_settled(Duration::from_secs(60)).await;

    assert!(app.sink().envelopes_behind_data() > 150, "{} of 300", app.sink().envelopes_behind_data());
    for i in 1..=300 {
        let wanted = usize::from(i != 13 && i != 27);
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), wanted, "reader{i}");
    }
    assert_eq!(app.sink().attempts_for("reader13@example.com"), 1, "a 5xx at RCPT is not retried");
    assert_eq!(app.sink().attempts_for("reader40@example.com"), 2, "a 4xx at RCPT is");
    assert_eq!(app.sink().attempts_for("reader55@example.com"), 2, "as is a message whose connection dropped");
    for email in ["reader13@example.com", "reader27@example.com"] {
        assert_eq!(app.status_of(email).await.as_deref(), Some("bounced"), "{email}");
    }
    let progress = app.digest_progress(created["id"].as_str().unwrap()).await;
    assert_eq!((progress["sent"].as_i64(), progress["bounced"].as_i64()), (Some(298), Some(2)), "{progress}");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_server_without_pipelining_gets_one_command_at_a_time() {
    let app = TestApp::spawn_with(Options { script: Some(refusing_gone()), ..Default::default() }).await;
    app.sink().without_pipelining();
    send_digest_and_check(&app).await;
    assert_eq!(app.sink().pipelined_commands(), 0, "every command waited for its reply");
}

#[tokio::test]
async fn without_pipelining_or_8bitmime_non_ascii_digests_still_arrive_in_7_bit() {
    let app = TestApp::spawn().await;
    app.sink().without_pipelining();
    app.sink().without_8bitmime();
    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("Grüße", "Ünïcödé bodies.\n\n```\n.dot\n```", None).await;
    app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap();
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    let mail = app.sink().received().pop().unwrap();
    assert!(mail.data.is_ascii(), "every byte on the wire is 7-bit");
    assert!(mail.text_body().contains("Ünïcödé bodies"));
    assert!(mail.text_body().lines().any(|l| l.trim_start() == ".dot"), "{}", mail.text_body());
}
