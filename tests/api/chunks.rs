//! A digest's recipients in chunks: each delivery row written once, with its outcome; a chunk
//! taken over after a crash sends only to those without a row; progress counts what is left.

use std::time::Duration;

use broadsheet::mail::BounceAddress;
use broadsheet::worker::Worker;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Options, TestApp};

const BOUNCE_ADDRESS: &str = "bounces@news.example.test";
const BOUNCE_SECRET: &str = "a-bounce-secret-of-at-least-32-characters";

async fn queue_digest(app: &TestApp) -> String {
    app.add_article("News", "Body of the news.", None).await;
    let created: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn run_worker_until_settled(app: &TestApp) {
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(worker.run(stop.clone()));
    app.wait_until_queue_settled(Duration::from_secs(60)).await;
    stop.cancel();
    handle.await.unwrap().unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_digest_writes_each_recipients_row_once_when_their_mail_has_gone() {
    let bounce = ("BROADSHEET__MAIL__BOUNCE_ADDRESS".to_owned(), BOUNCE_ADDRESS.to_owned());
    let secret = ("BROADSHEET__MAIL__BOUNCE_SECRET".to_owned(), BOUNCE_SECRET.to_owned());
    let app =
        TestApp::spawn_with(Options { with_worker: false, extra: vec![bounce, secret], ..Default::default() }).await;
    app.add_many_confirmed(600).await;
    // Every write to a digest's delivery row is recorded, to count how often each was written.
    sqlx::query("CREATE TABLE row_writes (id bigint, op text)").execute(&app.db).await.unwrap();
    sqlx::query(
        "CREATE FUNCTION note_row_write() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO row_writes VALUES (NEW.id, TG_OP); RETURN NEW; END $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER note_row_write AFTER INSERT OR UPDATE ON deliveries
         FOR EACH ROW WHEN (NEW.digest_id IS NOT NULL) EXECUTE FUNCTION note_row_write()",
    )
    .execute(&app.db)
    .await
    .unwrap();

    let id = queue_digest(&app).await;
    // Nothing per recipient until their mail goes: three chunks hold the 600 recipients.
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM digest_chunks").await, 3);
    let before = app.digest_progress(&id).await;
    assert_eq!((before["recipients"].as_i64(), before["pending"].as_i64()), (Some(600), Some(600)), "{before}");
    assert_eq!(before["status"], "sending");

    run_worker_until_settled(&app).await;
    for i in 1..=600 {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1, "reader{i} got the digest once");
    }
    assert_eq!(app.deliveries().await, vec![("sent".to_owned(), 600)]);
    assert_eq!(count(&app, "SELECT count(*) FROM row_writes WHERE op = 'INSERT'").await, 600);
    assert_eq!(count(&app, "SELECT count(*) FROM row_writes WHERE op = 'UPDATE'").await, 0, "no row written twice");
    // The VERP tag of each mail names the row written for it, so a bounce report finds it.
    let verp = BounceAddress::new(BOUNCE_ADDRESS, &SecretString::from(BOUNCE_SECRET)).unwrap();
    for mail in app.sink().received().iter().take(20) {
        let delivery = verp.delivery_in(&mail.mail_from).expect("a tagged envelope sender");
        let to: String = sqlx::query_scalar(
            "SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.id = $1",
        )
        .bind(delivery)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(vec![to], mail.rcpt_to);
    }
    let after = app.digest_progress(&id).await;
    assert_eq!((after["sent"].as_i64(), after["pending"].as_i64()), (Some(600), Some(0)), "{after}");
    assert_eq!(after["status"], "done");
    assert_eq!(count(&app, "SELECT count(*) FROM digest_chunks WHERE done AND locked_by IS NULL").await, 3);
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_chunk_taken_over_after_a_crash_sends_only_to_those_without_a_row() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_many_confirmed(300).await;
    let id = queue_digest(&app).await;
    // A worker that died mid-chunk: its lease ran out, and it had written the rows of 100 of the
    // first chunk's recipients (their mail went).
    sqlx::query(
        "UPDATE digest_chunks SET locked_by = gen_random_uuid(), locked_until = now() - interval '1 second', attempts = 1
         WHERE id = (SELECT min(id) FROM digest_chunks)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO deliveries (kind, subscriber_id, digest_id, status, attempts, sent_at)
         SELECT 'digest', r.id, c.digest_id, 'sent', 1, now()
         FROM digest_chunks c, unnest(c.recipients[1:100]) AS r(id) WHERE c.id = (SELECT min(id) FROM digest_chunks)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (already, rest): (Vec<String>, Vec<String>) = {
        let sent: Vec<String> = sqlx::query_scalar(
            "SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id ORDER BY s.email",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        (1..=300).map(|i| format!("reader{i}@example.com")).partition(|e| sent.contains(e))
    };
    assert_eq!((already.len(), rest.len()), (100, 200));
    // Progress counts the rows written and, in the chunk left half-done, those still without one.
    let before = app.digest_progress(&id).await;
    assert_eq!((before["sent"].as_i64(), before["pending"].as_i64()), (Some(100), Some(200)), "{before}");

    run_worker_until_settled(&app).await;
    assert!(already.iter().all(|e| app.sink().count_for(e) == 0), "nobody who has a row got it again");
    assert!(rest.iter().all(|e| app.sink().count_for(e) == 1), "everyone else got it once");
    let after = app.digest_progress(&id).await;
    assert_eq!((after["sent"].as_i64(), after["pending"].as_i64()), (Some(300), Some(0)), "{after}");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn recipients_who_leave_or_are_erased_before_their_turn_get_no_mail_and_the_digest_ends() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_many_confirmed(5).await;
    let id = queue_digest(&app).await;
    sqlx::query("UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'reader1@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM subscribers WHERE email = 'reader2@example.com'").execute(&app.db).await.unwrap();
    // Confirmed after the digest started: not one of its recipients.
    app.add_confirmed(&["late@example.com"]).await;

    run_worker_until_settled(&app).await;
    assert_eq!(app.sink().count_for("reader1@example.com"), 0);
    assert_eq!(app.sink().count_for("reader2@example.com"), 0);
    assert_eq!(app.sink().count_for("late@example.com"), 0);
    for i in 3..=5 {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1);
    }
    assert_eq!(app.deliveries().await, vec![("sent".to_owned(), 3), ("skipped".to_owned(), 1)]);
    let after = app.digest_progress(&id).await;
    assert_eq!(
        (after["sent"].as_i64(), after["skipped"].as_i64(), after["pending"].as_i64()),
        (Some(3), Some(1), Some(0)),
        "{after}"
    );
    assert_eq!(after["status"], "done");
}

#[tokio::test]
async fn someone_erased_while_their_mail_is_in_flight_costs_the_others_no_second_mail() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_many_confirmed(300).await;
    let id = queue_digest(&app).await;
    // reader7 is erased as soon as their mail has gone, through the admin API. Either the
    // erasure commits before the write of their row starts, or it lands while that write waits
    // (two seconds, for reader7's row only): either way the row would name someone who is gone.
    // Before the fix the whole batch was refused, and the chunk's next holder sent its other
    // recipients the digest a second time.
    sqlx::query(
        "CREATE FUNCTION slow_for_reader7() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF EXISTS (SELECT 1 FROM subscribers WHERE id = NEW.subscriber_id AND email = 'reader7@example.com') THEN
                 PERFORM pg_sleep(2);
             END IF;
             RETURN NEW;
         END $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER slow_for_reader7 BEFORE INSERT ON deliveries
         FOR EACH ROW WHEN (NEW.digest_id IS NOT NULL) EXECUTE FUNCTION slow_for_reader7()",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(worker.run(stop.clone()));
    crate::support::wait_until(Duration::from_secs(30), "reader7's mail", || async {
        app.sink().count_for("reader7@example.com") == 1
    })
    .await;
    let erased = app.client.delete(format!("{}/admin/subscribers/reader7@example.com", app.address));
    let erased = erased.bearer_auth(crate::support::ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(erased.status(), 204);
    app.wait_until_queue_settled(Duration::from_secs(60)).await;
    stop.cancel();
    handle.await.unwrap().unwrap();

    assert_eq!(count(&app, "SELECT count(*) FROM subscribers WHERE email = 'reader7@example.com'").await, 0);
    for i in (1..=300).filter(|&i| i != 7) {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1, "reader{i}");
    }
    assert_eq!(app.deliveries().await, vec![("sent".to_owned(), 299)], "no row names the erased subscriber");
    let after = app.digest_progress(&id).await;
    assert_eq!((after["sent"].as_i64(), after["pending"].as_i64()), (Some(299), Some(0)), "{after}");
    assert_eq!(after["status"], "done");
    assert_eq!(app.stuck().await, 0);
}

#[tokio::test]
async fn a_worker_stopped_mid_chunk_hands_the_chunk_back_and_the_next_sends_the_rest_once() {
    // Rate-capped, so the stop lands in the middle of the chunk: the chunk takes about 4 s, the
    // stop comes after about 20 rows, and a commit stalled for seconds still leaves it mid-chunk.
    let app = TestApp::spawn_with(Options {
        with_worker: false,
        extra: vec![("BROADSHEET__MAIL__RATE_PER_SECOND".into(), "30".into())],
        ..Default::default()
    })
    .await;
    app.add_many_confirmed(120).await;
    queue_digest(&app).await;
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(worker.run(stop.clone()));
    app.wait_for_count("SELECT count(*) FROM deliveries", |n| n >= 20, Duration::from_secs(20), "some sends").await;
    stop.cancel();
    handle.await.unwrap().unwrap();
    let written = count(&app, "SELECT count(*) FROM deliveries").await;
    assert!(written < 120, "stopped mid-chunk ({written} written)");
    assert_eq!(
        count(&app, "SELECT count(*) FROM digest_chunks WHERE NOT done AND locked_by IS NULL").await,
        1,
        "the chunk is handed back, open"
    );

    run_worker_until_settled(&app).await;
    for i in 1..=120 {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1, "reader{i}");
    }
    assert_eq!(app.stuck().await, 0);
}
