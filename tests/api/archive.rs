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
        "WITH s AS (INSERT INTO subscribers (id, email, name, status, confirmed_at) VALUES (gen_random_uuid(), 'zed.private@example.com', 'Zedekiah Quill', 'confirmed', now()) RETURNING id)
         INSERT INTO memberships (list_id, subscriber_id, status) SELECT l.id, s.id, 'confirmed' FROM s, lists l WHERE l.slug = 'default'",
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

/// `broadsheet_archive_feed_renders_total` from `/metrics`.
async fn feed_renders(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("broadsheet_archive_feed_renders_total "))
        .unwrap_or_else(|| panic!("no broadsheet_archive_feed_renders_total in /metrics:\n{metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn entry_titles(feed: &[u8]) -> Vec<String> {
    let parsed = feed_rs::parser::parse(feed).unwrap();
    parsed.entries.iter().filter_map(|e| e.title.as_ref().map(|t| t.content.clone())).collect()
}

#[tokio::test]
async fn the_feed_is_rendered_once_per_new_digest_and_revalidates_cheaply() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("Opening", "The first story.", None).await;
    send_digest(&app, "Issue one").await;

    let first = app.get("/archive/feed.atom").await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(first.headers().contains_key("last-modified"));
    let first = first.bytes().await.unwrap();
    assert_eq!(entry_titles(&first), ["Issue one"]);
    assert_eq!(feed_renders(&app).await, 1);

    // Asked again (and again, at once): the same document, not rendered again.
    let again = four_at_once(&app).await;
    for body in &again {
        assert_eq!(body, &first);
    }
    assert_eq!(feed_renders(&app).await, 1, "served from the cache");
    let unchanged = app.client.get(format!("{}/archive/feed.atom", app.address)).header("if-none-match", &etag);
    let unchanged = unchanged.send().await.unwrap();
    assert_eq!(unchanged.status(), 304, "a reader with the current ETag gets 304");
    assert!(unchanged.bytes().await.unwrap().is_empty());

    // A new digest changes the archive: rendered once more, and in the feed.
    app.add_article("Follow-up", "The second story.", None).await;
    send_digest(&app, "Issue two").await;
    let second = app.get("/archive/feed.atom").await;
    assert_ne!(second.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(entry_titles(&second.bytes().await.unwrap()), ["Issue two", "Issue one"]);
    assert_eq!(feed_renders(&app).await, 2);
    let stale = app.client.get(format!("{}/archive/feed.atom", app.address)).header("if-none-match", &etag);
    assert_eq!(stale.send().await.unwrap().status(), 200, "an old ETag gets the new feed");
    assert_eq!(feed_renders(&app).await, 2);
}

/// Four requests for the feed at once, their bodies.
async fn four_at_once(app: &TestApp) -> Vec<bytes::Bytes> {
    let get = || async { app.get("/archive/feed.atom").await.bytes().await.unwrap() };
    let (a, b, c, d) = tokio::join!(get(), get(), get(), get());
    vec![a, b, c, d]
}

#[tokio::test]
async fn a_digest_with_a_huge_article_makes_a_feed_under_the_byte_cap_that_links_to_its_pages() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["reader@example.com"]).await;
    // Close to the article limit (512 KiB), with markup that grows when escaped for XML.
    let paragraph = "Some **bold** text & <angle> brackets, \"quoted\" and 'single', over and over again.\n\n";
    let huge = paragraph.repeat(480 * 1024 / paragraph.len());
    app.add_article("Short and sweet", "A small story first.", None).await;
    app.add_article("The long read", &huge, Some("https://example.org/long")).await;
    app.add_article("After the long read", "Never reached in the feed.", None).await;
    let big = send_digest(&app, "The big issue").await;
    app.add_article("Small again", "A normal story.", None).await;
    let small = send_digest(&app, "The small issue").await;

    let feed = app.get("/archive/feed.atom").await;
    assert_eq!(feed.status(), 200);
    let body = feed.bytes().await.unwrap();
    assert!(body.len() < 128 * 1024, "the feed is {} bytes", body.len());
    let parsed = feed_rs::parser::parse(&body[..]).unwrap();
    assert_eq!(parsed.entries.len(), 2);
    for (entry, id) in parsed.entries.iter().zip([&small, &big]) {
        assert!(entry.links.iter().any(|l| l.href == format!("https://news.example.test/archive/{id}")), "{id}");
        let content = entry.content.as_ref().and_then(|c| c.body.clone()).unwrap();
        assert!(content.len() <= 64 * 1024, "{id}: {} bytes of content", content.len());
    }
    let big_content = parsed.entries[1].content.as_ref().and_then(|c| c.body.clone()).unwrap();
    assert!(big_content.contains("A small story first."), "what fits is there: {big_content}");
    assert!(big_content.contains("The long read"), "the article that does not fit is named");
    assert!(
        big_content.contains(&format!(r#"href="https://news.example.test/archive/{big}""#)),
        "and linked to the issue's page: {big_content}"
    );
    assert!(big_content.contains("Some bold text"), "the start of its text is: {big_content}");
    assert!(big_content.matches("over and over again").count() < 10, "not the whole of it");
    assert!(!big_content.contains("Never reached"));
    // The page itself still has everything.
    let page = app.get(&format!("/archive/{big}")).await.text().await.unwrap();
    assert!(page.contains("over and over again") && page.contains("Never reached"));
}
