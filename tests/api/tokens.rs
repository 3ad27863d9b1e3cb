//! Links in mail are signed (HMAC-SHA256 under `tokens.keys`) and need no row: what they can
//! do, for how long, after which events they are spent, and that the links mailed before them
//! (stored as SHA-256 hashes) still work.

use std::time::Duration;

use broadsheet::domain::{Claims, TokenKeys};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::json;
use sha2::Digest as _;
use uuid::Uuid;

use crate::support::{Options, TestApp, random_token_key, token_of};

async fn token_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM subscription_tokens").fetch_one(&app.db).await.unwrap()
}

async fn id_of(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM subscribers WHERE email = $1").bind(email).fetch_one(&app.db).await.unwrap()
}

fn keys(secrets: &[&str]) -> TokenKeys {
    TokenKeys::new(&secrets.iter().map(|s| SecretString::from((*s).to_owned())).collect::<Vec<_>>()).unwrap()
}

#[tokio::test]
async fn a_signup_and_a_digest_write_no_token_rows_and_their_links_hold_no_database_secret() {
    let app = TestApp::spawn().await;
    let (link, mail) = app.confirmation_link_for("rowless@example.com", "").await;
    let unsubscribe = token_of(&mail.link_to("/unsubscribe"));
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await.status(), 200);
    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("News", "Body.", None).await;
    let response = app.admin_post("/admin/digests").json(&json!({ "subject": "Rows" })).send().await.unwrap();
    assert_eq!(response.status(), 202);
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    let digest = app.sink().received().into_iter().rev().find(|m| m.header("Subject").as_deref() == Some("Rows"));
    let digest_token = token_of(&digest.expect("a digest went out").link_to("/unsubscribe"));
    assert_eq!(token_rows(&app).await, 0, "no row per link");

    // Nothing in the database is a link, or lets one make a link: a dump holds none of them.
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(x, ' ') FROM (
             SELECT s::text AS x FROM subscribers s UNION ALL SELECT d::text FROM deliveries d
             UNION ALL SELECT c::text FROM consent_events c) t",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    for token in [token_of(&link), unsubscribe, digest_token] {
        assert!(token.len() >= 60, "a signed token: {token}");
        assert!(!dump.contains(&token));
    }
    assert!(!dump.contains(&app.token_keys_env()));
}

