//! Postgres restarts under a running service: the connections the pool holds die, and the next
//! request on each must still be answered, without repeating a write whose commit went unanswered.
//! The app reaches Postgres through a proxy (`support::pg_proxy`) that drops connections on
//! command.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::support::pg_proxy::PgProxy;
use crate::support::{Options, TestApp, token_of, wait_until};

/// The signup statement (it records the consent and queues the mail in one).
fn signup_statement(sql: &str) -> bool {
    sql.contains("INSERT INTO consent_events") && sql.contains("INSERT INTO deliveries")
}

/// The app, on a database it reaches only through `proxy`.
async fn spawn_through(proxy: &PgProxy, with_worker: bool) -> TestApp {
    let db_name = format!("broadsheet_test_{}", uuid::Uuid::new_v4().simple());
    TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__DATABASE__URL".into(), proxy.url(&db_name))],
        db_name: Some(db_name),
        with_worker,
        ..Default::default()
    })
    .await
}

/// A connection of the test's own, straight to Postgres, for looking at what was written.
async fn direct(app: &TestApp) -> PgPool {
    PgPool::connect(&app.database_url()).await.unwrap()
}

async fn count(db: &PgPool, sql: &str, email: &str) -> i64 {
    sqlx::query_scalar(sql).bind(email).fetch_one(db).await.unwrap()
}

const CONSENTS: &str = "SELECT count(*) FROM consent_events c JOIN subscribers s ON s.id = c.subscriber_id
                        WHERE s.email = $1 AND c.action = 'signup'";
const CONFIRMATIONS: &str = "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                             WHERE s.email = $1 AND d.kind = 'confirmation'";

#[tokio::test]
async fn after_a_restart_the_next_requests_are_answered_not_refused() {
    let proxy = PgProxy::start().await;
    let app = spawn_through(&proxy, true).await;
    let (link, mail) = app.confirmation_link_for("before@example.com", "").await;
    let db = direct(&app).await;

    // Postgres restarts: every connection the service holds (the pool's, the signup queue's, the
    // worker's) is dropped with a FATAL 57P01. Each request below is the first on dead ones.
    assert!(proxy.kill_all().await >= 2, "the service held connections");
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200, "readiness after the restart");

    proxy.kill_all().await;
    let json = app.post_json("/subscriptions", &json!({ "email": "after@example.com" })).await;
    assert_eq!(json.status(), 202, "a JSON signup after the restart");
    proxy.kill_all().await;
    let form = app.sign_up("form@example.com", "Form").await;
    assert_eq!(form.status(), 200, "a form signup after the restart");

    proxy.kill_all().await;
    let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(confirmed.status(), 200, "confirming after the restart");
    assert_eq!(
        count(&db, "SELECT count(*) FROM subscribers WHERE email = $1 AND status = 'confirmed'", "before@example.com")
            .await,
        1
    );

    proxy.kill_all().await;
    let unsubscribe = app.local(&mail.link_to("https://news.example.test/unsubscribe"));
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200, "unsubscribing after the restart");

    // The worker came back by itself: the confirmations of both new signups arrive.
    for email in ["after@example.com", "form@example.com"] {
        assert_eq!(count(&db, CONSENTS, email).await, 1);
        assert_eq!(count(&db, CONFIRMATIONS, email).await, 1);
    }
    wait_until(Duration::from_secs(15), "the new signups' confirmations", || {
        let mails = app.sink().received();
        let got = |email: &str| mails.iter().any(|m| m.rcpt_to.iter().any(|r| r == email));
        let both = got("after@example.com") && got("form@example.com");
        async move { both }
    })
    .await;
}

#[tokio::test]
async fn a_signup_whose_commit_went_unanswered_is_taken_once() {
    let proxy = PgProxy::start().await;
    let app = spawn_through(&proxy, true).await;
    let db = direct(&app).await;
    let warm = app.post_json("/subscriptions", &json!({ "email": "warm@example.com" })).await;
    assert_eq!(warm.status(), 202);
    app.sink().wait_for(1, Duration::from_secs(10)).await;

    // The server gets the statement and its Sync (the commit of the implicit transaction), and
    // answers; the proxy closes the connection instead of passing the answer on.
    proxy.cut_after_commit(signup_statement);
    let response = app.post_json("/subscriptions", &json!({ "email": "once@example.com", "name": "Once" })).await;
    assert_eq!(response.status(), 202, "the signup was run again, not refused");
    assert_eq!(proxy.cuts(), 1, "the first run committed and its answer was withheld");

    assert_eq!(count(&db, CONSENTS, "once@example.com").await, 1, "one consent record");
    assert_eq!(count(&db, CONFIRMATIONS, "once@example.com").await, 1, "one confirmation queued");
    app.wait_until_queue_settled(Duration::from_secs(15)).await;
    let to_them = |mails: &[crate::support::ReceivedMail]| {
        mails.iter().filter(|m| m.rcpt_to.iter().any(|r| r == "once@example.com")).count()
    };
    assert_eq!(to_them(&app.sink().wait_for(2, Duration::from_secs(15)).await), 1, "one mail");
    // Nothing is left that could send another.
    assert_eq!(count(&db, &format!("{CONFIRMATIONS} AND d.status = 'sent'"), "once@example.com").await, 1);
}

