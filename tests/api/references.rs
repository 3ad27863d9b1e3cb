//! What a delivery's foreign keys promise, pinned down for whoever replaces them with something
//! cheaper (tried: a check once per statement, see docs/performance.md): the refusals, the
//! cascade, and no row left behind when an erasure races an insert.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{Options, TestApp};

const FOREIGN_KEY_VIOLATION: &str = "23503";

async fn app() -> TestApp {
    TestApp::spawn_with(Options { with_worker: false, ..Options::default() }).await
}

async fn subscriber(app: &TestApp, email: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "WITH s AS (INSERT INTO subscribers (id, email, status) VALUES ($1, $2, 'confirmed') RETURNING id)
         INSERT INTO memberships (list_id, subscriber_id, status)
         SELECT l.id, s.id, 'confirmed' FROM s, lists l WHERE l.slug = 'default'",
    )
    .bind(id)
    .bind(email)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

async fn digest(app: &TestApp) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO digests (id, subject, recipients, state, started_at, list_id)
         VALUES ($1, 'News', 0, 'sending', now(), (SELECT id FROM lists WHERE slug = 'default'))",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

const INSERT: &str = "INSERT INTO deliveries (kind, subscriber_id, digest_id, status)
     SELECT CASE WHEN d IS NULL THEN 'confirmation' ELSE 'digest' END::delivery_kind, s, d, 'sent'
     FROM unnest($1::uuid[], $2::uuid[]) AS r(s, d)";

async fn insert(conn: &mut PgConnection, rows: &[(Uuid, Option<Uuid>)]) -> Result<u64, String> {
    let subscribers: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let digests: Vec<Option<Uuid>> = rows.iter().map(|r| r.1).collect();
    match sqlx::query(INSERT).bind(&subscribers).bind(&digests).execute(conn).await {
        Ok(done) => Ok(done.rows_affected()),
        Err(sqlx::Error::Database(e)) => Err(e.code().unwrap_or_default().into_owned()),
        Err(other) => panic!("{other}"),
    }
}

async fn rows_of(app: &TestApp, subscriber: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE subscriber_id = $1")
        .bind(subscriber)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delivery_naming_nobody_or_no_digest_is_refused_with_the_rest_of_its_statement() {
    let app = app().await;
    let mut conn = PgConnection::connect(&app.database_url()).await.unwrap();
    let (ann, bob, news) =
        (subscriber(&app, "ann@example.com").await, subscriber(&app, "bob@example.com").await, digest(&app).await);

    assert_eq!(insert(&mut conn, &[(ann, None), (bob, Some(news))]).await, Ok(2));
    // One row that names no one takes its whole statement with it, as a foreign key does.
    let nobody = Uuid::new_v4();
    assert_eq!(insert(&mut conn, &[(ann, None), (nobody, None)]).await, Err(FOREIGN_KEY_VIOLATION.into()));
    assert_eq!(insert(&mut conn, &[(ann, Some(Uuid::new_v4()))]).await, Err(FOREIGN_KEY_VIOLATION.into()));
    assert_eq!(rows_of(&app, ann).await, 1);

    // The cascade: a digest or a subscriber deleted takes its deliveries along.
    sqlx::query("DELETE FROM digests WHERE id = $1").bind(news).execute(&app.db).await.unwrap();
    assert_eq!(rows_of(&app, bob).await, 0);
    sqlx::query("DELETE FROM subscribers WHERE id = ANY($1)").bind([ann, bob]).execute(&app.db).await.unwrap();
    assert_eq!(rows_of(&app, ann).await, 0);
}

#[tokio::test]
async fn an_erasure_racing_an_insert_leaves_no_row_behind_whichever_commits_first() {
    let app = app().await;
    let (first, second) = (subscriber(&app, "first@example.com").await, subscriber(&app, "second@example.com").await);

    // The insert first: the erasure waits for it, then removes the row it wrote.
    let mut inserting = PgConnection::connect(&app.database_url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut inserting).await.unwrap();
    assert_eq!(insert(&mut inserting, &[(first, None)]).await, Ok(1));
    let db = app.db.clone();
    let erasure = tokio::spawn(async move {
        sqlx::query("DELETE FROM subscribers WHERE id = $1").bind(first).execute(&db).await.unwrap().rows_affected()
    });
    app.wait_for_lock_waiters(1).await;
    sqlx::query("COMMIT").execute(&mut inserting).await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), erasure).await.unwrap().unwrap(), 1);
    assert_eq!(rows_of(&app, first).await, 0);

    // The erasure first: the insert waits for it, then is refused.
    let mut erasing = PgConnection::connect(&app.database_url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut erasing).await.unwrap();
    sqlx::query("DELETE FROM subscribers WHERE id = $1").bind(second).execute(&mut erasing).await.unwrap();
    let url = app.database_url();
    let late = tokio::spawn(async move {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        insert(&mut conn, &[(second, None)]).await
    });
    app.wait_for_lock_waiters(1).await;
    sqlx::query("COMMIT").execute(&mut erasing).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), late).await.unwrap().unwrap();
    assert_eq!(refused, Err(FOREIGN_KEY_VIOLATION.into()));
    assert_eq!(rows_of(&app, second).await, 0);
}
