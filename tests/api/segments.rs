//! Segments against real Postgres: every field and operator on a small set of people, the
//! refusals with their positions, and a digest that reaches exactly the segment.

use broadsheet::domain::Segment;
use broadsheet::store::segments;

use crate::support::TestApp;

/// Ann, Bob and Cy are confirmed on `default`; Dee is pending. Only Ann is on `weekly` (Bob left it).
async fn people(app: &TestApp) {
    sqlx::raw_sql(
        r#"
        INSERT INTO lists (slug, name) VALUES ('weekly', 'Weekly');
        INSERT INTO subscribers (id, email, name, status, created_at, confirmed_at, attributes) VALUES
          (gen_random_uuid(), 'ann@example.com', 'Ann', 'confirmed', '2026-01-10T12:00:00Z', now() - interval '60 days',
           '{"plan": "pro", "seats": 5, "vip": true, "country": "de"}'),
          (gen_random_uuid(), 'bob@example.com', 'Bob_%', 'confirmed', '2026-03-01T08:00:00Z', now() - interval '10 days',
           '{"plan": "free", "seats": "5", "note": "50% off"}'),
          (gen_random_uuid(), 'cy@example.org', NULL, 'confirmed', now(), now() - interval '40 days',
           '{"plan": "Pro", "seats": 12.5}'),
          (gen_random_uuid(), 'dee@example.com', 'Dee', 'pending', now(), NULL, '{}');
        INSERT INTO memberships (list_id, subscriber_id, status)
          SELECT (SELECT id FROM lists WHERE slug = 'default'), id,
                 CASE WHEN status = 'confirmed' THEN 'confirmed' ELSE 'pending' END::membership_status
          FROM subscribers;
        INSERT INTO memberships (list_id, subscriber_id, status)
          SELECT (SELECT id FROM lists WHERE slug = 'weekly'), id,
                 CASE WHEN email = 'ann@example.com' THEN 'confirmed' ELSE 'unsubscribed' END::membership_status
          FROM subscribers WHERE email IN ('ann@example.com', 'bob@example.com');
        "#,
    )
    .execute(&app.db)
    .await
    .unwrap();
}

async fn list_id(app: &TestApp, slug: &str) -> i32 {
    sqlx::query_scalar("SELECT id FROM lists WHERE slug = $1").bind(slug).fetch_one(&app.db).await.unwrap()
}

/// Recipients on `list` matching `expr`, through the store.
async fn count(app: &TestApp, list: &str, expr: &str) -> i64 {
    let segment = Segment::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let resolved = segments::resolve(&app.db, &segment).await.unwrap();
    assert_eq!(resolved.unknown(), None);
    segments::count(&app.db, list_id(app, list).await, Some(&resolved)).await.unwrap()
}

