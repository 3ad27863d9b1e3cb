//! Subscribers in and out: an operator imports a list, adds one person, exports the list,
//! answers "what do you hold about me?" and "delete me".

use std::time::Duration;

use crate::support::{ADMIN_TOKEN, TestApp};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn an_imported_list_is_pending_with_mail_queued_and_importing_it_again_changes_nothing() {
    let app = TestApp::spawn().await;
    app.add_confirmed(&["kept@example.com", "left@example.com", "bounced@example.com", "angry@example.com"]).await;
    sqlx::query("UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'left@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET status = 'bounced' WHERE email = 'bounced@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET status = 'complained' WHERE email = 'angry@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    let list = "email,name,shoe size\n\
                ann@example.com,Ann,38\n\
                \"Bob@Example.COM\",\"Bob, the builder\",44\n\
                not an address,Nobody,0\n\
                KEPT@example.com,Kept,1\n\
                left@example.com,,\n\
                bounced@example.com,,\n\
                angry@example.com,,\n\
                ann@example.com,Ann again,38\n\
                carl@example.com,www.spam.example,1\n";
    let first = app.cli(&["subscribers", "import", "-"], Some(list));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout).trim(), "imported 2, existing 1, skipped 4, invalid 2");
    let complaints = text(&first.stderr);
    assert!(complaints.contains("line 4: not a valid email address"), "{complaints}");
    assert!(complaints.contains("line 10: name:"), "{complaints}");
    assert!(!complaints.contains("not an address") && !complaints.contains("carl@"), "{complaints}");

    assert_eq!(app.status_of("ann@example.com").await.as_deref(), Some("pending"));
    assert_eq!(app.status_of("bob@example.com").await.as_deref(), Some("pending"));
    // Never revived.
    assert_eq!(app.status_of("left@example.com").await.as_deref(), Some("unsubscribed"));
    assert_eq!(app.status_of("bounced@example.com").await.as_deref(), Some("bounced"));
    assert_eq!(app.status_of("angry@example.com").await.as_deref(), Some("complained"));
    // The confirmation mails were queued with the import and go out at the worker's pace.
    let mails = app.sink().wait_for(2, Duration::from_secs(10)).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["Bob@example.com", "ann@example.com"]);
    let consent: (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT 'import', i.interface::text, i.note FROM imports i JOIN subscribers s ON s.import_id = i.id
         WHERE s.email = 'ann@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(consent, ("import".to_owned(), Some("cli".to_owned()), None));

    let again = app.cli(&["subscribers", "import", "-"], Some(list));
    assert_eq!(text(&again.stdout).trim(), "imported 0, existing 3, skipped 4, invalid 2");
    assert_eq!(count(&app, "SELECT count(*) FROM subscribers").await, 6);
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries").await, 2);
    // One consent record for the file, none for the repeat that added nobody.
    assert_eq!(count(&app, "SELECT count(*) FROM imports").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM consent_events").await, 0);
}

#[tokio::test]
async fn confirmed_imports_need_a_consent_note_and_keep_it() {
    let app = TestApp::spawn().await;
    let list =
        "\u{feff}name;email;created_at\nAnn;ann@example.com;2024-03-01\nBea;bea@example.com;2025-01-02T10:00:00Z\n";
    let refused = app.cli(&["subscribers", "import", "-", "--confirmed"], Some(list));
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("--consent"), "{}", text(&refused.stderr));
    assert_eq!(count(&app, "SELECT count(*) FROM subscribers").await, 0);

    let done =
        app.cli(&["subscribers", "import", "-", "--confirmed", "--consent", "signed up at our stand"], Some(list));
    assert_eq!(text(&done.stdout).trim(), "imported 2, existing 0, skipped 0, invalid 0", "{}", text(&done.stderr));
    assert_eq!(app.status_of("bea@example.com").await.as_deref(), Some("confirmed"));
    let created: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT created_at FROM subscribers WHERE email = 'ann@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(created.to_rfc3339(), "2024-03-01T00:00:00+00:00");
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM subscribers s JOIN imports i ON i.id = s.import_id
             WHERE i.note = 'signed up at our stand' AND i.interface = 'cli' AND i.confirmed"
        )
        .await,
        2
    );
    // The person's data shows the import as their consent record.
    let data: serde_json::Value =
        app.admin_get("/admin/subscribers/bea@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(data["consent"].as_array().map(Vec::len), Some(1), "{data}");
    assert_eq!(data["consent"][0]["action"], "import");
    assert_eq!(data["consent"][0]["note"], "signed up at our stand");
    assert_eq!(data["consent"][0]["interface"], "cli");
}

