//! Lifecycle mails: a welcome once a subscriber confirms, and one reminder to those who have not,
//! with a fresh link; never two, never to those who confirmed, left or were erased since, and
//! counted in the daily cap. The reminder pass runs on a clock the test sets.

use std::time::Duration;

use broadsheet::worker::{Clock, Worker};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::support::{Options, TestApp, token_of};

#[tokio::test]
async fn confirming_queues_a_welcome_mail_with_an_unsubscribe_link() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("new@example.com", "Ada").await;
    let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(confirmed.status(), 200);
    let mails = app.sink().wait_for(2, Duration::from_secs(10)).await;
    let welcome = &mails[1];
    assert_eq!(welcome.header("Subject").as_deref(), Some("Welcome to Broadsheet"));
    assert!(welcome.text_body().contains("Hi Ada,"), "{}", welcome.text_body());
    assert!(welcome.link_to("/unsubscribe").contains("token="));
    assert!(welcome.header("List-Unsubscribe").is_some());
    // Confirming again welcomes nobody twice.
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.sink().count_for("new@example.com"), 2);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind::text FROM deliveries ORDER BY id").fetch_all(&app.db).await.unwrap();
    assert_eq!(kinds, ["confirmation", "welcome"]);
}

#[tokio::test]
async fn no_welcome_mail_when_it_is_turned_off() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__SUBSCRIPTIONS__WELCOME".into(), "false".into())],
        ..Default::default()
    })
    .await;
    let (link, _) = app.confirmation_link_for("quiet@example.com", "").await;
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(app.sink().count_for("quiet@example.com"), 1);
}

#[tokio::test]
async fn one_reminder_to_those_still_pending_with_a_fresh_link_and_never_a_second() {
    let app = TestApp::spawn_with(Options {
        with_worker: false,
        extra: vec![("BROADSHEET__SUBSCRIPTIONS__WELCOME".into(), "false".into())],
        ..Default::default()
    })
    .await;
    let clock = Clock::manual(Utc::now());
    let worker = Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap().with_clock(clock.clone());
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));

    let (_, _) = app.confirmation_link_for("forgetful@example.com", "Fay").await;
    let (confirm_link, _) = app.confirmation_link_for("prompt@example.com", "").await;
    let (_, left) = app.confirmation_link_for("left@example.com", "").await;
    let (_, _) = app.confirmation_link_for("erased@example.com", "").await;
    let (_, _) = app.confirmation_link_for("capped@example.com", "").await;
    // This address had its daily cap (3) of confirmation mails in the day before the reminder
    // would go: no room for it.
    sqlx::query(
        "UPDATE subscribers SET confirmation_mails_at = ARRAY[now() + interval '24 hours', now() + interval '24 hours', now() + interval '24 hours']
         WHERE email = 'capped@example.com'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&confirm_link))]).await;
    let unsubscribe = left.link_to("/unsubscribe");
    app.post_form("/unsubscribe", &[("token", &token_of(&unsubscribe))]).await;
    sqlx::query("DELETE FROM subscribers WHERE email = 'erased@example.com'").execute(&app.db).await.unwrap();
    let before = app.sink().received().len();

    // A day and an hour later (the links live 48 hours).
    clock.set(Utc::now() + chrono::Duration::hours(25));
    let mails = app.sink().wait_for(before + 1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(app.sink().received().len(), before + 1, "one reminder in all");
    let reminder = mails.last().unwrap();
    assert_eq!(reminder.rcpt_to, ["forgetful@example.com"]);
    assert!(reminder.header("Subject").unwrap().starts_with("Reminder"));
    assert!(reminder.text_body().contains("Hi Fay,"));

    // Never a second, however long they wait.
    clock.set(Utc::now() + chrono::Duration::hours(40));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(app.sink().count_for("forgetful@example.com"), 2);

    // Its link is fresh and confirms.
    let fresh = app.local(&reminder.link_to("https://news.example.test/subscriptions/confirm"));
    let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token_of(&fresh))]).await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.status_of("forgetful@example.com").await.as_deref(), Some("confirmed"));
    stop.cancel();
    let _ = running.await;
}
