use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp};

#[tokio::test]
async fn every_confirmed_subscriber_gets_the_digest_once_and_can_leave_with_one_click() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["a@example.com", "b@example.com", "c@example.com"]).await;
    sqlx::query("UPDATE subscribers SET name = 'Bea <b>' WHERE email = 'b@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    app.sign_up("pending@example.com", "").await;
    app.add_confirmed(&["gone@example.com"]).await;
    sqlx::query("UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'gone@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let confirmations = app.sink().received().len();

    app.add_article("First <news>", "Hello **world**.\n\n<script>alert(1)</script>", Some("https://example.com/first"))
        .await;
    app.add_article("Second", "A [link](https://example.com/x) and more.", None).await;

    let response = app.admin_post("/admin/digests").json(&json!({ "subject": "This week" })).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["recipients"], 3);
    let id = body["id"].as_str().unwrap().to_owned();

    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    let status: Value = app.admin_get(&format!("/admin/digests/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["recipients"], 3);
    assert_eq!(status["sent"], 3);
    assert_eq!(status["pending"], 0);
    assert_eq!(status["failed"], 0);
    assert_eq!(status["status"], "done");

    let digests: Vec<_> = app.sink().received().into_iter().skip(confirmations).collect();
    assert_eq!(digests.len(), 3);
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        assert_eq!(digests.iter().filter(|m| m.rcpt_to == vec![email.to_owned()]).count(), 1, "{email}");
    }
    assert_eq!(app.sink().count_for("pending@example.com"), 1, "only its confirmation mail");
    assert_eq!(app.sink().count_for("gone@example.com"), 0);

    let bea = digests.iter().find(|m| m.rcpt_to == vec!["b@example.com".to_owned()]).unwrap();
    assert_eq!(bea.header("Subject").as_deref(), Some("This week"));
    assert!(bea.header("Message-ID").unwrap().starts_with('<'));
    assert!(bea.header("List-Id").unwrap().contains("news.example.test"));
    assert_eq!(bea.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let html = bea.html_body();
    let text = bea.text_body();
    assert!(html.contains("Bea &lt;b&gt;"), "name escaped in HTML");
    assert!(text.contains("Bea <b>"));
    assert!(html.contains(r#"href="https://example.com/first""#), "title linked");
    assert!(html.contains("First &lt;news&gt;"));
    assert!(html.contains("<strong>world</strong>"));
    assert!(!html.contains("<script>"), "article HTML sanitised");
    assert!(text.contains("Hello world."));
    assert!(text.contains("A link (https://example.com/x) and more."));
    assert!(html.contains("/unsubscribe?token=") && text.contains("/unsubscribe?token="), "visible unsubscribe link");

    // One click from the header leaves the digest's list (here the only one she is on); the
    // next digest to it skips her.
    let header = bea.header("List-Unsubscribe").unwrap();
    let url = app.local(header.trim_start_matches('<').trim_end_matches('>'));
    assert!(url.ends_with("&list=default"), "{url}");
    let response =
        app.post_raw(&url, "application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click".to_vec()).await;
    assert_eq!(response.status(), 200);
    let standing: String = sqlx::query_scalar(
        "SELECT m.status::text FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
         WHERE s.email = 'b@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(standing, "unsubscribed");

    app.add_article("Third", "More.", None).await;
    let next: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(next["recipients"], 2);
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    assert_eq!(app.sink().count_for("b@example.com"), 1);
    assert_eq!(app.sink().count_for("a@example.com"), 2);
}

#[tokio::test]
async fn a_subscriber_who_leaves_mid_send_is_skipped() {
    let app = TestApp::spawn_with(crate::support::Options { with_worker: false, ..Default::default() }).await;
    app.add_confirmed(&["stay@example.com", "leave@example.com"]).await;
    app.add_article("News", "Body", None).await;
    let created: Value = app.admin_post("/admin/digests").send().await.unwrap().json().await.unwrap();
    assert_eq!(created["recipients"], 2);
    sqlx::query("UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'leave@example.com'")
        .execute(&app.db)
        .await
        .unwrap();

    let worker = broadsheet::worker::Worker::new(app.db.clone(), &app.settings, Default::default()).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(worker.run(stop.clone()));
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    stop.cancel();
    handle.await.unwrap().unwrap();
    assert_eq!(app.sink().count_for("stay@example.com"), 1);
    assert_eq!(app.sink().count_for("leave@example.com"), 0);
    assert_eq!(app.deliveries().await, vec![("sent".to_owned(), 1), ("skipped".to_owned(), 1)]);
}

#[tokio::test]
async fn the_same_idempotency_key_never_makes_a_second_digest() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["a@example.com"]).await;
    app.add_article("News", "Body", None).await;
    let send =
        || app.admin_post("/admin/digests").header("Idempotency-Key", "digest-2026-11-25").json(&json!({})).send();
    let first: Value = send().await.unwrap().json().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    let digests: i64 = sqlx::query_scalar("SELECT count(*) FROM digests").fetch_one(&app.db).await.unwrap();
    assert_eq!(digests, 1);
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    assert_eq!(app.sink().count_for("a@example.com"), 1);
}

#[tokio::test]
async fn admin_calls_without_the_right_token_are_401() {
    let app = TestApp::spawn().await;
    for path in ["/admin/articles", "/admin/digests/preview", "/admin/subscribers"] {
        let none = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path}");
        let wrong = app.client.get(format!("{}{path}", app.address)).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let almost = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])
            .send()
            .await
            .unwrap();
        assert_eq!(almost.status(), 401, "{path}");
    }
    let post = app.client.post(format!("{}/admin/digests", app.address)).json(&json!({})).send().await.unwrap();
    assert_eq!(post.status(), 401);
    assert!(post.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("Bearer"));
    let digests: i64 = sqlx::query_scalar("SELECT count(*) FROM digests").fetch_one(&app.db).await.unwrap();
    assert_eq!(digests, 0);
}

