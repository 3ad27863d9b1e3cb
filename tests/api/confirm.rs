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
async fn an_expired_token_is_refused() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("late@example.com", "").await;
    sqlx::query("UPDATE subscription_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.status_of("late@example.com").await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256_hashes() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("hashed@example.com", "").await;
    let token = token_of(&link);
    assert!(token.len() >= 43, "at least 256 bits, base64url");
    let hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT hash FROM subscription_tokens").fetch_all(&app.db).await.unwrap();
    assert_eq!(hashes.len(), 2, "one confirmation and one unsubscribe token");
    use sha2::Digest;
    let expected = sha2::Sha256::digest(token.as_bytes()).to_vec();
    assert!(hashes.contains(&expected));
    let dump: String = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM subscription_tokens t")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!dump.contains(&token));
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
