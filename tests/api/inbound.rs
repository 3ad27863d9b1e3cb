//! Inbound mail as an attacker sends it: anyone can mail the bounce address, post a report through
//! a hook, or make an MTA pipe one to `broadsheet inbound`. No message crashes the process, a
//! report changes only the subscriber of the message it is provably about, and the command
//! never tells an MTA to bounce a report back.

use std::time::Duration;

use serde_json::Value;

use crate::deliverability::{
    BOUNCE_ADDRESS, BOUNCE_SECRET, FIXTURE_RECIPIENT, FIXTURE_TAG, POSTFIX_DSN, bounce_settings, delivery_of,
    queue_digest, verp,
};
use crate::support::{Options, TestApp};

/// The Message-ID of the original that the Postfix fixture quotes.
const FIXTURE_MESSAGE_ID: &str = "<abc@news.example.com>";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The message of the review: 5,000 nested `multipart/mixed` parts, 298 KB.
fn nested(depth: usize) -> Vec<u8> {
    let mut raw = b"MIME-Version: 1.0\r\n".to_vec();
    for i in 0..depth {
        raw.extend(format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n").as_bytes());
    }
    raw.extend(b"Content-Type: text/plain\r\n\r\nx\r\n");
    raw
}

/// A delivery report to `to`, naming every one of `recipients` as failed for good.
fn dsn_naming(to: &str, recipients: &[String]) -> String {
    let blocks: String = recipients
        .iter()
        .map(|r| format!("Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"))
        .collect();
    format!(
        "From: MAILER-DAEMON@mta.example.net\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: text/plain\r\n\r\nCould not be delivered.\r\n\
         --R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mta.example.net\r\n\r\n{blocks}\
         --R--\r\n"
    )
}

/// A complaint report to `to` about `victim`, quoting `message_id` when given.
fn arf_naming(to: &str, victim: &str, message_id: Option<&str>) -> String {
    let quoted_id = message_id.map(|id| format!("Message-ID: {id}\r\n")).unwrap_or_default();
    format!(
        "From: fbl@isp.example\r\nTo: {to}\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"X\"\r\n\r\n\
         --X\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n\
         --X\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: Test/1\r\n\
         Version: 1\r\nOriginal-Rcpt-To: <{victim}>\r\n\r\n\
         --X\r\nContent-Type: message/rfc822\r\n\r\nFrom: news@example.test\r\nTo: {victim}\r\n{quoted_id}\
         Subject: News\r\n\r\nHi\r\n--X--\r\n"
    )
}

async fn send_digest(app: &TestApp) {
    queue_digest(app, "News").await;
    app.wait_until_queue_settled(Duration::from_secs(30)).await;
}

async fn post_report(app: &TestApp, body: impl Into<Vec<u8>>) -> Value {
    let response = app
        .admin_post("/admin/inbound")
        .header("content-type", "message/rfc822")
        .body(body.into())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn count_with_status(app: &TestApp, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM subscribers WHERE status::text = $1")
        .bind(status)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_five_thousand_nested_parts_is_ignored_and_crashes_nothing() {
    let app = TestApp::spawn().await;
    let bomb = nested(5_000);
    assert!(bomb.len() < 300_000, "{} bytes", bomb.len());

    let out = tokio::task::block_in_place(|| app.cli(&["inbound"], Some(&text(&bomb))));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", text(&out.stderr));
    assert!(stdout.starts_with("ignored") && stdout.contains("nested"), "{stdout}");

    // The same message through the API, in this very process: it answers, and so does the rest.
    let answer = post_report(&app, bomb).await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    let flat: Vec<u8> = {
        let mut raw = b"Content-Type: multipart/mixed; boundary=\"f\"\r\n\r\n".to_vec();
        for _ in 0..5_000 {
            raw.extend(b"--f\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        raw
    };
    let answer = post_report(&app, flat).await;
    assert!(answer["reason"].as_str().unwrap_or("").contains("parts"), "{answer}");
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn with_verp_on_a_report_without_a_verified_tag_changes_nobody() {
    let app = TestApp::spawn_with(Options { extra: bounce_settings(), ..Default::default() }).await;
    app.add_many_confirmed(300).await;
    app.add_confirmed(&["victim@example.com"]).await;
    send_digest(&app).await;
    let everyone: Vec<String> = sqlx::query_scalar("SELECT email FROM subscribers").fetch_all(&app.db).await.unwrap();
    assert_eq!(everyone.len(), 301);

    // To the plain bounce address, naming every subscriber (the review's report named 2,000).
    let answer = post_report(&app, dsn_naming(BOUNCE_ADDRESS, &everyone)).await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    // A complaint to the plain address naming the victim, quoting the real Message-ID it got.
    let real_id =
        app.sink().received().iter().find(|m| m.rcpt_to == ["victim@example.com"]).unwrap().header("Message-ID");
    let answer = post_report(&app, arf_naming(BOUNCE_ADDRESS, "victim@example.com", real_id.as_deref())).await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    // The same through the command, as an MTA pipes it.
    let env =
        [("BROADSHEET__MAIL__BOUNCE_ADDRESS", BOUNCE_ADDRESS), ("BROADSHEET__MAIL__BOUNCE_SECRET", BOUNCE_SECRET)];
    let report = POSTFIX_DSN.replace(FIXTURE_TAG, BOUNCE_ADDRESS).replace(FIXTURE_RECIPIENT, "victim@example.com");
    let out = app.cli_with(&["inbound", "--recipient", BOUNCE_ADDRESS], Some(&report), &env);
    assert!(text(&out.stdout).starts_with("ignored"), "{}", text(&out.stdout));

    assert_eq!(count_with_status(&app, "confirmed").await, 301, "nobody bounced or complained");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM bounces").fetch_one(&app.db).await.unwrap();
    assert_eq!(recorded, 0);

    // A genuine report carries the tag of the delivery it is about, and changes that one.
    let tag = verp().for_delivery(delivery_of(&app, "victim@example.com").await);
    let answer = post_report(&app, dsn_naming(&tag, &everyone)).await;
    assert_eq!(answer["outcome"], "hard-bounce", "{answer}");
    assert_eq!(answer["changed"], 1, "one report, one message, one subscriber: {answer}");
    assert_eq!(app.status_of("victim@example.com").await.as_deref(), Some("bounced"));
    assert_eq!(count_with_status(&app, "confirmed").await, 300);
}

#[tokio::test]
async fn without_verp_only_a_report_quoting_a_message_id_of_ours_counts() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["ada@example.com", "victim@example.com", FIXTURE_RECIPIENT]).await;
    send_digest(&app).await;
    let message_id = |to: &str| {
        let mail = app.sink().received().into_iter().find(|m| m.rcpt_to == [to]).unwrap();
        mail.header("Message-ID").unwrap()
    };

    // A bare address, however it is named: nobody.
    let answer = post_report(&app, dsn_naming(BOUNCE_ADDRESS, &["victim@example.com".to_owned()])).await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    let answer = post_report(&app, arf_naming("fbl@news.example.test", "victim@example.com", None)).await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    // A Message-ID of our shape that was never sent, naming the victim's delivery: nobody.
    let victims = message_id("victim@example.com");
    let delivery = victims.rsplit_once(".d").unwrap().1;
    let made_up = format!("<{}.d{delivery}", uuid::Uuid::new_v4().simple());
    let answer = post_report(&app, arf_naming("fbl@news.example.test", "victim@example.com", Some(&made_up))).await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    assert_eq!(count_with_status(&app, "confirmed").await, 3);

    // The report Postfix writes quotes the message: the one it is about is bounced.
    let report = POSTFIX_DSN.replace(FIXTURE_MESSAGE_ID, &message_id(FIXTURE_RECIPIENT));
    let out = app.cli(&["inbound"], Some(&report));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("hard-bounce"), "{}", text(&out.stdout));
    assert_eq!(app.status_of(FIXTURE_RECIPIENT).await.as_deref(), Some("bounced"));
    // And a complaint that quotes ada's message is about ada, whoever else it names.
    let answer = post_report(
        &app,
        arf_naming("fbl@news.example.test", "victim@example.com", Some(&message_id("ada@example.com"))),
    )
    .await;
    assert_eq!(answer["outcome"], "complaint", "{answer}");
    assert_eq!(app.status_of("ada@example.com").await.as_deref(), Some("complained"));
    assert_eq!(app.status_of("victim@example.com").await.as_deref(), Some("confirmed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_in_production_takes_reports_without_link_keys_and_never_exits_2() {
    let app = TestApp::spawn_with(Options { extra: bounce_settings(), ..Default::default() }).await;
    app.add_confirmed(&[FIXTURE_RECIPIENT]).await;
    send_digest(&app).await;
    let tag = verp().for_delivery(delivery_of(&app, FIXTURE_RECIPIENT).await);
    let report = POSTFIX_DSN.replace(FIXTURE_TAG, &tag);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        tokio::task::block_in_place(|| {
            use std::io::Write as _;
            let mut command = app.cli_command(args);
            // Production, as an MTA host has it: no admin token, no link keys.
            command
                .env("BROADSHEET_ENV", "production")
                .env_remove("BROADSHEET__TOKENS__KEYS")
                .env("BROADSHEET__MAIL__BOUNCE_ADDRESS", BOUNCE_ADDRESS)
                .env("BROADSHEET__MAIL__BOUNCE_SECRET", BOUNCE_SECRET)
                .envs(env.iter().copied());
            let mut child = command.spawn().unwrap();
            let _ = child.stdin.take().unwrap().write_all(report.as_bytes());
            child.wait_with_output().unwrap()
        })
    };

    let out = run(&["inbound", "--recipient", &tag], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("hard-bounce"), "{}", text(&out.stdout));
    assert_eq!(app.status_of(FIXTURE_RECIPIENT).await.as_deref(), Some("bounced"));

    // A configuration it cannot use, or a call it does not understand: the MTA keeps the report.
    for (args, env) in [
        (vec!["inbound"], vec![("BROADSHEET__MAIL__CONCURRENCY", "lots")]),
        (vec!["inbound"], vec![("BROADSHEET__MAIL__BOUNCE_SECRET", "short")]),
        (vec!["inbound"], vec![("BROADSHEET_ENV", "staging")]),
        (vec!["inbound", "--no-such-flag"], vec![]),
    ] {
        let out = run(&args, &env);
        assert_eq!(out.status.code(), Some(75), "{args:?} {env:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).is_empty(), "says why");
    }
}
