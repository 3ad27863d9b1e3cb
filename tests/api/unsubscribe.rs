use crate::support::{TestApp, token_of};

#[tokio::test]
async fn one_click_unsubscribe_from_the_list_unsubscribe_header() {
    let app = TestApp::spawn().await;
    let (link, mail) = app.confirmation_link_for("leaving@example.com", "").await;
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;

    assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let header = mail.header("List-Unsubscribe").unwrap();
    let url = header.trim_start_matches('<').trim_end_matches('>');
    // RFC 8058: the mail client POSTs this body to that URL, with no cookies and nothing else.
    let response = app
        .post_raw(&app.local(url), "application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click".to_vec())
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.status_of("leaving@example.com").await.as_deref(), Some("unsubscribed"));

    // Idempotent: a second POST (clients retry) is fine too.
    let again = app
        .post_raw(&app.local(url), "application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click".to_vec())
        .await;
    assert_eq!(again.status(), 200);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM consent_events WHERE action = 'unsubscribe'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

#[tokio::test]
async fn the_unsubscribe_page_asks_before_it_acts() {
    let app = TestApp::spawn().await;
    let (link, mail) = app.confirmation_link_for("careful@example.com", "").await;
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    let visible = mail.links().into_iter().find(|l| l.contains("/unsubscribe?token=")).unwrap();
    assert!(mail.html_body().contains("/unsubscribe?token="), "a visible unsubscribe link in the HTML part");

    let page = app.get(&app.local(&visible)).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"name="token""#));
    assert_eq!(app.status_of("careful@example.com").await.as_deref(), Some("confirmed"));

    let pressed = app.post_form("/unsubscribe", &[("token", &token_of(&visible))]).await;
    assert_eq!(pressed.status(), 200);
    assert_eq!(app.status_of("careful@example.com").await.as_deref(), Some("unsubscribed"));
}

#[tokio::test]
async fn a_bad_unsubscribe_token_gets_a_clear_page() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/unsubscribe?token=nope").await.status(), 400);
    assert_eq!(app.post_form("/unsubscribe", &[("token", &"A".repeat(43))]).await.status(), 400);
    assert_eq!(app.post_form("/unsubscribe", &[]).await.status(), 400);
}
