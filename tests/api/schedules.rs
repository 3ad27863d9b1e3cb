//! Scheduled and automatic digests: a digest waits for its time, goes to those confirmed when it
//! starts, can be cancelled until then, and starts once however many workers run, even when one
//! dies while starting it. The workers' scheduler runs on a clock the test sets.

use std::time::Duration;

use broadsheet::worker::{Clock, Worker};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Options, TestApp};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn start_worker(app: &TestApp, clock: &Clock) -> (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap().with_clock(clock.clone());
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(worker.run(stop)))
}

async fn status(app: &TestApp, id: &str) -> Value {
    app.admin_get(&format!("/admin/digests/{id}")).send().await.unwrap().json().await.unwrap()
}

fn delete(app: &TestApp, id: &str) -> reqwest::RequestBuilder {
    app.client.delete(format!("{}/admin/digests/{id}", app.address)).bearer_auth(crate::support::ADMIN_TOKEN)
}

#[tokio::test]
async fn a_scheduled_digest_waits_for_its_time_and_goes_to_those_confirmed_then() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let clock = Clock::manual(at("2026-12-07T07:00:00Z"));
    let (stop, worker) = start_worker(&app, &clock);
    app.add_confirmed(&["early@example.com"]).await;
    app.add_article("Scheduled news", "Body.", None).await;

    let response =
        app.admin_post("/admin/digests").json(&json!({ "send_at": "2026-12-07T09:00:00+01:00" })).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["recipients"], 0);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(status(&app, &id).await["status"], "scheduled");

    // Someone confirms while it waits: they get it too.
    app.add_confirmed(&["late@example.com"]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.sink().received().len(), 0, "nothing before its time");

    clock.set(at("2026-12-07T08:00:01Z"));
    app.wait_for_count(
        &format!("SELECT count(*) FROM deliveries WHERE digest_id = '{id}' AND status = 'sent'"),
        |n| n == 2,
        Duration::from_secs(20),
        "the scheduled digest to be sent",
    )
    .await;
    assert_eq!(app.sink().count_for("early@example.com"), 1);
    assert_eq!(app.sink().count_for("late@example.com"), 1);
    let progress = status(&app, &id).await;
    assert_eq!(progress["status"], "done");
    assert_eq!(progress["recipients"], 2);

    // Too late to cancel now.
    let cancel = delete(&app, &id).send().await.unwrap();
    assert_eq!(cancel.status(), 409);
    stop.cancel();
    let _ = worker.await;
}

#[tokio::test]
async fn a_scheduled_digest_can_be_cancelled_from_the_api_and_the_cli_and_its_articles_go_to_the_next() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("Held back", "Body.", None).await;
    let created: Value = app
        .admin_post("/admin/digests")
        .json(&json!({ "send_at": "2030-01-01T09:00:00Z" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(delete(&app, id).send().await.unwrap().status(), 204);
    assert_eq!(status(&app, id).await["status"], "cancelled");
    assert_eq!(delete(&app, id).send().await.unwrap().status(), 204, "cancelling twice is harmless");
    assert_eq!(delete(&app, "00000000-0000-0000-0000-000000000000").send().await.unwrap().status(), 404);

    // The CLI: schedule, see it in status, cancel.
    let out = app.cli(&["digest", "send", "--at", "2030-01-01T10:00:00+01:00"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("scheduled for 2030-01-01T09:00:00+00:00"), "{stdout}");
    let cli_id = stdout.split_whitespace().nth(1).unwrap().to_owned();
    let shown = app.cli(&["digest", "status", &cli_id], None);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("scheduled"));
    let cancelled = app.cli(&["digest", "cancel", &cli_id], None);
    assert!(cancelled.status.success(), "{}", String::from_utf8_lossy(&cancelled.stderr));
    let bad = app.cli(&["digest", "send", "--at", "next monday"], None);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));

    let bad = app.admin_post("/admin/digests").json(&json!({ "send_at": "tomorrow" })).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "send_at");
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(deliveries, 0, "nothing was queued for a cancelled digest");
}

