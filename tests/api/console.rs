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
    assert_eq!(post("/admin/logout", vec![("csrf", csrf)]).await.unwrap().status(), 303);
    assert_eq!(get("/admin").await.unwrap().status(), 303);
}