#[tokio::test]
async fn every_field_and_operator_selects_the_right_people() {
    let app = TestApp::spawn().await;
    people(&app).await;
    let cases: &[(&str, i64)] = &[
        // attributes: strings, numbers by JSON type, booleans, LIKE escaping
        (r#"attributes.plan = "pro""#, 1),
        (r#"attributes.plan != "pro""#, 2),
        ("attributes.seats = 5", 1),
        (r#"attributes.seats = "5""#, 1),
        ("attributes.seats = 5.0", 1),
        ("attributes.seats > 4", 2),
        ("attributes.seats >= 12.5", 1),
        ("attributes.seats < 6", 1),
        ("attributes.seats <= 5", 1),
        (r#"attributes.country > "a""#, 1),
        (r#"attributes.country < "a""#, 0),
        ("attributes.vip = true", 1),
        ("attributes.vip = false", 0),
        ("attributes.vip exists", 1),
        ("not attributes.vip exists", 2),
        (r#"attributes.note contains "0%""#, 1),
        (r#"attributes.note contains "0_""#, 0),
        (r#"attributes.plan starts_with "PR""#, 2),
        (r#"attributes.plan in ["pro", "free"]"#, 2),
        (r#"attributes.missing = "x""#, 0),
        (r#"attributes.missing != "x""#, 3),
        // email and name
        (r#"email = "ANN@example.com""#, 1),
        (r#"email != "ann@example.com""#, 2),
        (r#"email contains "example.org""#, 1),
        (r#"email starts_with "b""#, 1),
        (r#"email > "b""#, 2),
        (r#"email in ["ann@example.com", "cy@example.org"]"#, 2),
        (r#"name = "Ann""#, 1),
        (r#"name contains "_%""#, 1),
        (r#"name contains "_""#, 1),
        (r#"name < "B""#, 1),
        ("name exists", 2),
        ("not name exists", 1),
        // status (only confirmed addresses are recipients)
        (r#"status = "confirmed""#, 3),
        (r#"status != "confirmed""#, 0),
        (r#"status in ["pending", "bounced"]"#, 0),
        // dates, absolute (a whole UTC day) and relative
        ("created_at < 2026-02-01", 1),
        ("created_at = 2026-01-10", 1),
        ("created_at != 2026-01-10", 2),
        ("created_at <= 2026-03-01", 2),
        ("created_at > 2026-03-01", 1),
        ("created_at >= 2026-03-01", 2),
        ("confirmed_at < -30d", 2),
        ("confirmed_at > -30d", 1),
        ("confirmed_at >= -45d", 2),
        ("confirmed_at exists", 3),
        // list memberships
        (r#"list.weekly = "confirmed""#, 1),
        (r#"list.weekly = "unsubscribed""#, 1),
        (r#"list.weekly != "confirmed""#, 2),
        (r#"list.weekly in ["confirmed", "pending"]"#, 1),
        ("list.weekly exists", 2),
        ("list.default exists", 3),
        // combinations
        (r#"attributes.plan = "pro" and confirmed_at < -30d and not list.weekly = "confirmed""#, 0),
        (r#"(attributes.plan = "pro" or attributes.plan = "Pro") and confirmed_at < -30d"#, 2),
        (r#"not (attributes.plan = "pro" or list.weekly exists)"#, 1),
        (r#"attributes.plan = "free" or attributes.seats > 10 and name exists"#, 1),
    ];
    let mut wrong = Vec::new();
    for (expr, expected) in cases {
        let got = count(&app, "default", expr).await;
        if got != *expected {
            wrong.push(format!("{expr}: {got}, expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // A segment narrows the list it is applied to.
    assert_eq!(count(&app, "weekly", "attributes.vip = true").await, 1);
    assert_eq!(count(&app, "weekly", r#"attributes.plan = "free""#).await, 0);
}

#[tokio::test]
async fn an_unknown_list_is_named_with_its_position() {
    let app = TestApp::spawn().await;
    let segment = Segment::parse(r#"attributes.a = 1 or list.nope = "confirmed""#).unwrap();
    let resolved = segments::resolve(&app.db, &segment).await.unwrap();
    let unknown = resolved.unknown().unwrap();
    assert_eq!(unknown.slug, "nope");
    assert_eq!(unknown.position, 20);
}

async fn count_over_http(app: &TestApp, query: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = app.admin_get("/admin/segments/count").query(query).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_count_endpoint_previews_a_segment() {
    let app = TestApp::spawn().await;
    people(&app).await;
    let (status, body) =
        count_over_http(&app, &[("segment", r#"attributes.plan = "pro" or list.weekly exists"#)]).await;
    assert_eq!((status, body["recipients"].as_i64()), (200, Some(2)), "{body}");
    assert_eq!(count_over_http(&app, &[]).await.1["recipients"], 3);
    assert_eq!(count_over_http(&app, &[("list", "weekly"), ("segment", "")]).await.1["recipients"], 1);
    let (status, body) = count_over_http(&app, &[("list", "nope")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("list")), "{body}");
}

/// A refused expression: 422 naming the segment field and the byte offset where it goes wrong.
async fn refused(app: &TestApp, expr: &str) -> (usize, String) {
    let (status, body) = count_over_http(app, &[("segment", expr)]).await;
    assert_eq!(status, 422, "{expr}: {body}");
    assert_eq!(body["field"], "segment", "{body}");
    (body["position"].as_u64().unwrap() as usize, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn bad_expressions_are_422s_that_say_where() {
    let app = TestApp::spawn().await;
    people(&app).await;
    let (at, error) = refused(&app, r#"attributes.plan = "pro" and plan = "x""#).await;
    assert_eq!(at, 28);
    assert!(error.contains("Unknown field \"plan\""), "{error}");
    let (at, error) = refused(&app, "created_at < \"last week\"").await;
    assert_eq!(at, 13);
    assert!(error.contains("date"), "{error}");
    let (at, error) = refused(&app, r#"status = "confirmed" and list.nope = "confirmed""#).await;
    assert_eq!(at, 25);
    assert!(error.contains("\"nope\""), "{error}");
    let (at, error) = refused(&app, &format!("{}email = \"a\"{}", "(".repeat(1000), ")".repeat(1000))).await;
    assert_eq!(at, 32);
    assert!(error.contains("nested"), "{error}");
    let (at, error) = refused(&app, &format!("email = \"{}\"", "a".repeat(5000))).await;
    assert_eq!(at, 4096);
    assert!(error.contains("4096"), "{error}");
    let (at, _) = refused(&app, "email = ").await;
    assert_eq!(at, 8);
    // 30 kB in a query string (more is no URI at all): refused before or by the parser, never a
    // 500. The 100 kB expression goes in a digest's body (`a_digest_with_a_segment…`).
    let huge = format!("email = \"{}\"", "a".repeat(30_000));
    let (status, _) = count_over_http(&app, &[("segment", &huge)]).await;
    assert!((400..500).contains(&status), "{status}");
}

#[tokio::test]
async fn attributes_are_set_checked_and_shown() {
    let app = TestApp::spawn().await;
    people(&app).await;
    let patch = |body: serde_json::Value| {
        app.client
            .patch(format!("{}/admin/subscribers/ann@example.com", app.address))
            .bearer_auth(crate::support::ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let response = patch(serde_json::json!({"attributes": {"plan": "team", "seats": 9}})).await.unwrap();
    assert_eq!(response.status(), 200);
    let person: serde_json::Value = response.json().await.unwrap();
    assert_eq!(person["attributes"], serde_json::json!({"plan": "team", "seats": 9}));
    assert_eq!(person["subscriber"]["name"], "Ann");
    let shown: serde_json::Value =
        app.admin_get("/admin/subscribers/ANN@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["attributes"]["plan"], "team");

    let before = shown["attributes"].clone();
    for (body, wanted) in [
        (serde_json::json!({"attributes": {"Plan": "x"}}), "\"Plan\""),
        (serde_json::json!({"attributes": {"tags": ["a"]}}), "\"tags\""),
        (serde_json::json!({"attributes": ["a"]}), "object"),
        (serde_json::json!({"attributes": {"a": "x".repeat(20_000)}}), "8 KiB"),
        (serde_json::json!({"name": "x".repeat(200), "attributes": {"a": 1}}), "100"),
    ] {
        let response = patch(body).await.unwrap();
        assert_eq!(response.status(), 422);
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(wanted), "{error}");
    }
    // A megabyte of attributes: a 4xx, nothing changed.
    let big: serde_json::Map<String, serde_json::Value> =
        (0..40_000).map(|i| (format!("k{i}"), serde_json::Value::from("xxxxxxxxxxxxx"))).collect();
    let response = patch(serde_json::json!({ "attributes": big })).await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let shown: serde_json::Value =
        app.admin_get("/admin/subscribers/ann@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["attributes"], before);
    let response = app
        .client
        .patch(format!("{}/admin/subscribers/nobody@example.com", app.address))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_digest_with_a_segment_reaches_exactly_the_matching_confirmed_members() {
    let app = TestApp::spawn().await;
    people(&app).await;
    app.add_article("Pro news", "For the pros.", None).await;
    let digests =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM digests").fetch_one(&app.db).await.unwrap() };

    // Refused segments create nothing: 100 kB, an unknown list, a type mismatch.
    for (segment, position) in [
        (format!("email = \"{}\"", "a".repeat(100_000)), 4096),
        (r#"list.nope = "confirmed""#.to_owned(), 0),
        (r#"attributes.plan = "pro" and created_at > "monday""#.to_owned(), 41),
    ] {
        let response =
            app.admin_post("/admin/digests").json(&serde_json::json!({ "segment": segment })).send().await.unwrap();
        assert_eq!(response.status(), 422);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!((body["field"].as_str(), body["position"].as_u64()), (Some("segment"), Some(position)), "{body}");
    }
    assert_eq!(digests().await, 0);

    // Ann and Cy have a pro plan (in either case); Dee would match too but is pending.
    let segment = r#"attributes.plan starts_with "pro" or email = "dee@example.com""#;
    let response =
        app.admin_post("/admin/digests").json(&serde_json::json!({ "segment": segment })).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["recipients"], 2, "{created}");
    let stored: Option<String> = sqlx::query_scalar("SELECT segment FROM digests").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored.as_deref(), Some(segment));
    app.wait_until_queue_settled(std::time::Duration::from_secs(20)).await;
    assert_eq!(app.sink().count_for("ann@example.com"), 1);
    assert_eq!(app.sink().count_for("cy@example.org"), 1);
    assert_eq!(app.sink().count_for("bob@example.com"), 0);
    assert_eq!(app.sink().count_for("dee@example.com"), 0);
}

#[tokio::test]
async fn a_scheduled_digest_applies_its_segment_when_it_starts() {
    let app = TestApp::spawn().await;
    people(&app).await;
    app.add_article("Later", "Soon.", None).await;
    let send_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let response = app
        .admin_post("/admin/digests")
        .json(&serde_json::json!({ "segment": "attributes.vip = true", "send_at": send_at }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let created: serde_json::Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    crate::support::wait_until(std::time::Duration::from_secs(20), "the scheduled digest to start", || async {
        app.digest_progress(&id).await["status"] != "scheduled"
    })
    .await;
    app.wait_until_queue_settled(std::time::Duration::from_secs(20)).await;
    assert_eq!(app.sink().count_for("ann@example.com"), 1);
    assert_eq!(app.sink().count_for("bob@example.com"), 0);
    assert_eq!(app.sink().count_for("cy@example.org"), 0);
}

async fn import(app: &TestApp, csv: &str) -> (u16, serde_json::Value) {
    let response = app
        .admin_post("/admin/subscribers/import?confirmed=true&consent=fair")
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn imports_turn_other_columns_into_attributes_and_exports_carry_them() {
    let app = TestApp::spawn().await;
    let (status, report) =
        import(&app, "email,name,plan,Shoe size\nann@example.com,Ann,pro,38\nbob@example.com,Bob,,\n").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    let ann: serde_json::Value =
        app.admin_get("/admin/subscribers/ann@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(ann["attributes"], serde_json::json!({"plan": "pro", "shoe_size": "38"}));
    assert_eq!(count(&app, "default", r#"attributes.plan = "pro" and attributes.shoe_size = "38""#).await, 1);

    // A header that cannot be a key refuses the file; a row whose attributes are too large is a bad line.
    let (status, refused) = import(&app, "email,Plan!\ncy@example.com,x\n").await;
    assert_eq!((status, refused["field"].as_str()), (422, Some("file")), "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("\"plan!\""), "{refused}");
    let (_, report) = import(&app, &format!("email,note\ndee@example.com,{}\n", "x".repeat(9000))).await;
    assert_eq!(report["imported"], 0, "{report}");
    assert!(report["invalid"][0]["error"].as_str().unwrap().contains("8 KiB"), "{report}");

    // The export's attributes column (JSON) comes back in through another import.
    let csv = app.admin_get("/admin/subscribers/export").send().await.unwrap().text().await.unwrap();
    assert!(csv.starts_with("email,name,status,created_at,lists,attributes\n"), "{csv}");
    assert!(csv.contains(r#""{""plan"": ""pro"", ""shoe_size"": ""38""}""#), "{csv}");
    let other = TestApp::spawn().await;
    let (status, report) = import(&other, &csv).await;
    assert_eq!((status, report["imported"].as_i64()), (200, Some(2)), "{report}");
    let ann: serde_json::Value =
        other.admin_get("/admin/subscribers/ann@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(ann["attributes"], serde_json::json!({"plan": "pro", "shoe_size": "38"}));
}

#[tokio::test]
async fn adding_a_subscriber_takes_attributes_and_refuses_bad_ones_whole() {
    let app = TestApp::spawn().await;
    let add = |body: serde_json::Value| app.admin_post("/admin/subscribers").json(&body).send();
    let response =
        add(serde_json::json!({"email": "ann@example.com", "attributes": {"plan": "pro", "seats": 3}})).await.unwrap();
    assert_eq!(response.status(), 201);
    let ann: serde_json::Value =
        app.admin_get("/admin/subscribers/ann@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(ann["attributes"], serde_json::json!({"plan": "pro", "seats": 3}));

    let big: serde_json::Map<String, serde_json::Value> =
        (0..40_000).map(|i| (format!("k{i}"), serde_json::Value::from("xxxxxxxxxxxxx"))).collect();
    for body in [
        serde_json::json!({"email": "bob@example.com", "attributes": {"nested": {"a": 1}}}),
        serde_json::json!({"email": "bob@example.com", "attributes": "plan=pro"}),
        serde_json::json!({"email": "bob@example.com", "attributes": big}),
    ] {
        let response = add(body).await.unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    assert_eq!(app.status_of("bob@example.com").await, None, "nothing was added");
}

#[tokio::test]
async fn digest_templates_show_each_subscribers_own_attributes() {
    // An operator's digest templates that greet by plan: each mail is built for its reader.
    let dir = tempfile_dir();
    std::fs::create_dir_all(dir.join("digest")).unwrap();
    std::fs::write(
        dir.join("digest/body.txt.j2"),
        "Plan: {{ subscriber.attributes.plan | default('none') }}\n{{ unsubscribe_url }}\n{{ preferences_url }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("digest/body.html.j2"),
        "<p>Plan: {{ subscriber.attributes.plan | default('none') }}</p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(crate::support::Options {
        extra: vec![("BROADSHEET__MAIL__TEMPLATES_DIR".into(), dir.display().to_string())],
        ..Default::default()
    })
    .await;
    app.add_confirmed(&["pro@example.com", "free@example.com", "plain@example.com"]).await;
    sqlx::query("UPDATE subscribers SET attributes = '{\"plan\": \"pro <b>\"}' WHERE email = 'pro@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET attributes = '{\"plan\": \"free\"}' WHERE email = 'free@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    app.add_article("News", "Body.", None).await;
    let sent = app.admin_post("/admin/digests").json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(sent.status(), 202);
    app.wait_until_queue_settled(std::time::Duration::from_secs(20)).await;
    let mail_for = |email: &str| {
        app.sink().received().into_iter().find(|m| m.rcpt_to == vec![email.to_owned()]).expect("a digest")
    };
    assert!(mail_for("pro@example.com").text_body().contains("Plan: pro <b>"));
    assert!(mail_for("pro@example.com").html_body().contains("Plan: pro &lt;b&gt;"), "escaped in HTML");
    assert!(mail_for("free@example.com").text_body().contains("Plan: free"));
    assert!(mail_for("plain@example.com").text_body().contains("Plan: none"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("broadsheet-templates-{}", uuid::Uuid::new_v4()))
}