#[tokio::test]
async fn a_confirmation_link_is_spent_once_used_even_after_leaving_and_signing_up_again() {
    let app = TestApp::spawn().await;
    let (first, mail) = app.confirmation_link_for("again@example.com", "").await;
    let first = token_of(&first);
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &first)]).await.status(), 200);
    // Leave, then sign up again: a new confirmation mail.
    let unsubscribe = app.local(&mail.link_to("https://news.example.test/unsubscribe"));
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200);
    // Until the first mail's outcome is written it counts as waiting, and a signup queues no
    // second one (by design): let the queue settle first.
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let (second, _) = app.confirmation_link_for("again@example.com", "").await;
    let second = token_of(&second);
    assert_ne!(first, second);
    assert_eq!(app.status_of("again@example.com").await.as_deref(), Some("pending"));

    // The first link was used: it cannot confirm the new signup.
    let reused = app.post_form("/subscriptions/confirm", &[("token", &first)]).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(app.status_of("again@example.com").await.as_deref(), Some("pending"));
    // The new one does, once; a second click is the harmless "already confirmed".
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &second)]).await.status(), 200);
    let again = app.post_form("/subscriptions/confirm", &[("token", &second)]).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().to_lowercase().contains("already"));
    assert_eq!(app.status_of("again@example.com").await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn simultaneous_clicks_confirm_once() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("racing@example.com", "").await;
    let token = token_of(&link);
    let fields = [("token", token.as_str())];
    let clicks = (0..8).map(|_| app.post_form("/subscriptions/confirm", &fields));
    let responses = futures_util::future::join_all(clicks).await;
    let mut already = 0;
    for response in responses {
        assert_eq!(response.status(), 200);
        already += usize::from(response.text().await.unwrap().to_lowercase().contains("already"));
    }
    assert_eq!(already, 7, "one click confirms, the others find it done");
    let confirms: i64 = sqlx::query_scalar("SELECT count(*) FROM consent_events WHERE action = 'confirm'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(confirms, 1);
    let welcomes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE kind = 'welcome'").fetch_one(&app.db).await.unwrap();
    assert_eq!(welcomes, 1);
}

#[tokio::test]
async fn an_expired_link_is_refused_and_a_confirmation_link_cannot_unsubscribe() {
    let app = TestApp::spawn().await;
    let (_, _) = app.confirmation_link_for("late@example.com", "").await;
    let id = id_of(&app, "late@example.com").await;
    let keys = app.token_keys();
    let past = Utc::now() - chrono::Duration::seconds(2);
    let expired = keys.sign(&Claims::confirm(id, 0, past));
    let response = app.post_form("/subscriptions/confirm", &[("token", expired.expose())]).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains(r#"action="/subscriptions""#), "offers a new link");
    let expired = keys.sign(&Claims::unsubscribe(id, past));
    assert_eq!(app.post_form("/unsubscribe", &[("token", expired.expose())]).await.status(), 400);
    assert_eq!(app.status_of("late@example.com").await.as_deref(), Some("pending"));

    // Each link does what it was made for and nothing else.
    let later = Utc::now() + chrono::Duration::hours(1);
    let confirm = keys.sign(&Claims::confirm(id, 0, later));
    assert_eq!(app.post_form("/unsubscribe", &[("token", confirm.expose())]).await.status(), 400);
    let unsubscribe = keys.sign(&Claims::unsubscribe(id, later));
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", unsubscribe.expose())]).await.status(), 400);
    assert_eq!(app.status_of("late@example.com").await.as_deref(), Some("pending"));
    // The same claims, unexpired, confirm: the refusals above were about expiry and purpose.
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", confirm.expose())]).await.status(), 200);
}

#[tokio::test]
async fn a_link_signed_by_a_rotated_out_key_still_works_while_the_key_is_listed_and_not_after() {
    let old_key = random_token_key();
    let mut old = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__TOKENS__KEYS".into(), old_key.clone())],
        ..Default::default()
    })
    .await;
    let (confirm, mail) = old.confirmation_link_for("rotate@example.com", "").await;
    let (confirm, unsubscribe) = (token_of(&confirm), token_of(&mail.link_to("/unsubscribe")));
    old.wait_until_queue_settled(Duration::from_secs(5)).await;
    old.begin_shutdown();
    assert!(old.wait_stopped(Duration::from_secs(15)).await);

    // Restarted with a new key first and the old one after it.
    let new_key = random_token_key();
    let mut rotated = TestApp::spawn_with(Options {
        db_name: Some(old.db_name.clone()),
        extra: vec![("BROADSHEET__TOKENS__KEYS".into(), format!("{new_key},{old_key}"))],
        ..Default::default()
    })
    .await;
    assert_eq!(rotated.get(&format!("/unsubscribe?token={unsubscribe}")).await.status(), 200);
    assert_eq!(rotated.post_form("/subscriptions/confirm", &[("token", &confirm)]).await.status(), 200);
    // New mail (the welcome) is signed with the new key.
    let welcome = rotated.sink().wait_for(1, Duration::from_secs(10)).await;
    let fresh = token_of(&welcome[0].link_to("/unsubscribe"));
    assert!(keys(&[&new_key]).check(&fresh).is_some());
    assert!(keys(&[&old_key]).check(&fresh).is_none());
    rotated.begin_shutdown();
    assert!(rotated.wait_stopped(Duration::from_secs(15)).await);

    // The old key retired: its links are refused like unknown ones; the new key's still work.
    let retired = TestApp::spawn_with(Options {
        db_name: Some(old.db_name.clone()),
        extra: vec![("BROADSHEET__TOKENS__KEYS".into(), new_key.clone())],
        ..Default::default()
    })
    .await;
    assert_eq!(retired.get(&format!("/unsubscribe?token={unsubscribe}")).await.status(), 400);
    assert_eq!(retired.post_form("/unsubscribe", &[("token", &unsubscribe)]).await.status(), 400);
    assert_eq!(retired.status_of("rotate@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(retired.post_form("/unsubscribe", &[("token", &fresh)]).await.status(), 200);
    assert_eq!(retired.status_of("rotate@example.com").await.as_deref(), Some("unsubscribed"));
}

#[tokio::test]
async fn links_mailed_before_signed_tokens_still_work_until_they_expire() {
    let app = TestApp::spawn().await;
    let (_, _) = app.confirmation_link_for("legacy@example.com", "").await;
    let id = id_of(&app, "legacy@example.com").await;
    // As the previous release minted them: 32 random bytes, base64url; only the SHA-256 stored.
    let old_token = || broadsheet::domain::Token::generate().unwrap().expose().to_owned();
    let (confirm, unsubscribe, expired, expired_confirm) = (old_token(), old_token(), old_token(), old_token());
    for (token, purpose, expires) in [
        (&confirm, "confirm", "1 day"),
        (&unsubscribe, "unsubscribe", "1 day"),
        (&expired, "unsubscribe", "-1 second"),
        (&expired_confirm, "confirm", "-1 second"),
    ] {
        sqlx::query(
            "INSERT INTO subscription_tokens (hash, subscriber_id, purpose, expires_at)
             VALUES ($1, $2, $3::token_purpose, now() + $4::interval)",
        )
        .bind(sha2::Sha256::digest(token.as_bytes()).to_vec())
        .bind(id)
        .bind(purpose)
        .bind(expires)
        .execute(&app.db)
        .await
        .unwrap();
    }
    assert_eq!(app.post_form("/unsubscribe", &[("token", &expired)]).await.status(), 400);
    assert_eq!(app.get(&format!("/subscriptions/confirm?token={confirm}")).await.status(), 200);
    assert_eq!(app.get(&format!("/subscriptions/confirm?token={expired_confirm}")).await.status(), 410);
    assert_eq!(
        app.get(&format!("/subscriptions/confirm?token={unsubscribe}")).await.status(),
        400,
        "not for confirming"
    );
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &confirm)]).await.status(), 200);
    assert_eq!(app.status_of("legacy@example.com").await.as_deref(), Some("confirmed"));
    let again = app.post_form("/subscriptions/confirm", &[("token", &confirm)]).await;
    assert!(again.text().await.unwrap().to_lowercase().contains("already"));
    for _ in 0..2 {
        assert_eq!(app.post_form("/unsubscribe", &[("token", &unsubscribe)]).await.status(), 200);
    }
    assert_eq!(app.status_of("legacy@example.com").await.as_deref(), Some("unsubscribed"));
    // Spent by the unsubscribe: it cannot confirm a new signup. The first confirmation must be
    // recorded as sent first: until then it counts as a mail already waiting, and the new signup
    // queues none (the unrecorded window lasts a write, a few ms, longer in a disk stall).
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    app.confirmation_link_for("legacy@example.com", "").await;
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &confirm)]).await.status(), 400);
}