#[tokio::test]
async fn a_confirmation_whose_commit_went_unanswered_is_recorded_once() {
    let proxy = PgProxy::start().await;
    let app = spawn_through(&proxy, true).await;
    let db = direct(&app).await;
    let (link, _) = app.confirmation_link_for("click@example.com", "").await;

    // BEGIN, the confirming statements, COMMIT: the server commits; the client hears nothing.
    proxy.cut_after_commit(|sql| sql.contains("SET status = 'confirmed'"));
    let response = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(response.status(), 200, "run again, the click finds the address confirmed");
    assert_eq!(proxy.cuts(), 1);

    let records = "SELECT count(*) FROM consent_events c JOIN subscribers s ON s.id = c.subscriber_id
                   WHERE s.email = $1 AND c.action = 'confirm'";
    assert_eq!(count(&db, records, "click@example.com").await, 1, "one consent record");
    let welcomes = "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                    WHERE s.email = $1 AND d.kind = 'welcome'";
    assert_eq!(count(&db, welcomes, "click@example.com").await, 1, "one welcome mail");
}

#[tokio::test]
async fn a_signup_costs_one_round_trip_on_a_healthy_connection() {
    // No worker: its claims and renewals would share the proxy's count.
    let proxy = PgProxy::start().await;
    let app = spawn_through(&proxy, false).await;
    // The first signups prepare the statement and read the lists.
    for i in 0..2 {
        let warm = app.post_json("/subscriptions", &json!({ "email": format!("warm{i}@example.com") })).await;
        assert_eq!(warm.status(), 202);
    }
    let before = proxy.round_trips();
    let signups = 20;
    for i in 0..signups {
        let response = app.post_json("/subscriptions", &json!({ "email": format!("one{i}@example.com") })).await;
        assert_eq!(response.status(), 202);
    }
    let spent = proxy.round_trips() - before;
    // One each (the statement), and at most one reading of the lists when their copy ages out:
    // no check of the connection before use.
    assert!(spent <= signups + 1, "{spent} round trips for {signups} signups");
}

#[tokio::test]
async fn the_signup_statement_run_again_with_the_same_ids_repeats_nothing() {
    use broadsheet::domain::SubscriberEmail;
    use broadsheet::store::signups::{Request, signup_many};
    use broadsheet::store::subscribers::Origin;
    use sqlx::Connection as _;

    let app = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let mut conn = sqlx::PgConnection::connect(&app.database_url()).await.unwrap();
    let lists = [broadsheet::store::lists::default_choice(&mut conn).await.unwrap()];
    let (email, origin) = (SubscriberEmail::parse("again@example.com").unwrap(), Origin::default());
    let (id, worker) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let request = || Request::new(&email, None, &lists, &origin).with_id(id).leased_to(Some((worker, 60.0)));

    // The first run commits; its answer is lost. The second, with the same ids, finds its work done.
    let first = signup_many(&mut conn, &[request()], 3).await.unwrap().done;
    let again = signup_many(&mut conn, &[request()], 3).await.unwrap().done;
    assert!(first[0].delivery.is_some());
    assert_eq!(again[0].delivery, first[0].delivery, "the mail of the first run, for the worker it is leased to");
    assert_eq!(again[0].subscriber_id, first[0].subscriber_id);

    let db = direct(&app).await;
    assert_eq!(count(&db, CONSENTS, "again@example.com").await, 1);
    assert_eq!(count(&db, CONFIRMATIONS, "again@example.com").await, 1);
    let counted = "SELECT cardinality(confirmation_mails_at)::int8 FROM subscribers WHERE email = $1";
    assert_eq!(count(&db, counted, "again@example.com").await, 1, "the daily cap counts the mail once");

    // A new signup for the address (another request) is a signup of its own, recorded as such.
    let other = Request::new(&email, None, &lists, &origin);
    let later = signup_many(&mut conn, &[other], 3).await.unwrap().done;
    assert_eq!(later[0].delivery, None, "a mail is already waiting");
    assert_eq!(count(&db, CONSENTS, "again@example.com").await, 2);
}
