//! Scoped API keys: a script holds a key with only the scopes it needs; every admin route asks
//! for its scope; revoked keys are refused; `admin.token` keeps every scope.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::{ADMIN_TOKEN, Options, TestApp};

const ALL_SCOPES: [&str; 10] = [
    "subscribers:read",
    "subscribers:write",
    "lists:read",
    "lists:write",
    "articles:write",
    "digests:read",
    "digests:write",
    "webhooks:write",
    "inbound:write",
    "keys:write",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates a key through the API with the admin token; returns the key.
async fn create_key(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let response = app.admin_post("/admin/keys").json(&json!({ "name": name, "scopes": scopes })).send().await.unwrap();
    assert_eq!(response.status(), 201, "{name}");
    let body: Value = response.json().await.unwrap();
    body["key"].as_str().unwrap().to_owned()
}

fn request(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let builder = app.client.request(method, format!("{}{path}", app.address));
    match key {
        Some(key) => builder.bearer_auth(key),
        None => builder,
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_importer_key_from_the_command_line_can_add_subscribers_and_nothing_else_until_revoked() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["keys", "create", "importer", "--scopes", "subscribers:write"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_owned();
    assert!(key.starts_with("bsk_"), "the key alone on stdout: {key:?}");
    assert!(text(&out.stderr).contains("shown only now"));

    // Only its SHA-256 is stored.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT hash FROM api_keys WHERE name = 'importer'").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored, Sha256::digest(key.as_bytes()).to_vec());

    let add = request(&app, Method::POST, "/admin/subscribers", Some(&key))
        .json(&json!({ "email": "ann@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 201);
    // Reading the list, or erasing someone, is not what it is for.
    let (status, error) =
        error_of(request(&app, Method::GET, "/admin/subscribers", Some(&key)).send().await.unwrap()).await;
    assert_eq!((status, error.as_str()), (StatusCode::FORBIDDEN, "this key lacks the scope subscribers:read"));
    let (status, error) =
        error_of(request(&app, Method::POST, "/admin/keys", Some(&key)).json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, error.as_str()), (StatusCode::FORBIDDEN, "this key lacks the scope keys:write"));

    let list = app.cli(&["keys", "list"], None);
    assert_eq!(list.status.code(), Some(0));
    let listed = text(&list.stdout);
    let line = listed.lines().find(|l| l.starts_with("importer ")).expect("importer is listed");
    assert!(line.ends_with("subscribers:write"), "{line}");
    assert!(!listed.contains(&key), "never the key itself");
    let unset = |line: &str| line.split_whitespace().filter(|w| *w == "-").count();
    assert_eq!(unset(line), 1, "created and last used are set, revoked is not: {line}");

    // The operator's mistakes are usage errors that say what is wrong.
    for (args, says) in [
        (&["keys", "create", "importer", "--scopes", "subscribers:read"][..], "already exists"),
        (&["keys", "create", "reader", "--scopes", "subscribers:read,subscribers:delete"], "\"subscribers:delete\""),
        (&["keys", "create", "Reader", "--scopes", "subscribers:read"], "NAME: a key name is"),
        (&["keys", "create", "reader", "--scopes", ""], "at least one scope"),
        (&["keys", "revoke", "nobody"], "no live key named nobody"),
    ] {
        let out = app.cli(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}: nothing printed that looks like a key");
    }

    let revoke = app.cli(&["keys", "revoke", "importer"], None);
    assert_eq!(revoke.status.code(), Some(0), "{}", text(&revoke.stderr));
    let after = request(&app, Method::POST, "/admin/subscribers", Some(&key))
        .json(&json!({ "email": "bob@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    assert_eq!(after.headers()["www-authenticate"], "Bearer");
    // Still listed, as revoked; and the name is free for the key that replaces it.
    let listed = text(&app.cli(&["keys", "list"], None).stdout);
    let line = listed.lines().find(|l| l.starts_with("importer ")).unwrap();
    assert_eq!(unset(line), 0, "revoked: {line}");
    let again = app.cli(&["keys", "create", "importer", "--scopes", "subscribers:write"], None);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_ne!(text(&again.stdout).trim(), key);
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_through_the_api() {
    let app = TestApp::spawn().await;
    let response = app
        .admin_post("/admin/keys")
        .json(&json!({ "name": "dashboard", "scopes": ["digests:read", "subscribers:read", "digests:read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "dashboard");
    assert_eq!(created["scopes"], json!(["subscribers:read", "digests:read"]));
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("bsk_") && key.len() == 47, "{key}");

    // Bad input is a 4xx that says what to fix, never a 500.
    for (body, status, says) in [
        (json!({ "name": "dashboard", "scopes": ["digests:read"] }), 409, "already exists"),
        (json!({ "name": "x", "scopes": ["digests:read", "everything"] }), 422, "unknown scope \"everything\""),
        (json!({ "name": "x", "scopes": [] }), 422, "at least one scope"),
        (json!({ "name": "x", "scopes": "digests:read" }), 422, "list of scope names"),
        (json!({ "name": "x" }), 422, "\"scopes\" is required"),
        (json!({ "name": "Not OK", "scopes": ["digests:read"] }), 422, "a key name is"),
        (json!({ "name": "a".repeat(41), "scopes": ["digests:read"] }), 422, "a key name is"),
    ] {
        let (got, error) = error_of(app.admin_post("/admin/keys").json(&body).send().await.unwrap()).await;
        assert_eq!(got.as_u16(), status, "{body}: {error}");
        assert!(error.contains(says), "{body}: {error}");
    }

    let dashboard = request(&app, Method::GET, "/admin/digests/preview", Some(&key)).send().await.unwrap();
    assert!(![401, 403].contains(&dashboard.status().as_u16()), "{}", dashboard.status());
    let list: Value = app.admin_get("/admin/keys").send().await.unwrap().json().await.unwrap();
    let listed = &list["keys"][0];
    assert_eq!(listed["name"], "dashboard");
    assert_eq!(listed["scopes"], json!(["subscribers:read", "digests:read"]));
    assert!(listed["created_at"].is_string() && listed["last_used_at"].is_string(), "{listed}");
    assert!(listed["revoked_at"].is_null());
    assert!(listed.get("key").is_none() && listed.get("hash").is_none(), "{listed}");

    let delete = |name: &str| request(&app, Method::DELETE, &format!("/admin/keys/{name}"), Some(ADMIN_TOKEN)).send();
    assert_eq!(delete("dashboard").await.unwrap().status(), 204);
    assert_eq!(delete("dashboard").await.unwrap().status(), 404);
    assert_eq!(delete("NOT%20A%20NAME").await.unwrap().status(), 422);
    assert_eq!(request(&app, Method::GET, "/admin/digests/preview", Some(&key)).send().await.unwrap().status(), 401);
    let list: Value = app.admin_get("/admin/keys").send().await.unwrap().json().await.unwrap();
    assert!(list["keys"][0]["revoked_at"].is_string(), "{list}");

    // A key that manages keys cannot mint one stronger than itself.
    let keymaster = create_key(&app, "keymaster", &["keys:write", "digests:read"]).await;
    let mint = |scopes: Value| {
        request(&app, Method::POST, "/admin/keys", Some(&keymaster))
            .json(&json!({ "name": "minted", "scopes": scopes }))
            .send()
    };
    let (status, error) = error_of(mint(json!(["digests:read", "subscribers:write"])).await.unwrap()).await;
    assert_eq!((status, error.as_str()), (StatusCode::FORBIDDEN, "this key lacks the scope subscribers:write"));
    assert_eq!(mint(json!(["digests:read"])).await.unwrap().status(), 201);

    // Unknown keys and things that are not keys are 401, like a wrong admin token.
    for wrong in ["bsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "bsk_", "nonsense", ""] {
        let response = request(&app, Method::GET, "/admin/keys", Some(wrong)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{wrong:?}");
    }
}

#[tokio::test]
async fn a_busy_key_records_its_last_use_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let key = create_key(&app, "busy", &["digests:read"]).await;
    let last_used = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT last_used_at FROM api_keys WHERE name = 'busy'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    assert_eq!(last_used().await, None);
    let read = || request(&app, Method::GET, "/admin/digests/preview", Some(&key)).send();
    read().await.unwrap();
    let first = last_used().await.expect("the first use is recorded");
    for _ in 0..5 {
        read().await.unwrap();
    }
    assert_eq!(last_used().await, Some(first), "no write within the minute");
    sqlx::query("UPDATE api_keys SET last_used_at = now() - interval '61 seconds'").execute(&app.db).await.unwrap();
    read().await.unwrap();
    assert!(last_used().await.unwrap() >= first, "a use after a minute is recorded again");
}

/// Every admin operation in the OpenAPI document names one scope; a key holding every other
/// scope gets 403 naming it, a key holding only it gets past authorization, and so does
/// `admin.token`. A route added later is checked by this test without a change to it.
#[tokio::test]
async fn every_admin_route_in_the_openapi_document_refuses_a_key_without_its_scope() {
    let extra = vec![("BROADSHEET__LIMITS__ADMIN_AUTH_FAILURES_PER_MINUTE".to_owned(), "0".to_owned())];
    let app = TestApp::spawn_with(Options { extra, ..Default::default() }).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut without = std::collections::HashMap::new();
    let mut only = std::collections::HashMap::new();
    for (i, scope) in ALL_SCOPES.iter().enumerate() {
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| s != scope).collect();
        without.insert(*scope, create_key(&app, &format!("without-{i}"), &others).await);
        only.insert(*scope, create_key(&app, &format!("only-{i}"), &[scope]).await);
    }

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/admin") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let tags: Vec<&str> = op["tags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            assert!(
                tags == ["admin"] || tags == ["console"],
                "{method} {path}: tagged admin (bearer) or console (session)"
            );
            if tags == ["console"] {
                continue;
            }
            let scopes =
                op["security"][0]["admin_token"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
            assert_eq!(scopes.len(), 1, "{method} {path}: one scope");
            let scope = scopes[0].as_str().unwrap();
            assert!(ALL_SCOPES.contains(&scope), "{method} {path}: unknown scope {scope}");
            let url = path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{email}", "nobody@example.com")
                .replace("{name}", "nobody");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let send = |key: Option<&str>| request(&app, method.clone(), &url, key).send();

            assert_eq!(send(None).await.unwrap().status(), 401, "{method} {path} without a credential");
            let (status, error) = error_of(send(Some(&without[scope])).await.unwrap()).await;
            assert_eq!(status, 403, "{method} {path} with every scope but {scope}");
            assert_eq!(error, format!("this key lacks the scope {scope}"), "{method} {path}");
            for key in [only[scope].as_str(), ADMIN_TOKEN] {
                let status = send(Some(key)).await.unwrap().status();
                assert!(![401, 403].contains(&status.as_u16()), "{method} {path} with {scope}: {status}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 16, "every admin route was walked ({checked})");
}

#[tokio::test]
async fn the_console_creates_a_key_shows_it_once_and_revokes_it() {
    let app = TestApp::spawn().await;
    let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).header("cookie", &session).send();
    let post = |path: &str, fields: Vec<(&str, String)>| {
        app.client
            .post(format!("{}{path}", app.address))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
    };
    let page = get("/admin/ui/keys").await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("No API keys yet"));
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_owned();

    let forged =
        post("/admin/ui/keys", vec![("name", "forged".into()), ("subscribers:read", "on".into())]).await.unwrap();
    assert_eq!(forged.status(), 400);
    let none = post("/admin/ui/keys", vec![("csrf", csrf.clone()), ("name", "reader".into())]).await.unwrap();
    assert!(none.text().await.unwrap().contains("give at least one scope"));

    let created = post(
        "/admin/ui/keys",
        vec![
            ("csrf", csrf.clone()),
            ("name", "reader".into()),
            ("subscribers:read", "on".into()),
            ("digests:read", "on".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let html = created.text().await.unwrap();
    let at = html.find("value=\"bsk_").expect("the new key is shown") + "value=\"".len();
    let key = html[at..at + html[at..].find('"').unwrap()].to_owned();
    assert_eq!(request(&app, Method::GET, "/admin/subscribers", Some(&key)).send().await.unwrap().status(), 200);

    let html = get("/admin/ui/keys").await.unwrap().text().await.unwrap();
    assert!(!html.contains(&key), "shown once, never again");
    assert!(html.contains("subscribers:read, digests:read"), "the list shows its scopes");
    let taken =
        post("/admin/ui/keys", vec![("csrf", csrf.clone()), ("name", "reader".into()), ("digests:read", "on".into())])
            .await
            .unwrap();
    assert!(taken.text().await.unwrap().contains("already exists"));

    assert_eq!(post("/admin/ui/keys/reader/revoke", vec![]).await.unwrap().status(), 400, "CSRF is checked");
    let revoked = post("/admin/ui/keys/reader/revoke", vec![("csrf", csrf.clone())]).await.unwrap();
    assert_eq!(revoked.status(), 303);
    assert_eq!(revoked.headers()["location"], "/admin/ui/keys");
    assert_eq!(request(&app, Method::GET, "/admin/subscribers", Some(&key)).send().await.unwrap().status(), 401);
    assert!(get("/admin/ui/keys").await.unwrap().text().await.unwrap().contains("revoked "));
    assert_eq!(post("/admin/ui/keys/reader/revoke", vec![("csrf", csrf)]).await.unwrap().status(), 404);
    // A key is no way into the console: only admin.token signs in.
    assert_eq!(app.post_form("/admin/login", &[("token", &key)]).await.status(), 401);
}
