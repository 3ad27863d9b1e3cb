//! The worker under faults: SMTP refusals, dropped connections, stalls, several workers, a crash.

use std::sync::Arc;
use std::time::Duration;

use broadsheet::worker::Worker;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Fault, Options, Script, TestApp};

async fn queue_digest(app: &TestApp) -> String {
    app.add_article("News", "Body of the news.", None).await;
    let created: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

fn start_worker(app: &TestApp) -> (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(worker.run(stop)))
}

#[tokio::test]
async fn smtp_faults_are_retried_5xx_is_not_and_nothing_is_left_stuck() {
    let script: Script = Arc::new(|rcpt: &str, attempt: usize| match rcpt.split('@').next().unwrap_or("") {
        "busy" if attempt <= 2 => Fault::RejectRcpt(451, "4.3.0 mailbox busy, try later"),
        "greylisted" if attempt == 1 => Fault::RejectData(450, "4.7.1 greylisted"),
        "dropped" if attempt == 1 => Fault::DropMidData,
        "slow" if attempt == 1 => Fault::Stall(Duration::from_secs(4)),
        "unavailable" if attempt == 1 => Fault::ServiceUnavailable,
        "unknown" => Fault::RejectRcpt(550, "5.1.1 no such user here"),
        "rejected" => Fault::RejectData(554, "5.7.1 message refused"),
        _ => Fault::Accept,
    });
    let app = TestApp::spawn_with(Options { script: Some(script), ..Default::default() }).await;
    let fine = ["fine1@example.com", "fine2@example.com"];
    let transient = [
        "busy@example.com",
        "greylisted@example.com",
        "dropped@example.com",
        "slow@example.com",
        "unavailable@example.com",
    ];
    let permanent = ["unknown@example.com", "rejected@example.com"];
    app.add_confirmed(&fine).await;
    app.add_confirmed(&transient).await;
    app.add_confirmed(&permanent).await;
    let id = queue_digest(&app).await;

    app.wait_until_queue_settled(Duration::from_secs(40)).await;
    for email in fine.iter().chain(&transient) {
        assert_eq!(app.sink().count_for(email), 1, "{email} delivered exactly once");
    }
    for email in permanent {
        assert_eq!(app.sink().count_for(email), 0, "{email}");
    }
    let status: Value = app.admin_get(&format!("/admin/digests/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["recipients"], 9);
    assert_eq!(status["sent"], 7);
    assert_eq!(status["failed"], 2);
    assert_eq!(status["pending"], 0);
    assert_eq!(app.stuck().await, 0, "nothing pending or locked");

    let failed: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT s.email, d.attempts, d.last_error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE d.status = 'failed' ORDER BY s.email",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(failed.len(), 2);
    for (email, attempts, error) in &failed {
        assert_eq!(*attempts, 1, "{email}: 5xx is not retried");
        assert!(error.starts_with('5'), "{email}: the server's reply is kept: {error}");
    }
    let busy_attempts: i32 = sqlx::query_scalar(
        "SELECT d.attempts FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'busy@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(busy_attempts, 3);
}

#[tokio::test]
async fn transient_failures_give_up_after_max_attempts() {
    let script: Script = Arc::new(|_: &str, _: usize| Fault::RejectRcpt(421, "4.4.2 always busy"));
    let app = TestApp::spawn_with(Options {
        script: Some(script),
        extra: vec![
            ("BROADSHEET__MAIL__MAX_ATTEMPTS".into(), "4".into()),
            ("BROADSHEET__MAIL__RETRY_BASE_SECS".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    app.add_confirmed(&["never@example.com"]).await;
    queue_digest(&app).await;
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    let (attempts, error): (i32, String) =
        sqlx::query_as("SELECT attempts, last_error FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(attempts, 4);
    assert!(error.contains("gave up after 4 attempts"), "{error}");
    // Backoff: the waits double (with jitter into their upper half): 0.5-1 s, 1-2 s, 2-4 s. A
    // loaded machine adds its own delay (a commit, a claim, an SMTP exchange) to every gap, so
    // the lower bounds are exact and the one upper bound, the first wait below the third's
    // least, leaves a second for that: it still fails a backoff that does not grow.
    let times = app.sink().attempt_times("never@example.com");
    assert_eq!(times.len(), 4);
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    assert!(gaps[0] >= 0.49 && gaps[0] < 1.99, "{gaps:?}");
    assert!(gaps[1] >= 0.99, "{gaps:?}");
    assert!(gaps[2] >= 1.99, "{gaps:?}");
    assert!(gaps[2] > gaps[0], "{gaps:?}");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn two_workers_share_a_digest_without_sending_anyone_twice() {
    let app = TestApp::spawn_with(Options {
        with_worker: false,
        extra: vec![("BROADSHEET__MAIL__CONCURRENCY".into(), "4".into())],
        ..Default::default()
    })
    .await;
    app.add_many_confirmed(400).await;
    queue_digest(&app).await;
    let (stop_a, a) = start_worker(&app);
    let (stop_b, b) = start_worker(&app);
    app.wait_until_queue_settled(Duration::from_secs(60)).await;
    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    let received = app.sink().received();
    assert_eq!(received.len(), 400);
    let mut recipients: Vec<String> = received.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 400, "no recipient twice");
    let workers: i64 = sqlx::query_scalar("SELECT count(DISTINCT message_id) FROM deliveries WHERE status = 'sent'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(workers, 400);
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_crashed_workers_deliveries_are_finished_by_another_after_the_lease() {
    // The first worker's sends hang (a stalled server); we then kill it without any cleanup.
    let stalled = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = stalled.clone();
    let script: Script = Arc::new(move |_: &str, _: usize| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Fault::Stall(Duration::from_secs(30))
        } else {
            Fault::Accept
        }
    });
    let app = TestApp::spawn_with(Options {
        script: Some(script),
        with_worker: false,
        extra: vec![
            ("BROADSHEET__MAIL__LEASE_SECS".into(), "2".into()),
            ("BROADSHEET__MAIL__SEND_TIMEOUT_SECS".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    app.add_many_confirmed(20).await;
    queue_digest(&app).await;

    let (_stop, crashed) = start_worker(&app);
    // A digest's sends are leased as a chunk of its recipients.
    let count = "SELECT count(*) FROM digest_chunks WHERE locked_by IS NOT NULL";
    app.wait_for_count(count, |n| n > 0, Duration::from_secs(10), "the first worker to claim rows").await;
    crashed.abort(); // kill: no release, no recording
    let _ = crashed.await;
    let held: i64 = sqlx::query_scalar(count).fetch_one(&app.db).await.unwrap();
    assert!(held > 0, "the crash left its chunk leased");

    stalled.store(false, std::sync::atomic::Ordering::SeqCst);
    let (stop, rescuer) = start_worker(&app);
    app.wait_until_queue_settled(Duration::from_secs(30)).await;
    stop.cancel();
    rescuer.await.unwrap().unwrap();
    for i in 1..=20 {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1, "reader{i}");
    }
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_sends_and_leaves_nothing_locked() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_many_confirmed(200).await;
    queue_digest(&app).await;
    let (stop, worker) = start_worker(&app);
    let count = "SELECT count(*) FROM deliveries WHERE status = 'sent'";
    app.wait_for_count(count, |n| n > 0, Duration::from_secs(10), "some sends").await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker).await.expect("stops in bounded time").unwrap().unwrap();
    let locked: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM deliveries WHERE locked_by IS NOT NULL)
                + (SELECT count(*) FROM digest_chunks WHERE locked_by IS NOT NULL)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(locked, 0, "claimed work is finished or handed back");
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetch_one(&app.db).await.unwrap();
    assert_eq!(sent as usize, app.sink().received().len(), "every accepted message is recorded as sent");
}

#[tokio::test]
async fn the_worker_deletes_long_expired_tokens_and_keeps_the_rest() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_many_confirmed(1).await;
    // Expired two days ago, expired an hour ago (still explained as "expired"), and valid.
    sqlx::query(
        "INSERT INTO subscription_tokens (hash, subscriber_id, purpose, expires_at)
         SELECT decode(md5(x::text) || md5(x::text || 'b'), 'hex'), (SELECT id FROM subscribers), 'unsubscribe', e
         FROM (VALUES (1, now() - interval '2 days'), (2, now() - interval '1 hour'), (3, now() + interval '1 day'))
              AS t(x, e)",
    )
    .execute(&app.db)
    .await
    .unwrap();

    let (stop, worker) = start_worker(&app);
    let count = "SELECT count(*) FROM subscription_tokens";
    app.wait_for_count(count, |n| n == 2, Duration::from_secs(10), "the long-expired token to go").await;
    stop.cancel();
    worker.await.unwrap().unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM subscription_tokens WHERE expires_at > now() - interval '1 day'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(left, 2);
}
