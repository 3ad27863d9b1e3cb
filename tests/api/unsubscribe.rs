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

async fn member(app: &TestApp, email: &str, list: &str) {
    sqlx::query(
        "INSERT INTO memberships (list_id, subscriber_id, status)
         SELECT l.id, s.id, 'confirmed' FROM lists l, subscribers s WHERE l.slug = $2 AND s.email = $1",
    )
    .bind(email)
    .bind(list)
    .execute(&app.db)
    .await
    .unwrap();
}

/// Sends a digest to `list` and returns the mail it brought `email`.
async fn digest_to(
    app: &TestApp,
    list: &str,
    subject: &str,
    email: &str,
) -> Option<crate::support::smtp_sink::ReceivedMail> {
    app.add_article(subject, "Some words.", None).await;
    let sent = app
        .admin_post("/admin/digests")
        .json(&serde_json::json!({ "list": list, "subject": subject }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    app.wait_until_queue_settled(std::time::Duration::from_secs(20)).await;
    app.sink().received().into_iter().find(|m| m.rcpt_to == [email] && m.header("Subject").as_deref() == Some(subject))
}

#[tokio::test]
async fn a_digests_one_click_unsubscribe_leaves_only_its_list() {
    let app = TestApp::spawn().await;
    crate::signup::make_list(&app, "weekly", "Weekly digest", true, true).await;
    app.add_confirmed(&["two@example.com"]).await;
    member(&app, "two@example.com", "weekly").await;

    let mail = digest_to(&app, "weekly", "Weekly one", "two@example.com").await.expect("the weekly digest arrived");
    let header = mail.header("List-Unsubscribe").unwrap();
    let url = header.trim_start_matches('<').split('>').next().unwrap().to_owned();
    assert!(url.ends_with("&list=weekly"), "{url}");
    assert!(mail.header("List-Id").unwrap().contains("<weekly."), "{:?}", mail.header("List-Id"));
    // RFC 8058: the body and the URL, no cookies, no other field.
    let response = app
        .post_raw(&app.local(&url), "application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click".to_vec())
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("You won't get Weekly digest any more"));
    assert_eq!(app.status_of("two@example.com").await.as_deref(), Some("confirmed"), "the address stays");
    assert_eq!(
        crate::signup::standings(&app, "two@example.com").await,
        vec![("default".to_owned(), "confirmed".to_owned()), ("weekly".to_owned(), "unsubscribed".to_owned())]
    );
    let leave: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action::text, list_slug FROM consent_events WHERE action IN ('leave', 'unsubscribe')")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(leave, vec![("leave".to_owned(), Some("weekly".to_owned()))]);

    // The next digest to another list still reaches them; the next weekly does not.
    assert!(digest_to(&app, "default", "Default two", "two@example.com").await.is_some());
    assert!(digest_to(&app, "weekly", "Weekly three", "two@example.com").await.is_none());
}

#[tokio::test]
async fn a_digests_unsubscribe_page_also_offers_to_leave_everything() {
    let app = TestApp::spawn().await;
    crate::signup::make_list(&app, "weekly", "Weekly digest", true, true).await;
    app.add_confirmed(&["all@example.com"]).await;
    member(&app, "all@example.com", "weekly").await;
    let mail = digest_to(&app, "weekly", "Weekly one", "all@example.com").await.unwrap();
    let visible = mail.link_to("https://news.example.test/unsubscribe");
    assert!(visible.contains("&list=weekly"));

    let page = app.get(&app.local(&visible)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Unsubscribe from Weekly digest") && html.contains("Unsubscribe from everything"), "{html}");
    assert_eq!(crate::signup::standings(&app, "all@example.com").await.len(), 2, "GET changes nothing");

    // The "everything" button: the token alone.
    let pressed = app.post_form("/unsubscribe", &[("token", &token_of(&visible))]).await;
    assert_eq!(pressed.status(), 200);
    assert_eq!(app.status_of("all@example.com").await.as_deref(), Some("unsubscribed"));

    // A list that does not exist is a damaged link: nothing happens.
    app.add_confirmed(&["other@example.com"]).await;
    let unknown = app.get(&format!("/unsubscribe?token={}&list=nope", token_of(&visible))).await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn the_confirmation_mails_this_wasnt_me_link_leaves_everything() {
    let app = TestApp::spawn().await;
    let (_, mail) = app.confirmation_link_for("notme@example.com", "").await;
    let link = mail.link_to("https://news.example.test/unsubscribe");
    assert!(!link.contains("list="), "{link}");
    assert_eq!(app.post_form("/unsubscribe", &[("token", &token_of(&link))]).await.status(), 200);
    assert_eq!(app.status_of("notme@example.com").await.as_deref(), Some("unsubscribed"));
}
