//! The recorder under a slow database: a row whose message went out is never sent again
//! because its outcome has not been written yet, sends slow down instead of piling up
//! unrecorded, and a stop stays bounded even when the outcome write hangs.

use std::time::{Duration, Instant};

use broadsheet::worker::Worker;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use crate::support::{Options, TestApp};

async fn queue_digest(app: &TestApp) {
    app.add_article("News", "Body of the news.", None).await;
    let response = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 202, "{:?}", response.json::<Value>().await);
}

fn start_worker(app: &TestApp) -> (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(worker.run(stop)))
}

/// Every statement that marks deliveries sent (or, for a digest, writes them sent) takes `secs`
/// longer, as an outcome write did in a burst on an un-analysed table (1–2.6 s per batch). Claims
/// and lease renewals are not slowed.
async fn slow_outcome_writes(app: &TestApp, secs: f64) {
    let function = format!(
        "CREATE FUNCTION slow_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF EXISTS (SELECT 1 FROM written WHERE status = 'sent') THEN PERFORM pg_sleep({secs}); END IF;
             RETURN NULL;
         END $$"
    );
    sqlx::query(&function).execute(&app.db).await.unwrap();
    for event in ["UPDATE", "INSERT"] {
        sqlx::query(&format!(
            "CREATE TRIGGER slow_{event} AFTER {event} ON deliveries REFERENCING NEW TABLE AS written
             FOR EACH STATEMENT EXECUTE FUNCTION slow_outcomes()"
        ))
        .execute(&app.db)
        .await
        .unwrap();
    }
}

