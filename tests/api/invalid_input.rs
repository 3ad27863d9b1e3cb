//! Bad input everywhere gets a 4xx with a sentence a person understands; never a 500.

use serde_json::{Value, json};

use crate::support::TestApp;

#[tokio::test]
async fn invalid_signups_get_a_clear_4xx_naming_the_field() {
    let app = TestApp::spawn().await;
    let long_name = "n".repeat(101);
    // (what, content type, body, expected status, expected field)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("missing email", "application/json", br#"{"name": "Ada"}"#.to_vec(), 422, Some("email")),
        ("empty email", "application/json", br#"{"email": ""}"#.to_vec(), 422, Some("email")),
        ("not an email", "application/json", br#"{"email": "ada"}"#.to_vec(), 422, Some("email")),
        ("email not text", "application/json", br#"{"email": 42}"#.to_vec(), 422, Some("email")),
        (
            "header injection in email",
            "application/json",
            br#"{"email": "a@example.com\r\nBcc: x@example.com"}"#.to_vec(),
            422,
            Some("email"),
        ),
        (
            "name too long",
            "application/json",
            format!(r#"{{"email": "a@example.com", "name": "{long_name}"}}"#).into_bytes(),
            422,
            Some("name"),
        ),
        (
            "header injection in name",
            "application/json",
            br#"{"email": "a@example.com", "name": "Ada\r\nBcc: x@example.com"}"#.to_vec(),
            422,
            Some("name"),
        ),
        ("broken JSON", "application/json", b"{\"email\": ".to_vec(), 400, None),
        ("JSON array", "application/json", b"[]".to_vec(), 400, None),
        ("invalid UTF-8 JSON", "application/json", b"{\"email\": \"\xff\xfe@example.com\"}".to_vec(), 400, None),
        ("text/plain", "text/plain", b"email=a@example.com".to_vec(), 415, None),
        ("no content type", "", b"email=a@example.com".to_vec(), 415, None),
        (
            "giant body",
            "application/json",
            format!(r#"{{"email": "{}@example.com"}}"#, "a".repeat(100_000)).into_bytes(),
            413,
            None,
        ),
    ];
    for (what, content_type, body, status, field) in cases {
        let response = if content_type.is_empty() {
            app.client.post(format!("{}/subscriptions", app.address)).body(body).send().await.unwrap()
        } else {
            app.post_raw("/subscriptions", content_type, body).await
        };
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{what}: JSON error body expected ({e})"));
        let message = body["error"].as_str().unwrap_or_else(|| panic!("{what}: {body}"));
        assert!(message.len() > 10, "{what}: a sentence, got {message:?}");
        assert_eq!(body.get("field").and_then(Value::as_str), field, "{what}");
    }
    let subscribers: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(subscribers, 0);
}

#[tokio::test]
async fn an_invalid_form_shows_the_page_again_with_the_message_and_the_typed_values() {
    let app = TestApp::spawn().await;
    let response = app.post_form("/subscriptions", &[("email", "not-an-address"), ("name", "<b>Ada</b>")]).await;
    assert_eq!(response.status(), 422);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("not-an-address"), "keeps what was typed");
    assert!(html.contains("&lt;b&gt;Ada&lt;/b&gt;"), "escaped: {html}");
    assert!(html.contains(r#"role="alert""#));
    // Invalid UTF-8 in a form is decoded leniently and then refused as an address.
    let response = app
        .post_raw("/subscriptions", "application/x-www-form-urlencoded", b"email=%ff%fe%40example.com".to_vec())
        .await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_4xx() {
    let app = TestApp::spawn().await;
    let missing = app.get("/nope").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.json::<Value>().await.unwrap()["error"].is_string());
    let wrong_method = app.client.delete(format!("{}/subscriptions", app.address)).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    let confirm_junk = app.post_raw("/subscriptions/confirm", "application/json", b"\xff".to_vec()).await;
    assert!(confirm_junk.status().is_client_error());
    let _ = json!({});
}

#[tokio::test]
async fn a_signup_gets_503_not_500_while_the_database_is_unreachable() {
    let app = TestApp::spawn().await;
    // The signup queue keeps the connection it used: the outage must break that one too.
    let before = app.post_json("/subscriptions", &json!({ "email": "before@example.com" })).await;
    assert_eq!(before.status(), 202);
    // Cut every connection the app holds and refuse new ones for this database.
    sqlx::query(&format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false", app.db_name))
        .execute(&admin(&app).await)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&app.db_name)
    .execute(&admin(&app).await)
    .await
    .unwrap();
    let response = app.post_json("/subscriptions", &json!({ "email": "down@example.com" })).await;
    assert_eq!(response.status(), 503);
    assert!(response.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("unavailable"));
    assert_eq!(app.get("/ready").await.status(), 503);
    let form = app.sign_up("down@example.com", "").await;
    assert_eq!(form.status(), 503);

    sqlx::query(&format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true", app.db_name))
        .execute(&admin(&app).await)
        .await
        .unwrap();
    // Connections the outage killed may still wait in the pool: each fails once on use (a 503
    // the client retries, see store/pool.rs) and is dropped. More chores (the scheduler) keep
    // more of them, so the first requests after recovery may still meet one.
    let mut status = 0;
    for _ in 0..10 {
        status = app.post_json("/subscriptions", &json!({ "email": "down@example.com" })).await.status().as_u16();
        assert!(status == 202 || status == 503, "never a 500: {status}");
        if status == 202 {
            break;
        }
    }
    assert_eq!(status, 202);
}

async fn admin(_app: &TestApp) -> sqlx::PgPool {
    let url = std::env::var_os("BROADSHEET_TEST_DATABASE_URL")
        .and_then(|v| v.into_string().ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_owned());
    sqlx::PgPool::connect(&format!("{}/postgres", url.trim_end_matches('/'))).await.unwrap()
}

#[tokio::test]
async fn sql_looking_and_non_ascii_input_is_just_text() {
    let app = TestApp::spawn().await;
    // Not an address: refused politely, nothing executed.
    let sqlish = app.post_json("/subscriptions", &json!({ "email": "'; DROP TABLE subscribers;--@example.com" })).await;
    assert_eq!(sqlish.status(), 422);
    // A name is stored and mailed exactly as typed, whatever it looks like.
    let names = ["Robert'); DROP TABLE subscribers;--", "Zoë Ångström-Łukasiewicz 山田"];
    for (i, name) in names.iter().enumerate() {
        let response =
            app.post_json("/subscriptions", &json!({ "email": format!("n{i}@example.com"), "name": name })).await;
        assert_eq!(response.status(), 202);
    }
    let mails = app.sink().wait_for(2, std::time::Duration::from_secs(10)).await;
    for (i, name) in names.iter().enumerate() {
        let stored: String = sqlx::query_scalar("SELECT name FROM subscribers WHERE email = $1")
            .bind(format!("n{i}@example.com"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(&stored, name);
        let mail = mails.iter().find(|m| m.rcpt_to == vec![format!("n{i}@example.com")]).unwrap();
        // The display name is encoded in the header (RFC 2047) and decodes back unchanged.
        assert!(mail.header("To").unwrap().contains(name), "{:?}", mail.header("To"));
        assert!(mail.text_body().contains(name));
        let raw_headers = String::from_utf8_lossy(&mail.data);
        let head = raw_headers.split("\r\n\r\n").next().unwrap();
        assert!(head.is_ascii(), "headers stay ASCII: {head}");
    }
}

#[tokio::test]
async fn a_name_carrying_a_domain_is_refused_on_the_form_with_a_message_naming_the_field() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("ada@example.com", "Claim at evil.com/prize").await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("web address or domain name"), "{html}");
    assert!(html.contains("ada@example.com"), "keeps what was typed");
    let json = app.post_json("/subscriptions", &json!({ "email": "ada@example.com", "name": "www.evil.test" })).await;
    assert_eq!(json.status(), 422);
    assert_eq!(json.json::<Value>().await.unwrap()["field"], "name");
    // Names with initials and titles are names.
    assert_eq!(app.sign_up("jrr@example.com", "J. R. R. Tolkien").await.status(), 200);
    assert_eq!(app.sign_up("jane@example.com", "Dr. Jane Doe").await.status(), 200);
    let subscribers: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(subscribers, 2);
}

/// An IP address for a domain is a valid address by RFC 5321, but no relay delivers to it: it
/// would fail at every send with "invalid envelope". Refused wherever an address comes in.
#[tokio::test]
async fn an_address_at_an_ip_address_is_refused_at_signup_by_the_admin_api_and_in_an_import() {
    let app = TestApp::spawn().await;
    for address in ["x@[10.0.0.5]", "x@10.0.0.5", "x@[IPv6:2001:db8::1]"] {
        let response = app.post_json("/subscriptions", &json!({ "email": address })).await;
        assert_eq!(response.status(), 422, "{address}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "email", "{address}");
        assert!(body["error"].as_str().unwrap().contains("not an IP address"), "{address}: {body}");

        let form = app.post_form("/subscriptions", &[("email", address)]).await;
        assert_eq!(form.status(), 422, "{address}");
        assert!(form.text().await.unwrap().contains("not an IP address"), "{address}");

        let added = app.admin_post("/admin/subscribers").json(&json!({ "email": address })).send().await.unwrap();
        assert_eq!(added.status(), 422, "{address}");
        assert_eq!(added.json::<Value>().await.unwrap()["field"], "email", "{address}");
    }
    let list = "email\nx@[10.0.0.5]\nok@example.com\n";
    let response =
        app.admin_post("/admin/subscribers/import").header("content-type", "text/csv").body(list).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["invalid"][0]["line"], 2, "{report}");
    assert!(report["invalid"][0]["error"].as_str().unwrap().contains("not a valid email address"), "{report}");
    let subscribers: Vec<String> =
        sqlx::query_scalar("SELECT email FROM subscribers").fetch_all(&app.db).await.unwrap();
    assert_eq!(subscribers, ["ok@example.com"]);
}

#[tokio::test]
async fn the_admin_api_names_the_field_that_is_wrong_and_ignores_fields_it_does_not_know() {
    let app = TestApp::spawn().await;
    // (route, body, field, what the sentence says)
    let cases = [
        ("/admin/subscribers", json!({"name": "Ada"}), "email", "The field \"email\" is required."),
        ("/admin/subscribers", json!({"email": null}), "email", "The field \"email\" is required."),
        ("/admin/subscribers", json!({"email": 42}), "email", "The field \"email\" must be text."),
        ("/admin/subscribers", json!({"email": "a@example.com", "consent": ["x"]}), "consent", "must be text"),
        ("/admin/articles", json!({"title": "T"}), "body", "The field \"body\" is required."),
        ("/admin/articles", json!({"title": "T", "body": "B", "url": 7}), "url", "must be text"),
        ("/admin/digests", json!({"article_ids": "nope"}), "article_ids", "list of article ids"),
        ("/admin/digests", json!({"article_ids": ["not-a-uuid"]}), "article_ids", "list of article ids"),
        ("/admin/digests", json!({"send_at": 1_765_000_000}), "send_at", "must be text"),
        ("/admin/digests", json!({"subject": false}), "subject", "must be text"),
    ];
    for (route, body, field, says) in cases {
        let response = app.admin_post(route).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422, "{route} {body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["field"], field, "{route} {body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{route} {body}: {answer}");
    }
    let extra = json!({"email": "extra@example.com", "favourite_colour": "green"});
    let response = app.admin_post("/admin/subscribers").json(&extra).send().await.unwrap();
    assert_eq!(response.status(), 201, "a field we do not know is ignored");
}