#[tokio::test]
async fn bad_article_and_digest_input_gets_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({ "body": "b" }), "title"),
        (json!({ "title": "", "body": "b" }), "title"),
        (json!({ "title": "t\r\nBcc: x", "body": "b" }), "title"),
        (json!({ "title": "t" }), "body"),
        (json!({ "title": 5, "body": "b" }), "title"),
        (json!({ "title": "t", "body": "b", "url": "javascript:alert(1)" }), "url"),
        (json!({ "title": "t", "body": "b", "url": "nope" }), "url"),
    ];
    for (body, field) in cases {
        let response = app.admin_post("/admin/articles").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["field"], field, "{body}");
    }
    let not_json =
        app.admin_post("/admin/articles").header("content-type", "application/json").body("{").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    let text = app.admin_post("/admin/articles").header("content-type", "text/plain").body("hi").send().await.unwrap();
    assert_eq!(text.status(), 415);

    // Nothing to send yet, and unknown articles.
    let empty = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap();
    assert_eq!(empty.status(), 422);
    let unknown = app
        .admin_post("/admin/digests")
        .json(&json!({ "article_ids": ["00000000-0000-0000-0000-000000000000"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    assert_eq!(unknown.json::<Value>().await.unwrap()["field"], "article_ids");
    let missing = app.admin_get("/admin/digests/00000000-0000-0000-0000-000000000000").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let junk = app.admin_get("/admin/digests/not-a-uuid").send().await.unwrap();
    assert_eq!(junk.status(), 404);
    let status = app.admin_get("/admin/subscribers?status=famous").send().await.unwrap();
    assert_eq!(status.status(), 422);
}

#[tokio::test]
async fn operators_preview_the_next_digest_and_list_articles_and_subscribers() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["a@example.com"]).await;
    let id = app.add_article("Preview me", "Some *Markdown*.", Some("https://example.com/p")).await;
    let preview = app.admin_get("/admin/digests/preview").send().await.unwrap();
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    assert!(html.contains("Preview me") && html.contains("<em>Markdown</em>"), "{html}");
    let articles: Value = app.admin_get("/admin/articles").send().await.unwrap().json().await.unwrap();
    assert_eq!(articles["articles"][0]["id"], id);
    let subscribers: Value =
        app.admin_get("/admin/subscribers?status=confirmed").send().await.unwrap().json().await.unwrap();
    assert_eq!(subscribers["counts"]["confirmed"], 1);
    assert_eq!(subscribers["subscribers"][0]["email"], "a@example.com");
    assert_eq!(app.sink().received().len(), 0, "a preview sends nothing");

    // Naming an article twice puts it in the digest once.
    let twice = app.admin_post("/admin/digests").json(&json!({ "article_ids": [id, id] })).send().await.unwrap();
    assert_eq!(twice.status(), 202);
    let digest: i64 = sqlx::query_scalar("SELECT count(*) FROM digest_articles").fetch_one(&app.db).await.unwrap();
    assert_eq!(digest, 1);
}

#[tokio::test]
async fn long_paragraphs_are_mailed_as_short_readable_lines_not_base64() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["reader@example.com"]).await;
    let paragraph = "Naïve readers of a very long paragraph deserve short lines. ".repeat(60);
    app.add_article("Long", &format!("{paragraph}\n\n> {paragraph}"), None).await;
    app.admin_post("/admin/digests").send().await.unwrap();
    let mails = app.sink().wait_for(1, Duration::from_secs(15)).await;
    let raw = String::from_utf8(mails[0].data.clone()).unwrap();
    assert!(!raw.to_ascii_lowercase().contains("base64"), "no base64 part");
    assert!(raw.lines().all(|l| l.len() <= 998), "SMTP line limit");
    let text = mails[0].text_body();
    assert!(text.lines().filter(|l| l.contains("readers")).all(|l| l.chars().count() <= 76), "{text}");
    assert!(text.contains("Naïve readers of a very long paragraph deserve short lines."));
    let html = mails[0].html_body();
    assert!(html.lines().filter(|l| l.contains("readers")).all(|l| l.len() <= 200), "{html}");
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&html).contains(paragraph.trim_end()), "the words are all there, in order");
}