fn short_leases(concurrency: &str) -> Options {
    Options {
        with_worker: false,
        extra: vec![
            ("BROADSHEET__MAIL__LEASE_SECS".into(), "2".into()),
            ("BROADSHEET__MAIL__SEND_TIMEOUT_SECS".into(), "1".into()),
            ("BROADSHEET__MAIL__CONCURRENCY".into(), concurrency.into()),
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn outcomes_that_wait_longer_than_a_lease_do_not_make_another_worker_send_again() {
    let app = TestApp::spawn_with(short_leases("4")).await;
    app.add_many_confirmed(300).await;
    // Each outcome write takes longer than a whole lease.
    slow_outcome_writes(&app, 2.5).await;
    queue_digest(&app).await;
    let (stop_a, a) = start_worker(&app);
    let (stop_b, b) = start_worker(&app);
    app.wait_until_queue_settled(Duration::from_secs(120)).await;
    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    for i in 1..=300 {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1, "reader{i} got exactly one digest");
    }
    let twice: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE attempts > 1").fetch_one(&app.db).await.unwrap();
    assert_eq!(twice, 0, "no row was claimed a second time");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn while_outcome_writes_lag_the_worker_stops_claiming_and_sending() {
    let app = TestApp::spawn_with(short_leases("2")).await;
    app.add_many_confirmed(600).await;
    slow_outcome_writes(&app, 2.0).await;
    queue_digest(&app).await;
    let (stop, worker) = start_worker(&app);

    // Sent at the server but not yet recorded as sent: bounded by the outcome queue, the write in
    // progress (no more than the queue held) and the sends in flight.
    let batch = 64; // eight times the concurrency, at least 64
    let bound = 2 * broadsheet::worker::outcome_queue(batch) + 2;
    let mut most = 0;
    let started = Instant::now();
    loop {
        // The sink first, then the table: both only grow, so a write that lands between the two
        // reads can only shrink the gap seen, never add one that was not there at a single moment.
        let received = app.sink().received().len();
        let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        most = most.max(received.saturating_sub(recorded as usize));
        if recorded == 600 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the digest did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
    assert!(most <= bound, "{most} messages were sent but unrecorded at once; the bound is {bound}");
    assert!(most > 0, "the slow writes were felt");
    assert_eq!(app.sink().received().len(), 600);
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_stop_is_bounded_even_when_outcome_writes_hang() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("BROADSHEET__MAIL__LEASE_SECS".into(), "3".into()),
            ("BROADSHEET__MAIL__SEND_TIMEOUT_SECS".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    app.add_many_confirmed(200).await;
    slow_outcome_writes(&app, 30.0).await;
    queue_digest(&app).await;
    app.sink().wait_for(1, Duration::from_secs(10)).await;

    let stopping = Instant::now();
    app.stop().await;
    let took = stopping.elapsed();
    // The promise: the send timeout (1 s) plus a few seconds, here under 10 s; the app's
    // own wait in the harness gives up at 15 s.
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
}

/// (seq_scan of deliveries, idx_scan of its primary key, idx_scan of the pending-set index).
async fn scans(db: &sqlx::PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT t.seq_scan,
                (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'deliveries_pkey'),
                (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'deliveries_due')
         FROM pg_stat_user_tables t WHERE t.relname = 'deliveries'",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn outcome_writes_and_renewals_look_rows_up_by_primary_key_whatever_the_backlog() {
    use broadsheet::store::deliveries::{self, Outcome};

    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    // A burst that the planner has no statistics for: 60,000 claimed rows, never analysed.
    sqlx::query("ALTER TABLE deliveries SET (autovacuum_enabled = false)").execute(&app.db).await.unwrap();
    app.add_confirmed(&["ada@example.com"]).await;
    let worker = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO deliveries (kind, subscriber_id, locked_by, locked_until, next_attempt_at)
         SELECT 'confirmation', s.id, $1, now() + interval '1 minute', now() + interval '1 minute'
         FROM subscribers s, generate_series(1, 60000)",
    )
    .bind(worker)
    .execute(&app.db)
    .await
    .unwrap();
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM deliveries ORDER BY id LIMIT 500").fetch_all(&app.db).await.unwrap();

    // Statistics reach the server late: a backend flushes its counts when idle at most once a
    // second, or after 10 s idle, so the migrations' and this setup's scans could land in the
    // middle of what is measured on a loaded machine. Backends flush at exit: end them all first.
    let others = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let mut observer = sqlx::PgConnection::connect(&app.database_url()).await.unwrap();
    sqlx::query_scalar::<_, i64>(others).fetch_one(&mut observer).await.unwrap();
    let left = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    // Bounded, and ending again what reconnected meanwhile, so a pool that keeps coming back
    // fails the test with a message instead of hanging the suite.
    let ending = Instant::now();
    while sqlx::query_scalar::<_, i64>(left).fetch_one(&mut observer).await.unwrap() > 0 {
        assert!(ending.elapsed() < Duration::from_secs(15), "other connections to the test database did not go away");
        tokio::time::sleep(Duration::from_millis(20)).await;
        sqlx::query_scalar::<_, i64>(others).fetch_one(&mut observer).await.unwrap();
    }
    observer.close().await.unwrap();

    // On a connection of their own, whose statistics reach the server when it closes.
    let own = sqlx::PgPool::connect(&app.database_url()).await.unwrap();
    let before = scans(&own).await;
    assert_eq!(deliveries::renew(&own, worker, &ids, 60.0).await.unwrap().len(), 500);
    let outcomes: Vec<_> =
        ids.iter().map(|id| (*id, Outcome::Sent { message_id: format!("<{id}@example.test>") })).collect();
    let mut writer = deliveries::OutcomeWriter::connect(&own).await.unwrap();
    assert_eq!(writer.record(worker, &outcomes).await.unwrap(), 500);
    writer.close().await.unwrap();
    own.close().await;

    // Each renewal and each outcome is one primary-key probe. (The app's pool lost its
    // connections above and does not test them before use: a pool of our own.)
    let db = sqlx::PgPool::connect(&app.database_url()).await.unwrap();
    let started = Instant::now();
    let mut after = scans(&db).await;
    while after.1 < before.1 + 1000 {
        assert!(started.elapsed() < Duration::from_secs(15), "statistics never arrived: {before:?} → {after:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scans(&db).await;
    }
    assert_eq!(after.0, before.0, "no sequential scan of the queue");
    assert_eq!(after.2, before.2, "no scan of the pending set");
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetch_one(&db).await.unwrap();
    assert_eq!(sent, 500);
}

#[tokio::test]
async fn the_worker_analyses_and_vacuums_the_queue_after_a_burst_without_waiting_for_autovacuum() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    sqlx::query("ALTER TABLE deliveries SET (autovacuum_enabled = false)").execute(&app.db).await.unwrap();
    app.add_confirmed(&["ada@example.com"]).await;
    // A burst the statistics know nothing of, already settled (the worker has nothing to send),
    // each row written twice as a claim and its outcome would: 20,000 dead rows.
    sqlx::query(
        "INSERT INTO deliveries (kind, subscriber_id, status, sent_at)
         SELECT 'confirmation', s.id, 'sent', now() FROM subscribers s, generate_series(1, 20000)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE deliveries SET attempts = 1").execute(&app.db).await.unwrap();
    let (stop, worker) = start_worker(&app);
    let analysed = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'deliveries'";
    app.wait_for_count(analysed, |n| n >= 1, Duration::from_secs(40), "the worker to analyse the queue").await;
    let vacuumed = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'deliveries'";
    app.wait_for_count(vacuumed, |n| n >= 1, Duration::from_secs(40), "the worker to vacuum the queue").await;
    stop.cancel();
    worker.await.unwrap().unwrap();
    let rows: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(rows >= 18_000.0, "the statistics now know the queue's size: {rows}");
}
