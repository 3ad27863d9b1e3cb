use std::time::Duration;

use crate::support::{Options, SmtpSink, TestApp};

#[tokio::test]
async fn a_signup_while_smtp_is_down_is_delivered_once_it_comes_back() {
    // The port stays ours while SMTP is "down": bound but not listening, it refuses connections
    // and no other test's listener can take it before the sink comes up on it.
    let down = tokio::net::TcpSocket::new_v4().unwrap();
    down.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let port = down.local_addr().unwrap().port();
    let app = TestApp::spawn_with(Options { start_sink: false, mail_port: Some(port), ..Options::default() }).await;

    let response = app.sign_up("patient@example.com", "").await;
    assert_eq!(response.status(), 200, "the signup is acknowledged although SMTP is down");
    // The worker tries, fails, and schedules a retry; the delivery stays queued.
    let count = "SELECT count(*) FROM deliveries WHERE last_error IS NOT NULL";
    app.wait_for_count(count, |n| n == 1, Duration::from_secs(10), "a failed attempt").await;
    assert_eq!(app.deliveries().await, vec![("pending".to_owned(), 1)]);

    drop(down);
    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to, vec!["patient@example.com".to_owned()]);
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    assert_eq!(app.deliveries().await, vec![("sent".to_owned(), 1)]);
    let (error, attempts): (Option<String>, i32) =
        sqlx::query_as("SELECT last_error, attempts FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(attempts, 1, "an outage costs the message no attempt");
    assert!(error.is_some(), "the failed attempt left its reason");
}

#[tokio::test]
async fn a_permanent_smtp_refusal_fails_the_delivery_without_retrying() {
    let script: crate::support::Script = std::sync::Arc::new(|rcpt: &str, _attempt: usize| {
        if rcpt.starts_with("nobody") {
            crate::support::Fault::RejectRcpt(550, "5.1.1 no such user")
        } else {
            crate::support::Fault::Accept
        }
    });
    let app = TestApp::spawn_with(Options { script: Some(script), ..Options::default() }).await;
    app.sign_up("nobody@example.com", "").await;
    app.sign_up("somebody@example.com", "").await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    assert_eq!(app.deliveries().await, vec![("failed".to_owned(), 1), ("sent".to_owned(), 1)]);
    let (attempts, error): (i32, String) =
        sqlx::query_as("SELECT attempts, last_error FROM deliveries WHERE status = 'failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.contains("550"), "{error}");
}

#[tokio::test]
async fn temporary_refusals_are_retried_until_they_succeed() {
    let script: crate::support::Script = std::sync::Arc::new(|_: &str, attempt: usize| {
        if attempt <= 2 {
            crate::support::Fault::RejectData(451, "4.3.0 try again later")
        } else {
            crate::support::Fault::Accept
        }
    });
    let app = TestApp::spawn_with(Options { script: Some(script), ..Options::default() }).await;
    app.sign_up("retry@example.com", "").await;
    let mails = app.sink().wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1);
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(attempts, 3);
}

/// A server that refuses the session itself (a 5xx greeting, a wrong password) is a problem with
/// the server or our settings, not with the message: nothing may be failed for good because of it.
#[tokio::test]
async fn a_server_refusing_the_whole_session_is_retried_not_failed() {
    let rude = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = rude.local_addr().unwrap().port();
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = refusals.clone();
    let refusing = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        loop {
            let Ok((mut socket, _)) = rude.accept().await else { break };
            let _ = socket.write_all(b"554 5.3.2 not accepting mail right now\r\n").await;
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let app = TestApp::spawn_with(Options { start_sink: false, mail_port: Some(port), ..Options::default() }).await;
    app.sign_up("patient@example.com", "").await;
    // Several refused sessions: were they counted as attempts, the message would have spent
    // three by now (and with max_attempts reached, failed).
    crate::support::wait_until(Duration::from_secs(10), "three refused sessions", || {
        let n = refusals.load(std::sync::atomic::Ordering::SeqCst);
        async move { n >= 3 }
    })
    .await;
    assert_eq!(app.deliveries().await, vec![("pending".to_owned(), 1)], "a session-level 5xx is not final");
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert!(attempts <= 1, "refused sessions spend no attempts ({attempts})");
    assert!(error.is_some_and(|e| e.contains("554")), "the refusal is on record");

    refusing.abort();
    let _ = refusing.await;
    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails[0].rcpt_to, vec!["patient@example.com".to_owned()]);
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    assert_eq!(app.deliveries().await, vec![("sent".to_owned(), 1)]);
}