#[tokio::test]
async fn lists_that_are_not_lists_are_refused_whole_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let mut giant = b"email\nok@example.com\n".to_vec();
    giant.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"name,mail\nAnn,ann@example.com\n".to_vec(), "no email column"),
        (b"\xe9mail\nann@example.com\n".to_vec(), "not UTF-8"),
        (giant, "Line 3 is longer than 64 KiB"),
        (Vec::new(), "empty"),
    ];
    for (body, says) in cases {
        let path = std::env::temp_dir().join(format!("broadsheet-import-{}.csv", uuid::Uuid::new_v4()));
        std::fs::write(&path, &body).unwrap();
        let out = app.cli(&["subscribers", "import", path.to_str().unwrap()], None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(out.status.code(), Some(2), "{says}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{says}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("Nothing was imported"), "{}", text(&out.stderr));

        let too_big = body.len() > 10 * 1024 * 1024;
        let response = app
            .admin_post("/admin/subscribers/import")
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap();
        if too_big {
            // Past the API's limit; the CLI above read it to the bad line.
            assert_eq!(response.status(), 413);
            continue;
        }
        assert_eq!(response.status(), 422, "{says}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(says), "{error}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM subscribers").await, 0);
    // Bad lines in a real list are reported one by one, the rest imported.
    let latin1 = b"email,name\nann@example.com,Ann\nbea@example.com,B\xe9a\n".to_vec();
    let response = app
        .admin_post("/admin/subscribers/import")
        .header("content-type", "text/csv")
        .body(latin1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["invalid"][0]["line"], 3);
    assert!(report["invalid"][0]["error"].as_str().unwrap().contains("UTF-8"), "{report}");
}

#[tokio::test]
async fn the_import_api_takes_csv_up_to_its_limit_and_says_how_it_went() {
    let app = TestApp::spawn().await;
    let post = |path: &str, body: Vec<u8>| {
        app.admin_post(path).header("content-type", "text/csv; charset=utf-8").body(body).send()
    };
    let response = post(
        "/admin/subscribers/import?confirmed=true&consent=from%20our%20old%20list",
        "email;name\nann@example.com;\"Ann; the first\"\nnope;x\n".into(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["existing"], 0);
    assert_eq!(report["invalid"], serde_json::json!([{"line": 3, "error": "not a valid email address"}]));
    let name: String = sqlx::query_scalar("SELECT name FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(name, "Ann; the first");
    assert_eq!(count(&app, "SELECT count(*) FROM imports WHERE interface = 'api'").await, 1);

    assert_eq!(
        post("/admin/subscribers/import?confirmed=true", "email\nb@example.com\n".into()).await.unwrap().status(),
        422
    );
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    assert_eq!(post("/admin/subscribers/import", big).await.unwrap().status(), 413);
    let json = app.admin_post("/admin/subscribers/import").json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(json.status(), 415);
    let anonymous = app.post_raw("/admin/subscribers/import", "text/csv", b"email\nx@example.com\n".to_vec()).await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn an_operator_adds_one_person_by_the_same_rules() {
    let app = TestApp::spawn().await;
    let add = |body: serde_json::Value| app.admin_post("/admin/subscribers").json(&body).send();
    let added = add(serde_json::json!({"email": "ann@example.com", "name": "Ann"})).await.unwrap();
    assert_eq!(added.status(), 201);
    let added: serde_json::Value = added.json().await.unwrap();
    assert_eq!(added["status"], "pending");
    app.sink().wait_for(1, Duration::from_secs(10)).await;

    assert_eq!(add(serde_json::json!({"email": "ANN@example.com"})).await.unwrap().status(), 409);
    assert_eq!(
        add(serde_json::json!({"email": "bea@example.com", "status": "confirmed"})).await.unwrap().status(),
        422
    );
    assert_eq!(add(serde_json::json!({"email": "nope"})).await.unwrap().status(), 422);
    let bea = add(serde_json::json!({"email": "bea@example.com", "status": "confirmed", "consent": "phone call"}))
        .await
        .unwrap();
    assert_eq!(bea.status(), 201);
    assert_eq!(app.status_of("bea@example.com").await.as_deref(), Some("confirmed"));

    let cli = app.cli(
        &["subscribers", "add", "cid@example.com", "--name", "Cid", "--confirmed", "--consent", "in person"],
        None,
    );
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    assert!(text(&cli.stdout).trim().ends_with(" confirmed"));
    let again = app.cli(&["subscribers", "add", "cid@example.com"], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already a subscriber"));
    let no_note = app.cli(&["subscribers", "add", "dee@example.com", "--confirmed"], None);
    assert_eq!(no_note.status.code(), Some(2));
    assert_eq!(
        count(&app, "SELECT count(*) FROM consent_events WHERE action = 'added' AND interface IN ('api', 'cli')").await,
        3
    );
}

#[tokio::test]
async fn an_export_imported_into_an_empty_database_reproduces_the_list() {
    let old = TestApp::spawn().await;
    old.add_many_confirmed(1200).await;
    sqlx::query("UPDATE subscribers SET status = 'unsubscribed' WHERE email LIKE 'reader1%'")
        .execute(&old.db)
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET status = 'bounced' WHERE email LIKE 'reader2%'")
        .execute(&old.db)
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET status = 'complained' WHERE email LIKE 'reader3%'")
        .execute(&old.db)
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET status = 'pending', name = 'Quote \"me\", please' WHERE email LIKE 'reader4%'")
        .execute(&old.db)
        .await
        .unwrap();
    let export = old.admin_get("/admin/subscribers/export").send().await.unwrap();
    assert_eq!(export.status(), 200);
    assert!(export.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = export.text().await.unwrap();
    assert!(csv.starts_with("email,name,status,created_at,lists,attributes\n"));
    assert_eq!(csv.lines().count(), 1201);
    let cli = old.cli(&["subscribers", "export"], None);
    assert_eq!(text(&cli.stdout), csv);
    let confirmed = old.cli(&["subscribers", "export", "--status", "confirmed"], None);
    assert_eq!(
        text(&confirmed.stdout).lines().count() - 1,
        count(&old, "SELECT count(*) FROM subscribers WHERE status = 'confirmed'").await as usize
    );

    let new = TestApp::spawn().await;
    let out =
        new.cli(&["subscribers", "import", "-", "--confirmed", "--consent", "moved from the old server"], Some(&csv));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "imported 1200, existing 0, skipped 0, invalid 0");
    let everyone = "SELECT email, name, status::text, created_at FROM subscribers ORDER BY email";
    type Row = (String, Option<String>, String, chrono::DateTime<chrono::Utc>);
    let before: Vec<Row> = sqlx::query_as(everyone).fetch_all(&old.db).await.unwrap();
    let after: Vec<Row> = sqlx::query_as(everyone).fetch_all(&new.db).await.unwrap();
    assert_eq!(before, after);
    // Only the pending ones were asked to confirm.
    assert_eq!(
        count(&new, "SELECT count(*) FROM deliveries").await,
        count(&old, "SELECT count(*) FROM subscribers WHERE status = 'pending'").await
    );
}

#[tokio::test]
async fn a_persons_data_shows_consent_mail_and_bounces_but_no_token_hashes() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("ann@example.com", "Ann").await;
    let page = app.get(&link).await.text().await.unwrap();
    let token = crate::support::token_of(&link);
    assert!(page.contains(&token));
    app.post_form("/subscriptions/confirm", &[("token", &token)]).await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let response = app.admin_get("/admin/subscribers/ANN@example.com").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let data: serde_json::Value = response.json().await.unwrap();
    assert_eq!(data["subscriber"]["email"], "ann@example.com");
    assert_eq!(data["subscriber"]["status"], "confirmed");
    let actions: Vec<&str> =
        data["consent"].as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["signup", "confirm"]);
    assert_eq!(data["consent"][0]["ip"], "127.0.0.1");
    assert_eq!(data["deliveries"][0]["kind"], "confirmation");
    assert_eq!(data["deliveries"][0]["status"], "sent");
    assert!(data["bounces"].as_array().unwrap().is_empty());
    let raw = data.to_string();
    assert!(!raw.contains("hash") && !raw.contains(&token), "{raw}");

    let cli = app.cli(&["subscribers", "show", "ann@example.com"], None);
    let shown: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(shown["subscriber"], data["subscriber"]);
    assert_eq!(app.admin_get("/admin/subscribers/nobody@example.com").send().await.unwrap().status(), 404);
    assert_eq!(app.cli(&["subscribers", "show", "nobody@example.com"], None).status.code(), Some(2));
}

/// Every text, bytea and other character column of every table, as text, holding `needle`.
async fn traces_of(app: &TestApp, needle: &str) -> Vec<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public'
           AND (data_type IN ('text', 'bytea', 'character varying', 'character', 'json', 'jsonb', 'inet')
                OR data_type = 'ARRAY' OR data_type = 'USER-DEFINED')",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(columns.len() > 10, "{columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        let sql = format!(
            "SELECT count(*) FROM \"{table}\" WHERE position(lower($1) in lower(\"{column}\"::text)) > 0
                OR position(convert_to(lower($1), 'UTF8') in convert_to(lower(\"{column}\"::text), 'UTF8')) > 0"
        );
        let n: i64 = sqlx::query_scalar(&sql).bind(needle).fetch_one(&app.db).await.unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

#[tokio::test]
async fn an_erased_person_leaves_no_trace_and_one_who_left_cannot_be_imported_again() {
    let app = TestApp::spawn().await;
    // Ann signed up, confirmed, got a digest, bounced once, then unsubscribed.
    let (link, _) = app.confirmation_link_for("Ann.Person@example.com", "Ann").await;
    app.post_form("/subscriptions/confirm", &[("token", &crate::support::token_of(&link))]).await;
    app.add_confirmed(&["other@example.com"]).await;
    app.add_article("News", "Body", None).await;
    let digest = app.admin_post("/admin/digests").json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(digest.status(), 202);
    app.wait_until_queue_settled(Duration::from_secs(15)).await;
    let ann: uuid::Uuid = sqlx::query_scalar("SELECT id FROM subscribers WHERE email = 'Ann.Person@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO bounces (subscriber_id, kind, status, diagnostic, source)
         VALUES ($1, 'soft', '4.2.2', '452 4.2.2 <Ann.Person@example.com>: mailbox full', 'smtp')",
    )
    .bind(ann)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE deliveries SET last_error = '452 mailbox of Ann.Person@example.com full' WHERE subscriber_id = $1",
    )
    .bind(ann)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = now() WHERE id = $1")
        .bind(ann)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(!traces_of(&app, "ann.person@example.com").await.is_empty());

    let erased = app
        .client
        .delete(format!("{}/admin/subscribers/ann.person@EXAMPLE.com", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    assert_eq!(traces_of(&app, "ann.person@example.com").await, Vec::<String>::new());
    assert_eq!(traces_of(&app, "Ann.Person").await, Vec::<String>::new());
    assert_eq!(count(&app, "SELECT count(*) FROM suppressions").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM subscribers").await, 1);

    // Back on an old list: not added again, whatever the case.
    let out = app.cli(&["subscribers", "import", "-"], Some("email\nANN.PERSON@example.com\nnew@example.com\n"));
    assert_eq!(text(&out.stdout).trim(), "imported 1, existing 0, skipped 1, invalid 0");
    let add = app
        .admin_post("/admin/subscribers")
        .json(&serde_json::json!({"email": "ann.person@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 409);
    // Someone who never left is erased without a trace at all.
    let gone = app.cli(&["subscribers", "erase", "new@example.com"], None);
    assert!(gone.status.success(), "{}", text(&gone.stderr));
    assert_eq!(count(&app, "SELECT count(*) FROM suppressions").await, 1);
    assert_eq!(traces_of(&app, "new@example.com").await, Vec::<String>::new());
    assert_eq!(app.cli(&["subscribers", "erase", "new@example.com"], None).status.code(), Some(2));
    let missing = app
        .client
        .delete(format!("{}/admin/subscribers/new@example.com", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_console_adds_imports_exports_shows_and_erases() {
    let app = TestApp::spawn().await;
    let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let get = |path: String| app.client.get(format!("{}{path}", app.address)).header("cookie", &session).send();
    let post = |path: String, fields: Vec<(&str, String)>| {
        app.client
            .post(format!("{}{path}", app.address))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
    };
    let list = get("/admin/ui/subscribers".into()).await.unwrap().text().await.unwrap();
    assert!(list.contains("csrf"), "{list}");
    let csrf = csrf_of(&list);
    assert!(list.contains("action=\"/admin/ui/subscribers/import\"") && list.contains("/admin/ui/subscribers/export"));
    assert_eq!(list.matches("id=\"import\"").count(), 1, "the forms appear once, in the page, not in its title");
    let title = &list[list.find("<title>").unwrap() + "<title>".len()..list.find("</title>").unwrap()];
    assert!(!title.contains('<'), "a plain title: {title}");

    let imported = post(
        "/admin/ui/subscribers/import".into(),
        vec![
            ("csrf", csrf.clone()),
            ("csv", "email,name\nann@example.com,Ann\nbroken\n".into()),
            ("consent", String::new()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(imported.status(), 200);
    let page = imported.text().await.unwrap();
    assert!(page.contains("imported 1, existing 0, skipped 0, invalid 1"), "{page}");
    assert!(page.contains("line 3: not a valid email address"));
    assert!(page.contains("href=\"/admin/ui/subscribers/ann%40example.com\""), "rows link to the person's page");
    assert_eq!(count(&app, "SELECT count(*) FROM imports WHERE interface = 'console'").await, 1);

    let refused = post(
        "/admin/ui/subscribers".into(),
        vec![("csrf", csrf.clone()), ("email", "bea@example.com".into()), ("confirmed", "on".into())],
    )
    .await
    .unwrap();
    assert!(refused.text().await.unwrap().contains("consent note"));
    let added = post(
        "/admin/ui/subscribers".into(),
        vec![
            ("csrf", csrf.clone()),
            ("email", "bea@example.com".into()),
            ("name", "Bea".into()),
            ("confirmed", "on".into()),
            ("consent", "asked us at the fair".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(added.status(), 303);
    assert_eq!(added.headers()["location"], "/admin/ui/subscribers/bea%40example.com");

    let person = get("/admin/ui/subscribers/bea%40example.com".into()).await.unwrap();
    assert_eq!(person.status(), 200);
    let person = person.text().await.unwrap();
    assert!(person.contains("asked us at the fair") && person.contains("confirmed"));

    let export = get("/admin/ui/subscribers/export?status=confirmed".into()).await.unwrap();
    assert_eq!(export.headers()["content-disposition"], "attachment; filename=\"subscribers.csv\"");
    let csv = export.text().await.unwrap();
    assert!(csv.contains("bea@example.com,Bea,confirmed,") && !csv.contains("ann@"), "{csv}");

    // Erasing takes a second step, and the form needs the session's CSRF token.
    let confirm = get("/admin/ui/subscribers/bea%40example.com/erase".into()).await.unwrap().text().await.unwrap();
    assert!(confirm.contains("Erase for good"));
    let forged = post("/admin/ui/subscribers/bea%40example.com/erase".into(), vec![]).await.unwrap();
    assert_eq!(forged.status(), 400);
    let erased =
        post("/admin/ui/subscribers/bea%40example.com/erase".into(), vec![("csrf", csrf.clone())]).await.unwrap();
    assert_eq!(erased.status(), 303);
    assert_eq!(app.status_of("bea@example.com").await, None);
    // The list pages through its results (and keeps the search in its links).
    app.add_many_confirmed(60).await;
    let paged = get("/admin/ui/subscribers?q=reader".into()).await.unwrap();
    assert_eq!(paged.status(), 200);
    assert!(paged.text().await.unwrap().contains("q=reader&amp;status=&amp;page=2"));
    let after = get("/admin/ui/subscribers?erased=1".into()).await.unwrap().text().await.unwrap();
    assert!(after.contains("Erased"));
    assert_eq!(get("/admin/ui/subscribers/bea%40example.com".into()).await.unwrap().status(), 404);
}

/// Whatever names a person (their data, the list, an add or an import's answer, the export, the
/// console's pages, a 404 for an address) is never kept by a cache, shared or private.
#[tokio::test]
async fn answers_that_name_a_person_are_never_cached() {
    let app = TestApp::spawn().await;
    let added =
        app.admin_post("/admin/subscribers").json(&serde_json::json!({"email": "ann@example.com"})).send().await;
    let import = app
        .admin_post("/admin/subscribers/import")
        .header("content-type", "text/csv")
        .body("email\nbea@example.com\nbroken\n")
        .send()
        .await;
    let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let console = |path: &str| app.client.get(format!("{}{path}", app.address)).header("cookie", &session).send();
    let responses = [
        ("add", added.unwrap()),
        ("import", import.unwrap()),
        ("person", app.admin_get("/admin/subscribers/ann@example.com").send().await.unwrap()),
        ("unknown person", app.admin_get("/admin/subscribers/nobody@example.com").send().await.unwrap()),
        ("list", app.admin_get("/admin/subscribers").send().await.unwrap()),
        ("export", app.admin_get("/admin/subscribers/export").send().await.unwrap()),
        ("console person page", console("/admin/ui/subscribers/ann%40example.com").await.unwrap()),
        ("console export", console("/admin/ui/subscribers/export").await.unwrap()),
    ];
    for (what, response) in responses {
        assert!(response.status().as_u16() < 500, "{what}: {}", response.status());
        let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(cache.as_deref(), Some("no-store"), "{what}");
    }
}

#[tokio::test]
async fn a_signup_time_postgres_cannot_store_is_that_lines_error_and_the_rest_is_imported() {
    let app = TestApp::spawn().await;
    let list = "email,name,created_at\n\
                ann@example.com,Ann,2024-03-01\n\
                year.zero@example.com,Zero,0000-01-01\n\
                year.ten.thousand@example.com,Far,9999-12-31T23:59:59-23:59\n\
                bea@example.com,Bea,2025-01-02T10:00:00Z\n";
    let response = app
        .admin_post("/admin/subscribers/import?confirmed=true&consent=old%20list")
        .header("content-type", "text/csv")
        .body(list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["invalid_count"], 2, "{report}");
    assert_eq!(report["invalid"][0]["line"], 3, "{report}");
    assert_eq!(report["invalid"][1]["line"], 4, "{report}");
    for bad in report["invalid"].as_array().unwrap() {
        assert!(bad["error"].as_str().unwrap().starts_with("created_at is "), "{report}");
    }
    assert_eq!(app.status_of("bea@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(app.status_of("year.zero@example.com").await, None);

    // The command prints each line's error and imports the rest too.
    let cli = app.cli(&["subscribers", "import", "-"], Some(&list.replace("ann@", "cid@").replace("bea@", "dee@")));
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    assert_eq!(text(&cli.stdout).trim(), "imported 2, existing 0, skipped 0, invalid 2");
    let complaints = text(&cli.stderr);
    assert!(complaints.contains("line 3: created_at is before 1970"), "{complaints}");
    assert!(complaints.contains("line 4: created_at is in the future"), "{complaints}");
}

#[tokio::test]
async fn a_list_saved_with_mac_line_endings_imports_every_row() {
    let app = TestApp::spawn().await;
    // Excel's "CSV (Macintosh)": lines end with CR alone; well over the 64 KiB a line may have.
    let mut list = "email,name\r".to_owned();
    for i in 0..3000 {
        list.push_str(&format!("person{i}@example.com,Person {i}\r"));
    }
    assert!(list.len() > 64 * 1024);
    let response = app
        .admin_post("/admin/subscribers/import?confirmed=true&consent=a%20list%20from%20a%20Mac")
        .header("content-type", "text/csv")
        .body(format!("{list}not-an-address,Nobody\r"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["imported"], 3000, "{report}");
    assert_eq!(report["invalid"], serde_json::json!([{"line": 3002, "error": "not a valid email address"}]));
    assert_eq!(count(&app, "SELECT count(*) FROM subscribers WHERE name = 'Person 2999'").await, 1);
    let cli = app.cli(
        &["subscribers", "import", "-", "--confirmed", "--consent", "a list from a Mac"],
        Some(&list.replace("person", "other")),
    );
    assert_eq!(text(&cli.stdout).trim(), "imported 3000, existing 0, skipped 0, invalid 0", "{}", text(&cli.stderr));
}