/// Two workers, one killed while it is starting the digest (its row claimed, its recipients
/// being inserted): the other starts it, and every recipient gets it exactly once.
#[tokio::test]
async fn a_scheduled_digest_starts_once_with_two_workers_and_one_killed_while_starting_it() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_many_confirmed(50).await;
    app.add_article("Once", "Body.", None).await;
    let created: Value = app
        .admin_post("/admin/digests")
        .json(&json!({ "send_at": "2026-12-07T08:00:00Z" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Hold inserts of its recipients so the first worker stops half-way through starting it.
    let mut blocker = app.db.begin().await.unwrap();
    sqlx::query("LOCK TABLE digest_chunks IN SHARE MODE").execute(&mut *blocker).await.unwrap();
    let clock = Clock::manual(at("2026-12-07T08:00:05Z"));
    let (_, doomed) = start_worker(&app, &clock);
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO digest_chunks%'";
    app.wait_for_count(waiting, |n| n == 1, Duration::from_secs(10), "the first worker to be mid-start").await;
    let state: String = sqlx::query_scalar("SELECT state FROM digests").fetch_one(&app.db).await.unwrap();
    assert_eq!(state, "scheduled", "the half-made start is not visible");

    // Kill it: its task dies and its connection with it (as a process killed with -9).
    doomed.abort();
    let _ = doomed.await;
    sqlx::query(
        // This test's database only: every test shares the server, and another's backend is not ours.
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO digest_chunks%'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (stop_a, a) = start_worker(&app, &clock);
    let (stop_b, b) = start_worker(&app, &clock);
    blocker.rollback().await.unwrap();

    app.wait_for_count(
        &format!("SELECT count(*) FROM deliveries WHERE digest_id = '{id}' AND status = 'sent'"),
        |n| n >= 50,
        Duration::from_secs(30),
        "the digest to be sent",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(rows, 50, "one delivery per recipient");
    for i in 1..=50 {
        assert_eq!(app.sink().count_for(&format!("reader{i}@example.com")), 1, "reader{i}");
    }
    assert_eq!(status(&app, &id).await["recipients"], 50);
    stop_a.cancel();
    stop_b.cancel();
    let _ = (a.await, b.await);
}

fn scheduled_app_options() -> Options {
    Options {
        with_worker: false,
        extra: vec![
            ("BROADSHEET__DIGESTS__SCHEDULE".into(), "0 9 * * MON".into()),
            ("BROADSHEET__DIGESTS__TIMEZONE".into(), "Europe/Berlin".into()),
            ("BROADSHEET__DIGESTS__MAX_LATENESS_HOURS".into(), "24".into()),
        ],
        ..Default::default()
    }
}

async fn digests(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM digests").fetch_one(&app.db).await.unwrap()
}

async fn ticks(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM digest_ticks").fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn the_schedule_sends_waiting_articles_once_per_tick_across_workers_and_nothing_when_nothing_is_new() {
    let app = TestApp::spawn_with(scheduled_app_options()).await;
    app.add_confirmed(&["weekly@example.com"]).await;
    app.add_article("Monday's news", "Body.", None).await;
    // Monday 2026-12-07, 09:00 in Berlin is 08:00 UTC.
    let clock = Clock::manual(at("2026-12-07T07:59:00Z"));
    let (stop_a, a) = start_worker(&app, &clock);
    let (stop_b, b) = start_worker(&app, &clock);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(digests(&app).await, 0, "not before the tick");

    clock.set(at("2026-12-07T08:00:00Z"));
    app.sink().wait_for(1, Duration::from_secs(15)).await;
    clock.set(at("2026-12-07T08:30:00Z"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(digests(&app).await, 1, "one digest for the tick, with two workers");
    assert_eq!(app.sink().count_for("weekly@example.com"), 1);

    // The next Monday nothing is new: the tick passes without a digest.
    clock.set(at("2026-12-14T08:00:30Z"));
    app.wait_for_count("SELECT count(*) FROM digest_ticks", |n| n == 2, Duration::from_secs(10), "the second tick")
        .await;
    assert_eq!(digests(&app).await, 1, "no digest when nothing is new");

    // Every worker down at the third tick: the first back sends it, two hours late.
    stop_a.cancel();
    stop_b.cancel();
    let _ = (a.await, b.await);
    app.add_article("While we were down", "Body.", None).await;
    clock.set(at("2026-12-21T10:00:00Z"));
    let (stop, worker) = start_worker(&app, &clock);
    app.sink().wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(digests(&app).await, 2);

    // A tick missed by more than digests.max_lateness_hours is skipped; the articles wait.
    stop.cancel();
    let _ = worker.await;
    app.add_article("Too late", "Body.", None).await;
    clock.set(at("2026-12-29T09:00:00Z"));
    let (stop, worker) = start_worker(&app, &clock);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(digests(&app).await, 2, "a tick 25 hours late is not sent");
    assert_eq!(ticks(&app).await, 3);
    stop.cancel();
    let _ = worker.await;
}

/// A schedule naming a day that never comes (30 February) is refused at start, naming the setting
/// and why, rather than accepted and then never sending anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_never_fires_is_refused_at_start() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let out = tokio::task::block_in_place(|| {
        app.cli_with(&["migrate"], None, &[("BROADSHEET__DIGESTS__SCHEDULE", "0 0 30 2 *")])
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("digests.schedule") && stderr.contains("never fires"), "{stderr}");
    // The same settings with a schedule that fires, if rarely, are fine.
    let vars = [
        ("DATABASE_URL".to_owned(), app.database_url()),
        ("BROADSHEET__MAIL__FROM".to_owned(), "Broadsheet <news@example.test>".to_owned()),
        ("BROADSHEET__TOKENS__KEYS".to_owned(), app.token_keys_env()),
    ];
    let with = |schedule: &str| {
        let mut vars = vars.to_vec();
        vars.push(("BROADSHEET__DIGESTS__SCHEDULE".to_owned(), schedule.to_owned()));
        broadsheet::config::Settings::load_from(None, &vars).map(|_| ()).map_err(|e| e.to_string())
    };
    assert!(with("0 9 29 2 *").is_ok(), "29 February comes every four years");
    let refused = with("0 9 30 2 *").unwrap_err();
    assert!(refused.contains("never fires"), "{refused}");
}

/// `send_at` must be a time someone means: from the year 2000 to five years ahead. A time past
/// the year 9999 (9999-12-31T23:00:00-14:00 is 10000 in UTC) could not even be shown again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_at_out_of_range_is_refused_naming_send_at() {
    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    app.add_article("Someday", "Body.", None).await;
    let far = (Utc::now() + chrono::Duration::days(6 * 366)).to_rfc3339();
    for send_at in ["9999-12-31T23:00:00-14:00", "9999-01-01T00:00:00Z", far.as_str(), "1999-12-31T23:59:59Z"] {
        let response = app.admin_post("/admin/digests").json(&json!({ "send_at": send_at })).send().await.unwrap();
        assert_eq!(response.status(), 422, "{send_at}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "send_at", "{send_at}");
        assert!(body["error"].as_str().unwrap().contains("5 years from now"), "{send_at}: {body}");
    }
    let out = tokio::task::block_in_place(|| app.cli(&["digest", "send", "--at", "9999-12-31T23:00:00-14:00"], None));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 years from now"));
    let digests: i64 = sqlx::query_scalar("SELECT count(*) FROM digests").fetch_one(&app.db).await.unwrap();
    assert_eq!(digests, 0);

    // Four years ahead is a plan: scheduled.
    let soon = (Utc::now() + chrono::Duration::days(4 * 365)).to_rfc3339();
    let response = app.admin_post("/admin/digests").json(&json!({ "send_at": soon })).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "scheduled");
}
