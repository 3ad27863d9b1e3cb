//! The console's sessions and forms over plain HTTP: what the browser test does not probe.

use crate::support::{ADMIN_TOKEN, Options, TestApp};

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn console_sessions_are_cookies_with_csrf_and_articles_can_be_edited_until_sent() {
    let app =
        TestApp::spawn_with(Options { base_url: Some("https://news.example.test".into()), ..Default::default() }).await;
    // Signed out: every page sends you to sign in.
    let signed_out = app.get("/admin/ui/subscribers").await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(signed_out.headers()["location"], "/admin/login");
    assert_eq!(app.post_form("/admin/login", &[("token", "wrong")]).await.status(), 401);

    let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/admin"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM admin_sessions").fetch_all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!session.contains(&String::from_utf8_lossy(&stored[0]).to_string()));

    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).header("cookie", &session).send();
    let post = |path: &str, fields: Vec<(&str, String)>| {
        app.client
            .post(format!("{}{path}", app.address))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
    };
    // Every console page has a plain title and its content once (a template's title block once
    // swallowed a copy of the page).
    for path in ["/admin", "/admin/ui/subscribers", "/admin/ui/articles", "/admin/ui/digests", "/admin/ui/keys"] {
        let html = get(path).await.unwrap().text().await.unwrap();
        let title = &html[html.find("<title>").unwrap() + "<title>".len()..html.find("</title>").unwrap()];
        assert!(!title.contains('<'), "{path}: a plain title, not {title:?}");
    }
    let page = get("/admin/ui/articles").await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let csrf = csrf_of(&page.text().await.unwrap());

    // Without the CSRF token nothing happens.
    let forged =
        post("/admin/ui/articles", vec![("title", "Forged".into()), ("body", "x".into()), ("action", "save".into())])
            .await
            .unwrap();
    assert_eq!(forged.status(), 400);
    let saved = post(
        "/admin/ui/articles",
        vec![
            ("csrf", csrf.clone()),
            ("title", "Draft".into()),
            ("body", "First *draft*.".into()),
            ("action", "save".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(saved.status(), 303);
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM articles").fetch_one(&app.db).await.unwrap();

    let preview = post(
        &format!("/admin/ui/articles/{id}"),
        vec![
            ("csrf", csrf.clone()),
            ("title", "Final".into()),
            ("body", "Final *text*.".into()),
            ("action", "preview".into()),
        ],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(preview.contains("<em>text</em>"), "{preview}");
    let edited = post(
        &format!("/admin/ui/articles/{id}"),
        vec![
            ("csrf", csrf.clone()),
            ("title", "Final".into()),
            ("body", "Final *text*.".into()),
            ("action", "save".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(edited.status(), 303);
    let title: String = sqlx::query_scalar("SELECT title FROM articles").fetch_one(&app.db).await.unwrap();
    assert_eq!(title, "Final");

    // Once mailed, an article stays as it was mailed.
    app.add_confirmed(&["reader@example.com"]).await;
    app.admin_post("/admin/digests").send().await.unwrap();
    let refused = post(
        &format!("/admin/ui/articles/{id}"),
        vec![
            ("csrf", csrf.clone()),
            ("title", "Changed".into()),
            ("body", "Changed.".into()),
            ("action", "save".into()),
        ],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(refused.contains("can no longer be changed"));

    // Search and status filter on the subscribers page; then sign out ends the session.
    let found = get("/admin/ui/subscribers?q=READER&status=confirmed").await.unwrap().text().await.unwrap();
    assert!(found.contains("reader@example.com"));
    let none = get("/admin/ui/subscribers?q=%25").await.unwrap().text().await.unwrap();
    assert!(!none.contains("reader@example.com"), "LIKE wildcards are literal");
    assert_eq!(get("/admin/ui/subscribers?q=%00").await.unwrap().status(), 422, "a NUL is refused, not a 500");
    assert_eq!(post("/admin/logout", vec![("csrf", csrf)]).await.unwrap().status(), 303);
    assert_eq!(get("/admin").await.unwrap().status(), 303);
}

#[tokio::test]
async fn the_digest_page_shows_failures_with_the_reply_and_retries_them() {
    let script: crate::support::Script = std::sync::Arc::new(|rcpt: &str, _: usize| {
        // A transient refusal that outlasts the attempts (a 5xx to the recipient would be a hard
        // bounce, which a retry does not undo): failed, and the operator may try again.
        if rcpt.starts_with("bad") {
            crate::support::Fault::RejectRcpt(451, "4.2.1 mailbox busy")
        } else {
            crate::support::Fault::Accept
        }
    });
    let app = TestApp::spawn_with(Options {
        script: Some(script),
        extra: vec![("BROADSHEET__MAIL__MAX_ATTEMPTS".into(), "1".into())],
        ..Default::default()
    })
    .await;
    app.add_confirmed(&["good@example.com", "bad@example.com"]).await;
    app.add_article("News", "Body.", None).await;
    let created: serde_json::Value = app.admin_post("/admin/digests").send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_until_queue_settled(std::time::Duration::from_secs(10)).await;

    let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = app
        .client
        .get(format!("{}/admin/ui/digests/{id}", app.address))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("bad@example.com") && html.contains("4.2.1 mailbox busy"), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "a finished digest does not refresh itself");

    let attempts_before = app.sink().attempt_times("bad@example.com").len();
    let retry = app
        .client
        .post(format!("{}/admin/ui/digests/{id}/retry", app.address))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf_of(&html))]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 303);
    app.wait_until_queue_settled(std::time::Duration::from_secs(10)).await;
    assert_eq!(app.sink().attempt_times("bad@example.com").len(), attempts_before + 1, "tried once more");
    assert_eq!(app.sink().count_for("good@example.com"), 1, "the delivered one is not sent again");
}

#[tokio::test]
async fn rotating_the_admin_token_ends_every_console_session() {
    let old = TestApp::spawn().await;
    let login = old.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    assert_eq!(login.status(), 303);
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = old.client.get(format!("{}/admin/ui/articles", old.address)).header("cookie", &session).send().await;
    let csrf = csrf_of(&page.unwrap().text().await.unwrap());

    // The service restarts on the same database with a new token.
    let new_token = "rotated-admin-token-fedcba9876543210fedcba98";
    let app = TestApp::spawn_with(Options {
        db_name: Some(old.db_name.clone()),
        extra: vec![("BROADSHEET__ADMIN__TOKEN".into(), new_token.into())],
        ..Default::default()
    })
    .await;
    let get = app.client.get(format!("{}/admin/ui/articles", app.address)).header("cookie", &session).send().await;
    let get = get.unwrap();
    assert_eq!(get.status(), 303);
    assert_eq!(get.headers()["location"], "/admin/login");
    let post = app
        .client
        .post(format!("{}/admin/ui/articles", app.address))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([("csrf", csrf.as_str()), ("title", "Old"), ("body", "x"), ("action", "save")])
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 303);
    assert_eq!(post.headers()["location"], "/admin/login");
    let articles: i64 = sqlx::query_scalar("SELECT count(*) FROM articles").fetch_one(&app.db).await.unwrap();
    assert_eq!(articles, 0, "the old session's form changed nothing");

    assert_eq!(app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await.status(), 401, "the old token is gone");
    assert_eq!(app.post_form("/admin/login", &[("token", new_token)]).await.status(), 303);
}
