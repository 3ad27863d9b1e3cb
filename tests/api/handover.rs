//! Confirmations handed straight to the in-process worker, already leased (`store::handover`):
//! sent once, rescued by their lease when the worker dies holding them, and queued for the
//! claimer when the worker has no room.

use std::sync::Arc;
use std::time::Duration;

use broadsheet::domain::SubscriberEmail;
use broadsheet::signup as handover;
use broadsheet::worker::Worker;
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

use crate::support::{Fault, Options, Script, TestApp, token_of};

#[tokio::test]
async fn a_signup_hands_its_confirmation_to_the_worker_leased_and_it_goes_out_once() {
    let app = TestApp::spawn().await;
    // How each delivery row looked when it was inserted: a claim leaves the row as the hand-over
    // does, so only this tells the two paths apart.
    for statement in [
        "CREATE TABLE inserted (id bigint, locked_by uuid, attempts int)",
        "CREATE FUNCTION note_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO inserted VALUES (NEW.id, NEW.locked_by, NEW.attempts); RETURN NEW; END $$",
        "CREATE TRIGGER note_insert AFTER INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION note_insert()",
    ] {
        sqlx::query(statement).execute(&app.db).await.unwrap();
    }
    let (link, _) = app.confirmation_link_for("ada@example.com", "Ada").await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let (leased, attempts): (bool, i32) =
        sqlx::query_as("SELECT locked_by IS NOT NULL, attempts FROM inserted").fetch_one(&app.db).await.unwrap();
    assert_eq!((leased, attempts), (true, 1), "inserted already leased to the worker, not queued for a claim");
    // One attempt, as a claim would have counted it; nothing left leased.
    let (attempts, status): (i32, String) =
        sqlx::query_as("SELECT attempts, status::text FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!((attempts, status.as_str()), (1, "sent"));
    assert_eq!(app.stuck().await, 0);
    assert_eq!(app.sink().count_for("ada@example.com"), 1);
    // The link it carries works like any other.
    let confirm = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(confirm.status(), 200);
    assert_eq!(app.status_of("ada@example.com").await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn a_confirmation_handed_to_a_worker_that_dies_is_sent_by_another_once_the_lease_ends() {
    let app = TestApp::spawn_with(Options {
        with_worker: false,
        extra: vec![
            ("BROADSHEET__MAIL__LEASE_SECS".into(), "2".into()),
            ("BROADSHEET__MAIL__SEND_TIMEOUT_SECS".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    // A worker that leases the row and dies with it in its channel, never read. Its lease (5 s)
    // outlasts the checks below however slow the machine is, then runs out within the wait.
    let dead = uuid::Uuid::new_v4();
    let (to_dead, channel) = handover::handover_channel(dead, 5.0, 8);
    let email = SubscriberEmail::parse("grace@example.com").unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let signup =
        broadsheet::signup::one(&mut conn, &email, None, &Default::default(), 3, to_dead.reserve()).await.unwrap();
    drop(conn);
    assert!(signup.handed_over);
    drop(channel);
    let (locked_by, attempts): (Option<uuid::Uuid>, i32) =
        sqlx::query_as("SELECT locked_by, attempts FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!((locked_by, attempts), (Some(dead), 1), "inserted already leased, one attempt counted");

    // A live worker leaves the row alone while the lease lasts, then sends it.
    let stop = CancellationToken::new();
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let running = tokio::spawn(worker.run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.sink().count_for("grace@example.com"), 0, "not taken while another worker's lease lasts");
    app.sink().wait_for(1, Duration::from_secs(15)).await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(app.sink().count_for("grace@example.com"), 1);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(attempts, 2, "the dead worker's lease counted as an attempt, like a crashed claim");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn signups_queue_their_confirmations_for_the_claimer_while_the_worker_has_no_room() {
    // One send slot, stalled by the first recipient: the worker's queues fill up. The stall
    // outlasts the 200 signups below on a loaded machine (they take about a second; once it ends
    // the slot drains faster than signups come and nothing would be left for the claimer).
    let script: Script = Arc::new(|rcpt: &str, attempt: usize| match rcpt {
        "first@example.com" if attempt == 1 => Fault::Stall(Duration::from_secs(10)),
        _ => Fault::Accept,
    });
    let app = TestApp::spawn_with(Options {
        script: Some(script),
        extra: vec![
            ("BROADSHEET__MAIL__CONCURRENCY".into(), "1".into()),
            ("BROADSHEET__MAIL__SEND_TIMEOUT_SECS".into(), "20".into()),
            ("BROADSHEET__MAIL__LEASE_SECS".into(), "30".into()),
        ],
        ..Default::default()
    })
    .await;
    assert_eq!(app.sign_up("first@example.com", "First").await.status(), 200);
    app.wait_for_count(
        "SELECT count(*) FROM deliveries WHERE locked_by IS NOT NULL",
        |n| n == 1,
        Duration::from_secs(5),
        "the first confirmation to be in flight",
    )
    .await;
    let emails: Vec<String> = (0..200).map(|i| format!("reader{i}@example.com")).collect();
    for email in &emails {
        assert_eq!(app.sign_up(email, "Reader").await.status(), 200);
    }
    // The worker took what it had room for; the rest waits, unleased, for the claimer.
    let unleased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'pending' AND locked_by IS NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(unleased > 0, "some confirmations were queued for the claimer");

    app.wait_until_queue_settled(Duration::from_secs(60)).await;
    for email in emails.iter().map(String::as_str).chain(["first@example.com"]) {
        assert_eq!(app.sink().count_for(email), 1, "{email}");
    }
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_signup_whose_client_hangs_up_still_hands_its_confirmation_over() {
    // A long lease: a row inserted leased but never handed over would wait a minute for it.
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__MAIL__LEASE_SECS".into(), "60".into())],
        ..Default::default()
    })
    .await;
    // Each signup's statement takes a moment, so the hang-ups below land while it runs.
    sqlx::query(
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep(0.2); RETURN NEW; END $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER slow_insert BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION slow_insert()")
        .execute(&app.db)
        .await
        .unwrap();
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut clients = Vec::new();
    for i in 0..10 {
        let body =
            format!("email=gone{i}%40example.com&name=Gone&form_token={}", app.form_token_at(chrono::Utc::now()));
        let request = format!(
            "POST /subscriptions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let addr = addr.clone();
        clients.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            // Hang up without waiting for the answer, while the signup is under way.
            tokio::time::sleep(Duration::from_millis(50)).await;
            stream.set_zero_linger().unwrap();
            drop(stream);
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    // Each request was read whole before its client left, so each signup is made: the ten
    // share statements, 0.2 s a row.
    let started = std::time::Instant::now();
    let count = "SELECT count(*) FROM subscribers";
    while sqlx::query_scalar::<_, i64>(count).fetch_one(&app.db).await.unwrap() < 10 {
        assert!(started.elapsed() < Duration::from_secs(20), "a signup whose client hung up was not made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.wait_until_queue_settled(Duration::from_secs(15)).await;
    assert_eq!(app.sink().received().len(), 10, "every signup that was made got its mail");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_signup_in_flight_when_the_worker_stops_leaves_nothing_locked() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let mut worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let handover = worker.handover();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));
    // A signup takes its place in the channel, then the stop comes before its statement ends.
    let slot = handover.reserve().expect("the worker has room");
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let email = SubscriberEmail::parse("late@example.com").unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let signup = broadsheet::signup::one(&mut conn, &email, None, &Default::default(), 3, Some(slot)).await.unwrap();
    assert!(signup.handed_over);
    drop(conn);
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("stops in bounded time").unwrap().unwrap();
    let (locked, pending): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE locked_by IS NOT NULL), count(*) FILTER (WHERE status = 'pending') FROM deliveries",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((locked, pending), (0, 1), "handed back, due for the next worker");
    // Signups after the stop queue their rows for a claimer.
    assert!(handover.reserve().is_none());
}
