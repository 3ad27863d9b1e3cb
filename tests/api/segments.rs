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
    let resolved = segments::resolve(&app.db, &segment).await.unwrap().unwrap();
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
    let unknown = segments::resolve(&app.db, &segment).await.unwrap().unwrap_err();
    assert_eq!(unknown.slug, "nope");
    assert_eq!(unknown.position, 20);
}
