//! The public archive: sent digests newest first, each as a page with nothing of any recipient
//! in it, an Atom feed a real parser reads, and a "view in browser" link in every digest mail.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Options, TestApp};

async fn send_digest(app: &TestApp, subject: &str) -> String {
    let created: Value = app
        .admin_post("/admin/digests")
        .json(&json!({ "subject": subject }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sent_digests_are_in_the_archive_without_anything_of_their_recipients() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "INSERT INTO subscribers (id, email, name, status, confirmed_at) VALUES (gen_random_uuid(), 'zed.private@example.com', 'Zedekiah Quill', 'confirmed', now())",
    )
    .execute(&app.db)
    .await
    .unwrap();
    app.add_article("First & finest", "The **first** issue.", Some("https://example.org/first")).await;
    let first = send_digest(&app, "Issue one").await;
    app.add_article("Second story", "More news.", None).await;
    let second = send_digest(&app, "Issue two").await;
    let mails = app.sink().wait_for(2, Duration::from_secs(10)).await;

    // Every digest mail links to its page.
    let mail = mails.iter().find(|m| m.header("Subject").as_deref() == Some("Issue one")).unwrap();
    let view = mail.link_to("https://news.example.test/archive/");
    assert_eq!(view, format!("https://news.example.test/archive/{first}"));
    assert!(mail.html_body().contains(&format!("/archive/{first}")), "view in browser in the HTML part too");
    let unsubscribe_token = crate::support::token_of(&mail.link_to("/unsubscribe"));

    let page = app.get(&app.local(&view)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Issue one") && html.contains("First &amp; finest") && html.contains("<strong>first</strong>")
    );
    for private in ["Zedekiah", "Quill", "zed.private", "example.com", unsubscribe_token.as_str(), "token="] {
        assert!(!html.contains(private), "{private:?} appears on the archive page");
    }
    assert!(
        html.contains(r#"<html lang="en">"#) && html.contains(r#"<label for="email">"#),
        "accessible, with the signup form"
    );
    assert!(html.contains(r#"action="/subscriptions""#));

    let list = app.get("/archive").await.text().await.unwrap();
    let (one, two) =
        (list.find(&format!("/archive/{first}")).unwrap(), list.find(&format!("/archive/{second}")).unwrap());
    assert!(two < one, "newest first");
    assert!(!list.contains("Zedekiah") && !list.contains("zed.private"));
    assert_eq!(app.get("/archive?page=2").await.status(), 200);
    assert_eq!(app.get("/archive?page=zero").await.status(), 400);
    assert_eq!(app.get("/archive/not-a-digest").await.status(), 404);
    assert_eq!(app.get("/archive/00000000-0000-0000-0000-000000000000").await.status(), 404);

    let feed = app.get("/archive/feed.atom").await;
    assert_eq!(feed.headers()["content-type"], "application/atom+xml; charset=utf-8");
    let body = feed.bytes().await.unwrap();
    let parsed = feed_rs::parser::parse(&body[..]).unwrap();
    assert_eq!(parsed.feed_type, feed_rs::model::FeedType::Atom);
    let titles: Vec<String> =
        parsed.entries.iter().filter_map(|e| e.title.as_ref().map(|t| t.content.clone())).collect();
    assert_eq!(titles, ["Issue two", "Issue one"]);
    assert!(parsed.entries[1].links.iter().any(|l| l.href.ends_with(&format!("/archive/{first}"))));
    let content = parsed.entries[1].content.as_ref().and_then(|c| c.body.clone()).unwrap();
    assert!(content.contains("First &amp; finest") || content.contains("First & finest"), "{content}");
    assert!(!String::from_utf8_lossy(&body).contains("zed.private"));
}

#[tokio::test]
async fn scheduled_and_cancelled_digests_are_not_in_the_archive() {
    let app = TestApp::spawn().await;
    app.add_article("Later", "Body.", None).await;
    let created: Value = app
        .admin_post("/admin/digests")
        .json(&json!({ "send_at": "2030-01-01T00:00:00Z" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/archive/{id}")).await.status(), 404);
    assert!(!app.get("/archive").await.text().await.unwrap().contains(id));
}

#[tokio::test]
async fn the_archive_can_be_turned_off() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__HTTP__ARCHIVE".into(), "false".into())],
        ..Default::default()
    })
    .await;
    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("Private", "Body.", None).await;
    let id = send_digest(&app, "Members only").await;
    let mails = app.sink().wait_for(1, Duration::from_secs(10)).await;
    assert!(!mails[0].text_body().contains("/archive/"), "no view-in-browser link");
    for path in ["/archive".to_owned(), format!("/archive/{id}"), "/archive/feed.atom".to_owned()] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
}