#[tokio::test]
async fn an_unsubscribe_link_works_again_and_again_until_it_expires() {
    let app = TestApp::spawn().await;
    let (_, mail) = app.confirmation_link_for("leaver@example.com", "").await;
    let token = token_of(&mail.link_to("/unsubscribe"));
    for _ in 0..3 {
        let response = app.post_form("/unsubscribe", &[("token", &token)]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(app.get(&format!("/unsubscribe?token={token}")).await.status(), 200);
    }
    assert_eq!(app.status_of("leaver@example.com").await.as_deref(), Some("unsubscribed"));
}

#[tokio::test]
async fn after_erasure_the_persons_links_are_useless() {
    let app = TestApp::spawn().await;
    let (confirm, mail) = app.confirmation_link_for("forget-me@example.com", "").await;
    let (confirm, unsubscribe) = (token_of(&confirm), token_of(&mail.link_to("/unsubscribe")));
    app.wait_until_queue_settled(Duration::from_secs(5)).await;
    let erased = app.client.delete(format!("{}/admin/subscribers/forget-me@example.com", app.address));
    let erased = erased.bearer_auth(crate::support::ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(erased.status(), 204);
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &confirm)]).await.status(), 400);
    assert_eq!(app.post_form("/unsubscribe", &[("token", &unsubscribe)]).await.status(), 400);
    // Signing up again makes a new person: the old links still name no one.
    app.confirmation_link_for("forget-me@example.com", "").await;
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &confirm)]).await.status(), 400);
    assert_eq!(app.post_form("/unsubscribe", &[("token", &unsubscribe)]).await.status(), 400);
    assert_eq!(app.status_of("forget-me@example.com").await.as_deref(), Some("pending"));
}

