use std::time::Duration;

use crate::support::{TestApp, token_of};

#[tokio::test]
async fn a_link_scanner_opening_the_link_confirms_nothing() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("scanned@example.com", "").await;
    for _ in 0..3 {
        let page = app.get(&link).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"method="post""#), "{html}");
        assert!(html.contains(&token_of(&link)));
    }
    assert_eq!(app.status_of("scanned@example.com").await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn confirming_twice_is_harmless() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("twice@example.com", "").await;
    let token = token_of(&link);
    let first = app.post_form("/subscriptions/confirm", &[("token", &token)]).await;
    assert_eq!(first.status(), 200);
    let second = app.post_form("/subscriptions/confirm", &[("token", &token)]).await;
    assert_eq!(second.status(), 200);
    assert!(second.text().await.unwrap().to_lowercase().contains("already"));
    assert_eq!(app.status_of("twice@example.com").await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn unknown_tampered_and_malformed_tokens_get_a_page_offering_a_new_link() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("tamper@example.com", "").await;
    let token = token_of(&link);
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let unknown = "A".repeat(43);
    for bad in [tampered.as_str(), unknown.as_str(), "short", "", "../../etc/passwd", "%00", &"x".repeat(5000)] {
        let response = app.post_form("/subscriptions/confirm", &[("token", bad)]).await;
        assert_eq!(response.status(), 400, "token {bad:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"action="/subscriptions""#), "offers a new link: {html}");
    }
    assert_eq!(app.get("/subscriptions/confirm?token=short").await.status(), 400);
    assert_eq!(app.get("/subscriptions/confirm").await.status(), 400);
    assert_eq!(app.status_of("tamper@example.com").await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn a_link_that_has_run_out_is_refused() {
    // Links live `subscriptions.token_ttl_hours`: here about a second.
    let app = TestApp::spawn_with(crate::support::Options {
        extra: vec![("BROADSHEET__SUBSCRIPTIONS__TOKEN_TTL_HOURS".into(), "0.0003".into())],
        ..Default::default()
    })
    .await;
    let (link, _) = app.confirmation_link_for("late@example.com", "").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.status_of("late@example.com").await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn tokens_are_signed_and_never_stored() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("signed@example.com", "").await;
    let token = token_of(&link);
    assert!(token.len() >= 60, "payload and a 256-bit tag, base64url");
    assert!(app.token_keys().check(&token).is_some(), "signed with the app's key");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM subscription_tokens").fetch_one(&app.db).await.unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_used_token_of_a_resent_mail_cannot_confirm_after_unsubscribing() {
    let app = TestApp::spawn().await;
    let (link, mail) = app.confirmation_link_for("wasntme@example.com", "").await;
    // "This wasn't me": the owner of the inbox follows the unsubscribe link in the confirmation mail.
    let unsubscribe = app.local(&mail.link_to("https://news.example.test/unsubscribe"));
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200);
    let response = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.status_of("wasntme@example.com").await.as_deref(), Some("unsubscribed"));
    app.wait_until_queue_settled(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn pages_that_carry_a_token_are_never_cached_nor_leak_it_as_a_referrer() {
    let app = TestApp::spawn().await;
    let (link, mail) = app.confirmation_link_for("private@example.com", "").await;
    let token = token_of(&link);
    let unsubscribe = app.local(&mail.link_to("https://news.example.test/unsubscribe"));
    let unsubscribe_token = token_of(&unsubscribe);
    let responses = [
        ("GET confirm", app.get(&link).await),
        ("POST confirm", app.post_form("/subscriptions/confirm", &[("token", &token)]).await),
        ("POST confirm, used token", app.post_form("/subscriptions/confirm", &[("token", &"A".repeat(43))]).await),
        ("GET unsubscribe", app.get(&unsubscribe).await),
        ("POST unsubscribe", app.post_form("/unsubscribe", &[("token", &unsubscribe_token)]).await),
    ];
    for (what, response) in responses {
        assert!(response.status().as_u16() < 500, "{what}");
        assert_eq!(response.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{what}");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer", "{what}");
    }
}

/// The page a link opens checks the token before showing a button (reading only: link scanners
/// open links): a random string, a token of another purpose or one forged gets "this link doesn't
/// work" (400), an expired one "this link has expired" (410), each with a form for a new link.
#[tokio::test]
async fn the_confirm_page_shows_its_button_only_for_a_token_that_verifies() {
    use broadsheet::domain::Claims;
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("checked@example.com", "").await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM subscribers").fetch_one(&app.db).await.unwrap();
    let keys = app.token_keys();
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    let other_key =
        broadsheet::domain::TokenKeys::new(&[secrecy::SecretString::from(crate::support::random_token_key())])
            .unwrap()
            .sign(&Claims::confirm(id, 0, later));
    let cases = [
        ("random, of the old tokens' shape", "A".repeat(43), 400),
        ("random", "not-a-token-at-all".to_owned(), 400),
        ("an unsubscribe token", keys.sign(&Claims::unsubscribe(id, later)).expose().to_owned(), 400),
        ("signed by another key", other_key.expose().to_owned(), 400),
        ("expired", keys.sign(&Claims::confirm(id, 0, past)).expose().to_owned(), 410),
    ];
    for (what, token, status) in cases {
        let response = app.get(&format!("/subscriptions/confirm?token={token}")).await;
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
        let html = response.text().await.unwrap();
        assert!(!html.contains(r#"action="/subscriptions/confirm""#), "{what}: no confirm button: {html}");
        assert!(html.contains(r#"action="/subscriptions""#), "{what}: offers a new link");
        assert_eq!(html.contains("This link has expired"), status == 410, "{what}: says why: {html}");
    }
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"action="/subscriptions/confirm""#));
    assert_eq!(app.status_of("checked@example.com").await.as_deref(), Some("pending"), "a GET changes nothing");
}
