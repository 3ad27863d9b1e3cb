//! The console's lists: list pages, the digest form's list, one way of showing times, the
//! per-list archive, and import/export with lists.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp};

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// A signed-in console session: GET and POST (form) with its cookie, and its CSRF token.
struct Console<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl<'a> Console<'a> {
    async fn sign_in(app: &'a TestApp) -> Self {
        let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
        let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut console = Self { app, cookie, csrf: String::new() };
        let page = console.get("/admin/ui/lists").await;
        console.csrf = csrf_of(&page.text().await.unwrap());
        console
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app.client.get(format!("{}{path}", self.app.address)).header("cookie", &self.cookie).send().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.app
            .client
            .post(format!("{}{path}", self.app.address))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(all).unwrap())
            .send()
            .await
            .unwrap()
    }
}

async fn add_list(app: &TestApp, slug: &str, public: bool) {
    let made = app
        .admin_post("/admin/lists")
        .json(&json!({ "slug": slug, "name": format!("The {slug} list"), "public": public }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
}

async fn join(app: &TestApp, email: &str, list: &str) {
    sqlx::query(
        "INSERT INTO memberships (list_id, subscriber_id, status)
         SELECT l.id, s.id, 'confirmed' FROM lists l, subscribers s WHERE l.slug = $2 AND s.email = $1
         ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'confirmed'",
    )
    .bind(email)
    .bind(list)
    .execute(&app.db)
    .await
    .unwrap();
}

async fn digest_to(app: &TestApp, list: &str, subject: &str) -> String {
    let created: Value = app
        .admin_post("/admin/digests")
        .json(&json!({ "list": list, "subject": subject }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned()
}

#[tokio::test]
async fn an_operator_creates_edits_and_removes_a_list_in_the_console() {
    let app = TestApp::spawn().await;
    let console = Console::sign_in(&app).await;
    let page = console.get("/admin/ui/lists").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"list-default\""), "{html}");
    assert!(html.contains("href=\"/admin/ui/lists\" aria-current=\"page\""), "the navigation names the page");

    // Without the CSRF token nothing happens.
    let forged = app
        .client
        .post(format!("{}/admin/ui/lists", app.address))
        .header("cookie", &console.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("slug=forged&name=Forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    // What to fix comes back with the form as typed.
    let bad = console.post("/admin/ui/lists", &[("slug", "Not A Slug"), ("name", "Weekly")]).await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(html.contains("id=\"create-error\"") && html.contains("value=\"Weekly\""), "{html}");
    let taken = console.post("/admin/ui/lists", &[("slug", "default"), ("name", "Again")]).await;
    assert_eq!(taken.status(), 409);

    let made = console
        .post("/admin/ui/lists", &[("slug", "weekly"), ("name", "Weekly"), ("public", "on"), ("double_opt_in", "on")])
        .await;
    assert_eq!(made.status(), 303);
    assert_eq!(made.headers()["location"], "/admin/ui/lists/weekly");
    app.add_confirmed(&["ann@example.com"]).await;
    join(&app, "ann@example.com", "weekly").await;
    app.add_article("News", "Body.", None).await;
    let html = console.get("/admin/ui/lists/weekly").await.text().await.unwrap();
    assert!(html.contains("<b id=\"reach\">1</b>"), "{html}");
    assert!(html.contains("<b id=\"unsent\">1</b>"), "articles not yet sent to this list: {html}");
    let overview = console.get("/admin/ui/lists").await.text().await.unwrap();
    assert!(overview.contains("<td class=\"unsent\">1</td>"), "{overview}");

    let bad_schedule =
        console.post("/admin/ui/lists/weekly", &[("name", "Weekly"), ("schedule", "every tuesday")]).await;
    assert_eq!(bad_schedule.status(), 422);
    let saved = console.post("/admin/ui/lists/weekly", &[("name", "Weekly news"), ("schedule", "0 9 * * MON")]).await;
    assert_eq!(saved.status(), 303);
    let (name, public, schedule): (String, bool, Option<String>) =
        sqlx::query_as("SELECT name, public, schedule FROM lists WHERE slug = 'weekly'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((name.as_str(), public, schedule.as_deref()), ("Weekly news", false, Some("0 9 * * MON")));
    assert!(console.get("/admin/ui/lists/weekly?saved=1").await.text().await.unwrap().contains("id=\"saved\""));
    assert_eq!(console.get("/admin/ui/lists/nothing-here").await.status(), 404);

    // Removing asks first; the default list cannot go.
    let confirm = console.get("/admin/ui/lists/weekly/remove").await.text().await.unwrap();
    assert!(confirm.contains("id=\"remove-confirm\""), "{confirm}");
    assert_eq!(console.post("/admin/ui/lists/default/remove", &[]).await.status(), 409);
    let removed = console.post("/admin/ui/lists/weekly/remove", &[]).await;
    assert_eq!(removed.status(), 303);
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lists WHERE slug = 'weekly'").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_console_digest_form_previews_and_sends_to_the_list_chosen() {
    let app = TestApp::spawn().await;
    add_list(&app, "weekly", true).await;
    app.add_confirmed(&["ann@example.com", "bea@example.com"]).await;
    join(&app, "ann@example.com", "weekly").await;
    app.add_article("News", "Body.", None).await;
    let console = Console::sign_in(&app).await;

    let html = console.get("/admin/ui/digests?list=weekly").await.text().await.unwrap();
    assert!(html.contains("Goes to <b>1</b>"), "{html}");
    assert!(html.contains("<option value=\"weekly\" selected>"), "{html}");
    assert!(console.get("/admin/ui/digests").await.text().await.unwrap().contains("Goes to <b>2</b>"));
    assert_eq!(console.get("/admin/ui/digests?list=nope").await.status(), 422);

    let step = console.post("/admin/ui/digests", &[("list", "weekly")]).await.text().await.unwrap();
    assert!(step.contains("Yes, send to 1 subscribers"), "{step}");
    let key_at = step.find("name=\"key\" value=\"").unwrap() + "name=\"key\" value=\"".len();
    let key = &step[key_at..key_at + step[key_at..].find('"').unwrap()];
    let sent = console.post("/admin/ui/digests", &[("list", "weekly"), ("confirmed", "yes"), ("key", key)]).await;
    assert_eq!(sent.status(), 303);
    let list: String = sqlx::query_scalar("SELECT l.slug FROM digests d JOIN lists l ON l.id = d.list_id")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(list, "weekly");
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    assert_eq!(app.sink().count_for("ann@example.com"), 1);
    assert_eq!(app.sink().count_for("bea@example.com"), 0, "not a member of weekly");
}

#[tokio::test]
async fn the_console_previews_a_segments_count_and_sends_the_digest_to_that_segment_only() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["ann@example.com", "bea@example.com", "cat@example.com"]).await;
    sqlx::query("UPDATE subscribers SET attributes = '{\"plan\": \"pro\"}' WHERE email <> 'bea@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    app.add_article("News", "Body.", None).await;
    let console = Console::sign_in(&app).await;

    let segment = r#"attributes.plan = "pro""#;
    let query = format!("/admin/ui/digests?list=default&segment={}", percent(segment));
    let html = console.get(&query).await.text().await.unwrap();
    assert!(html.contains("Goes to <b>2</b>"), "{html}");

    // A segment that does not parse says where, and reaches no confirmation step.
    let bad = console.post("/admin/ui/digests", &[("list", "default"), ("segment", "attributes.plan ==")]).await;
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("id=\"segment-error\"") && bad.contains("at character"), "{bad}");
    assert!(!bad.contains("Yes, send to"), "{bad}");

    let step =
        console.post("/admin/ui/digests", &[("list", "default"), ("segment", segment)]).await.text().await.unwrap();
    assert!(step.contains("Yes, send to 2 subscribers"), "{step}");
    let key_at = step.find("name=\"key\" value=\"").unwrap() + "name=\"key\" value=\"".len();
    let key = &step[key_at..key_at + step[key_at..].find('"').unwrap()];
    let sent = console
        .post("/admin/ui/digests", &[("list", "default"), ("segment", segment), ("confirmed", "yes"), ("key", key)])
        .await;
    assert_eq!(sent.status(), 303);
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    assert_eq!(app.sink().count_for("ann@example.com"), 1);
    assert_eq!(app.sink().count_for("cat@example.com"), 1);
    assert_eq!(app.sink().count_for("bea@example.com"), 0, "not in the segment");
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'.' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn the_person_page_shows_times_to_the_minute_and_a_digest_was_queued_when_it_started() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["ann@example.com"]).await;
    app.add_article("News", "Body.", None).await;
    let id = digest_to(&app, "default", "Issue one").await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    // The digest started well before its mail's row was written.
    sqlx::query("UPDATE digests SET started_at = '2026-01-02T03:04:59Z' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE deliveries SET created_at = '2026-01-02T05:06:00Z', sent_at = '2026-01-02T05:06:30Z' WHERE digest_id = $1::uuid")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let console = Console::sign_in(&app).await;
    let html = console.get("/admin/ui/subscribers/ann%40example.com").await.text().await.unwrap();
    let mail = &html[html.find("Issue one").expect("the digest's mail")..];
    let queued = &mail[mail.find("class=\"queued\">").unwrap() + "class=\"queued\">".len()..];
    assert!(queued.starts_with("2026-01-02 03:04<"), "queued when the digest started: {mail}");
    assert!(mail.contains("2026-01-02 05:06"), "sent: {mail}");
    let raw = regex_free_rfc3339(&html);
    assert!(raw.is_none(), "a raw RFC 3339 time on the page: {raw:?}");
    for path in
        ["/admin/ui/subscribers", "/admin/ui/articles", "/admin/ui/keys", "/admin/ui/digests", "/admin/ui/lists"]
    {
        let html = console.get(path).await.text().await.unwrap();
        assert!(regex_free_rfc3339(&html).is_none(), "{path}: {html}");
    }
}

/// The first `YYYY-MM-DDTHH:MM` in `html`, if any.
fn regex_free_rfc3339(html: &str) -> Option<String> {
    let bytes = html.as_bytes();
    (0..bytes.len().saturating_sub(16)).find_map(|i| {
        let w = &bytes[i..i + 16];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        (digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && w[10] == b'T'
            && digits(11..13)
            && w[13] == b':'
            && digits(14..16))
        .then(|| html[i..i + 16].to_owned())
    })
}

#[tokio::test]
async fn the_archive_filters_by_list_and_never_shows_a_private_lists_digests() {
    let app = TestApp::spawn().await;
    add_list(&app, "weekly", true).await;
    add_list(&app, "secret", false).await;
    app.add_confirmed(&["ann@example.com"]).await;
    join(&app, "ann@example.com", "weekly").await;
    join(&app, "ann@example.com", "secret").await;
    app.add_article("News", "Body.", None).await;
    digest_to(&app, "default", "Default issue").await;
    digest_to(&app, "weekly", "Weekly issue").await;
    let secret = digest_to(&app, "secret", "Secret issue").await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;

    let all = app.get("/archive").await.text().await.unwrap();
    assert!(all.contains("Default issue") && all.contains("Weekly issue"), "{all}");
    assert!(!all.contains("Secret issue"), "{all}");
    assert!(all.contains("href=\"/archive?list=weekly\""), "two public lists: each digest names its list");
    let weekly = app.get("/archive?list=weekly").await.text().await.unwrap();
    assert!(weekly.contains("Weekly issue") && !weekly.contains("Default issue"), "{weekly}");
    assert_eq!(app.get("/archive?list=secret").await.status(), 404);
    assert_eq!(app.get("/archive?list=no-such").await.status(), 404);
    assert_eq!(app.get("/archive?list=NOT%20A%20SLUG").await.status(), 404);
    assert_eq!(app.get(&format!("/archive/{secret}")).await.status(), 404);
    let feed = app.get("/archive/feed.atom").await.text().await.unwrap();
    assert!(feed.contains("Weekly issue") && !feed.contains("Secret issue"), "{feed}");

    // One public list: no need to name it.
    sqlx::query("UPDATE lists SET public = false WHERE slug = 'weekly'").execute(&app.db).await.unwrap();
    let one = app.get("/archive").await.text().await.unwrap();
    assert!(one.contains("Default issue") && !one.contains("Weekly issue") && !one.contains("?list="), "{one}");
}

#[tokio::test]
async fn imports_choose_lists_by_flag_and_by_row_and_exports_name_them() {
    let app = TestApp::spawn().await;
    add_list(&app, "weekly", true).await;
    add_list(&app, "news", true).await;
    let import = |query: &'static str, csv: &'static str| {
        app.client
            .post(format!("{}/admin/subscribers/import{query}", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
    };
    // An unknown list, by query or by row, imports nobody and says which.
    let unknown = import("?lists=weekly,nope", "email\nx@example.com\n").await.unwrap();
    assert_eq!(unknown.status(), 422);
    assert!(unknown.text().await.unwrap().contains("nope"));
    let unknown_row = import("", "email,lists\nx@example.com,weekly\ny@example.com,weekly|ghost\n").await.unwrap();
    assert_eq!(unknown_row.status(), 422);
    assert!(unknown_row.text().await.unwrap().contains("ghost"));
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(none, 0, "nothing imported");

    let done = import("?lists=weekly", "email,lists\nann@example.com,\nbea@example.com,news|default\n").await.unwrap();
    assert_eq!(done.status(), 200);
    let lists_of = |email: &'static str| {
        sqlx::query_scalar::<_, String>(
            "SELECT coalesce(string_agg(l.slug, '|' ORDER BY l.slug), '') FROM memberships m
             JOIN lists l ON l.id = m.list_id JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = $1",
        )
        .bind(email)
        .fetch_one(&app.db)
    };
    assert_eq!(lists_of("ann@example.com").await.unwrap(), "weekly", "the import's list");
    assert_eq!(lists_of("bea@example.com").await.unwrap(), "default|news", "the row's lists win");

    // The CLI: --list is repeatable; an unknown one is exit 2, naming it.
    let cli = app.cli(&["subscribers", "import", "-", "--list", "ghost"], Some("email\ncat@example.com\n"));
    assert_eq!(cli.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cli.stderr).contains("ghost"));
    let cli = app.cli(&["subscribers", "add", "dan@example.com", "--list", "news", "--list", "weekly"], None);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert_eq!(lists_of("dan@example.com").await.unwrap(), "news|weekly");

    let export = app.admin_get("/admin/subscribers/export").send().await.unwrap().text().await.unwrap();
    assert!(export.starts_with("email,name,status,created_at,lists,attributes\n"), "{export}");
    assert!(export.lines().any(|l| l.starts_with("bea@example.com,") && l.ends_with(",default|news,{}")), "{export}");
    let weekly = app.admin_get("/admin/subscribers/export?list=weekly").send().await.unwrap().text().await.unwrap();
    let emails: Vec<&str> = weekly.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(emails.len(), 2, "{weekly}");
    assert!(emails.contains(&"ann@example.com") && emails.contains(&"dan@example.com"), "{weekly}");
    assert_eq!(app.admin_get("/admin/subscribers/export?list=ghost").send().await.unwrap().status(), 422);
    let cli = app.cli(&["subscribers", "export", "--list", "news"], None);
    assert!(cli.status.success());
    assert_eq!(String::from_utf8_lossy(&cli.stdout).lines().count(), 3, "header, bea and dan");

    // An export imported elsewhere brings its lists along.
    let other = TestApp::spawn().await;
    add_list(&other, "weekly", true).await;
    add_list(&other, "news", true).await;
    let back = other
        .client
        .post(format!("{}/admin/subscribers/import", other.address))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(export)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    let bea: String = sqlx::query_scalar(
        "SELECT string_agg(l.slug, '|' ORDER BY l.slug) FROM memberships m JOIN lists l ON l.id = m.list_id
         JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = 'bea@example.com'",
    )
    .fetch_one(&other.db)
    .await
    .unwrap();
    assert_eq!(bea, "default|news");
}