fn decoded(token: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap()
}

/// Subscriber ids are UUIDv7 (the signup time to the millisecond, then a counter): the links in
/// the mails of two people who signed up one after the other show neither the time nor the order.
#[tokio::test]
async fn links_do_not_tell_when_their_reader_signed_up() {
    let app = TestApp::spawn().await;
    let (first, first_mail) = app.confirmation_link_for("first@example.com", "").await;
    let (second, second_mail) = app.confirmation_link_for("second@example.com", "").await;
    let (a, b) = (id_of(&app, "first@example.com").await, id_of(&app, "second@example.com").await);
    assert_eq!(a.get_version_num(), 7, "time-ordered ids");
    assert!(a < b);
    let links = [
        (a, token_of(&first), 79),
        (a, token_of(&first_mail.link_to("/unsubscribe")), 74),
        (b, token_of(&second), 79),
        (b, token_of(&second_mail.link_to("/unsubscribe")), 74),
    ];
    for (id, token, length) in &links {
        assert_eq!(token.len(), *length, "{token}");
        let bytes = decoded(token);
        assert!(!bytes.windows(6).any(|w| w == &id.as_bytes()[..6]), "the signup time shows in {token}");
        assert!(!bytes.windows(16).any(|w| w == id.as_bytes()), "the id shows in {token}");
    }
    // Still theirs: each link works for its own reader.
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &links[2].1)]).await.status(), 200);
    assert_eq!(app.status_of("second@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(app.status_of("first@example.com").await.as_deref(), Some("pending"));
}

/// Links mailed by the release before carried the subscriber id in clear (format 1): until they
/// expire they confirm and unsubscribe as before.
#[tokio::test]
async fn links_with_the_id_in_clear_from_the_release_before_still_work() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let app = TestApp::spawn().await;
    let (_, _) = app.confirmation_link_for("clear@example.com", "").await;
    let id = id_of(&app, "clear@example.com").await;
    // As that release signed them, under this app's key.
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(app.token_keys_env()).unwrap();
    let derived = |label: &[u8]| sha2::Sha256::new().chain_update(label).chain_update(&raw).finalize();
    let key_id = derived(b"broadsheet link token key id v1\0")[0];
    let sign = |purpose: u8, version: Option<i32>| {
        let expires = u32::try_from((Utc::now() + chrono::Duration::hours(1)).timestamp()).unwrap();
        let mut bytes = vec![1, key_id, purpose];
        bytes.extend_from_slice(id.as_bytes());
        bytes.extend_from_slice(&expires.to_be_bytes());
        if let Some(v) = version {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&derived(b"broadsheet link token mac v1\0")).unwrap();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let (confirm, unsubscribe) = (sign(1, Some(0)), sign(2, None));
    assert_eq!(app.get(&format!("/subscriptions/confirm?token={confirm}")).await.status(), 200);
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &confirm)]).await.status(), 200);
    assert_eq!(app.status_of("clear@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(app.post_form("/unsubscribe", &[("token", &unsubscribe)]).await.status(), 200);
    assert_eq!(app.status_of("clear@example.com").await.as_deref(), Some("unsubscribed"));
}
