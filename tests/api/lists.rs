//! Lists: made, changed and removed from the API and the command line; a digest to a list reaches
//! its confirmed members whose address is in good standing, and no one else.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::TestApp;

async fn member(app: &TestApp, email: &str, list: &str, status: &str) {
    sqlx::query(
        "INSERT INTO memberships (list_id, subscriber_id, status)
         SELECT l.id, s.id, $3::membership_status FROM lists l, subscribers s
         WHERE l.slug = $2 AND lower(s.email) = lower($1)
         ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = EXCLUDED.status",
    )
    .bind(email)
    .bind(list)
    .bind(status)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_operator_makes_a_list_changes_it_and_removes_it_through_the_api() {
    let app = TestApp::spawn().await;

    let lists: Value = app.admin_get("/admin/lists").send().await.unwrap().json().await.unwrap();
    assert_eq!(lists["lists"][0]["slug"], "default", "every Broadsheet has the default list");

    let made = app
        .admin_post("/admin/lists")
        .json(
            &json!({"slug": "weekly", "name": "Weekly digest", "description": "Every Monday", "double_opt_in": false}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["slug"], "weekly");
    assert_eq!(made["public"], true);
    assert_eq!(made["double_opt_in"], false);

    let again = app.admin_post("/admin/lists").json(&json!({"slug": "weekly", "name": "Again"})).send().await.unwrap();
    assert_eq!(again.status(), 409);

    for (body, field) in [
        (json!({"slug": "my list", "name": "Spaces"}), "slug"),
        (json!({"slug": "x".repeat(200), "name": "Long"}), "slug"),
        (json!({"slug": "ok"}), "name"),
        (json!({"slug": "cron", "name": "Cron", "schedule": "every monday"}), "schedule"),
        (json!({"slug": "flag", "name": "Flag", "public": "yes"}), "public"),
    ] {
        let refused = app.admin_post("/admin/lists").json(&body).send().await.unwrap();
        assert_eq!(refused.status(), 422, "{body}");
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["field"], field, "{error}");
    }

    let client = reqwest::Client::new();
    let changed = client
        .patch(format!("{}/admin/lists/weekly", app.address))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .json(&json!({"public": false, "schedule": "0 9 * * MON"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["public"], false);
    assert_eq!(changed["name"], "Weekly digest", "fields left out stay");
    assert_eq!(changed["schedule"], "0 9 * * MON");

    let one: Value = app.admin_get("/admin/lists/weekly").send().await.unwrap().json().await.unwrap();
    assert_eq!(one["members"]["confirmed"], 0);
    assert_eq!(app.admin_get("/admin/lists/nope").send().await.unwrap().status(), 404);

    let delete = |slug: &str| {
        client.delete(format!("{}/admin/lists/{slug}", app.address)).bearer_auth(crate::support::ADMIN_TOKEN).send()
    };
    assert_eq!(delete("default").await.unwrap().status(), 409, "the default list stays");
    assert_eq!(delete("weekly").await.unwrap().status(), 204);
    assert_eq!(delete("weekly").await.unwrap().status(), 404);
    // A name that cannot be a slug names no list: 404, as an unknown one.
    assert_eq!(delete("__main__").await.unwrap().status(), 404);
    assert_eq!(app.admin_get("/admin/lists/Not%20A%20Slug").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_digest_to_a_list_reaches_its_confirmed_members_in_good_standing_only() {
    let app = TestApp::spawn().await;
    let made = app.cli(&["lists", "add", "security", "--name", "Security notices", "--private"], None);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let bad = app.cli(&["lists", "add", "Bad Slug", "--name", "x"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slug"));

    app.add_confirmed(&["ann@example.com", "ben@example.com", "cat@example.com", "dan@example.com", "eve@example.com"])
        .await;
    member(&app, "ann@example.com", "security", "confirmed").await;
    member(&app, "ben@example.com", "security", "pending").await;
    member(&app, "cat@example.com", "security", "unsubscribed").await;
    member(&app, "dan@example.com", "security", "confirmed").await;
    // Bounced addresses are left out of every list.
    sqlx::query("UPDATE subscribers SET status = 'bounced' WHERE email = 'dan@example.com'")
        .execute(&app.db)
        .await
        .unwrap();

    let shown = app.cli(&["lists", "show", "security"], None);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("reachable     1"), "{shown}");

    app.add_article("Patch now", "A fix.", None).await;
    let sent = app
        .admin_post("/admin/digests")
        .json(&json!({"list": "security", "subject": "Security notice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!(sent["recipients"], 1);
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    assert_eq!(app.sink().count_for("ann@example.com"), 1);
    for other in ["ben@example.com", "cat@example.com", "dan@example.com", "eve@example.com"] {
        assert_eq!(app.sink().count_for(other), 0, "{other}");
    }

    // The same article has not gone to the default list yet: its next digest takes it.
    let default: Value = app.admin_post("/admin/digests").json(&json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(default["recipients"], 4, "everyone but the bounced address");

    let unknown = app.admin_post("/admin/digests").json(&json!({"list": "nope"})).send().await.unwrap();
    assert_eq!(unknown.status(), 422);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["field"], "list");

    // A list with a scheduled digest cannot be removed; one that had digests neither.
    let removed = app.cli(&["lists", "remove", "security"], None);
    assert_eq!(removed.status.code(), Some(2));
}

#[tokio::test]
async fn signing_up_joins_the_default_list_and_confirming_confirms_the_membership() {
    let app = TestApp::spawn().await;
    let (link, _) = app.confirmation_link_for("reader@example.com", "Reader").await;
    let data: Value =
        app.admin_get("/admin/subscribers/reader@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(data["memberships"][0]["list"], "default");
    assert_eq!(data["memberships"][0]["status"], "pending");

    let token = crate::support::token_of(&link);
    let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token)]).await;
    assert_eq!(confirmed.status(), 200);
    let data: Value =
        app.admin_get("/admin/subscribers/reader@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(data["memberships"][0]["status"], "confirmed");

    // Erasure takes the memberships with it.
    let client = reqwest::Client::new();
    let erased = client
        .delete(format!("{}/admin/subscribers/reader@example.com", app.address))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
}
