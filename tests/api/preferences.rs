//! The preference page every mail links to: a reader sees their lists, joins and leaves them,
//! changes their name, downloads or erases their data; a link that is not theirs changes nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::signup::{make_list, standings};
use crate::support::{TestApp, token_of};

const PREFERENCES: &str = "https://news.example.test/preferences";

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// Signs `email` up, confirms, and returns the preference link from the confirmation mail.
async fn confirmed_reader(app: &TestApp, email: &str, name: &str) -> String {
    let (link, mail) = app.confirmation_link_for(email, name).await;
    assert_eq!(app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await.status(), 200);
    assert!(mail.html_body().contains("Manage your subscription"), "in the HTML part too");
    app.local(&mail.link_to(PREFERENCES))
}

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

async fn name_of(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("SELECT name FROM subscribers WHERE email = $1").bind(email).fetch_one(&app.db).await.unwrap()
}

/// `(action, list)` of the person's consent records, oldest first.
async fn consent(app: &TestApp, email: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT c.action::text, c.list_slug FROM consent_events c JOIN subscribers s ON s.id = c.subscriber_id
         WHERE s.email = $1 ORDER BY c.id",
    )
    .bind(email)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn save(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    app.post_form("/preferences", fields).await
}

#[tokio::test]
async fn a_reader_sees_their_lists_joins_one_leaves_others_and_changes_their_name() {
    let app = TestApp::spawn().await;
    make_list(&app, "weekly", "Weekly digest", true, true).await;
    make_list(&app, "staff", "Staff notes", false, true).await;
    make_list(&app, "secret", "Secret list", false, true).await;
    let link = confirmed_reader(&app, "reader@example.com", "Reader").await;
    member(&app, "reader@example.com", "staff", "confirmed").await;
    let token = token_of(&link);

    let before = standings(&app, "reader@example.com").await;
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"value="Reader""#), "the name: {html}");
    assert!(html.contains(r#"value="default" checked"#), "on the default list");
    assert!(html.contains(r#"value="weekly">"#), "a public list they are not on, unchecked");
    assert!(html.contains(r#"value="staff" checked"#), "a private list they are on: they may leave it");
    assert!(!html.contains("secret"), "a private list they are not on is not offered");
    assert!(
        html.contains("Unsubscribe from everything") && html.contains("Download my data") && html.contains("Erase me")
    );
    assert_eq!(standings(&app, "reader@example.com").await, before, "GET changes nothing");

    let saved = save(
        &app,
        &[("token", &token), ("name", "Ada Lovelace"), ("lists_shown", "1"), ("lists", "weekly"), ("lists", "staff")],
    )
    .await;
    assert_eq!(saved.status(), 200);
    assert!(saved.text().await.unwrap().contains("Your preferences are saved"));
    // Weekly is double opt-in, yet joined at once: the link came to the address.
    assert_eq!(
        standings(&app, "reader@example.com").await,
        pairs(&[("default", "unsubscribed"), ("staff", "confirmed"), ("weekly", "confirmed")])
    );
    assert_eq!(name_of(&app, "reader@example.com").await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(app.status_of("reader@example.com").await.as_deref(), Some("confirmed"), "the address stays");
    let records = consent(&app, "reader@example.com").await;
    assert!(records.contains(&("join".to_owned(), Some("weekly".to_owned()))), "{records:?}");
    assert!(records.contains(&("leave".to_owned(), Some("default".to_owned()))), "{records:?}");

    // Leaving the private list: it is then no longer offered.
    let saved = save(&app, &[("token", &token), ("name", ""), ("lists_shown", "1"), ("lists", "weekly")]).await;
    assert_eq!(saved.status(), 200);
    assert!(!saved.text().await.unwrap().contains("value=\"staff\""));
    assert_eq!(name_of(&app, "reader@example.com").await, None, "an empty name clears it");
    assert_eq!(
        standings(&app, "reader@example.com").await,
        pairs(&[("default", "unsubscribed"), ("staff", "unsubscribed"), ("weekly", "confirmed")])
    );
}

#[tokio::test]
async fn a_bad_name_or_a_list_not_offered_changes_nothing() {
    let app = TestApp::spawn().await;
    make_list(&app, "weekly", "Weekly digest", true, true).await;
    make_list(&app, "secret", "Secret list", false, true).await;
    let link = confirmed_reader(&app, "careful@example.com", "Careful").await;
    let token = token_of(&link);
    let before = standings(&app, "careful@example.com").await;

    for (fields, field) in [
        (vec![("name", "visit evil.com"), ("lists", "weekly")], "name"),
        (vec![("name", "Fine"), ("lists", "secret")], "lists"),
        (vec![("name", "Fine"), ("lists", "nope")], "lists"),
        (vec![("name", "Fine"), ("lists", "Not A Slug")], "lists"),
    ] {
        let mut form = vec![("token", token.as_str()), ("lists_shown", "1")];
        form.extend(fields);
        let refused = save(&app, &form).await;
        assert_eq!(refused.status(), 422, "{form:?}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(&format!(r#"id="{field}"#)) || html.contains("<fieldset"), "{html}");
        assert!(html.contains("role=\"alert\""));
    }
    assert_eq!(standings(&app, "careful@example.com").await, before);
    assert_eq!(name_of(&app, "careful@example.com").await.as_deref(), Some("Careful"));
}

#[tokio::test]
async fn a_forged_token_or_another_readers_link_of_another_kind_changes_nothing() {
    let app = TestApp::spawn().await;
    make_list(&app, "weekly", "Weekly digest", true, true).await;
    let ann = confirmed_reader(&app, "ann@example.com", "Ann").await;
    let (ben_confirm, ben_mail) = app.confirmation_link_for("ben@example.com", "Ben").await;
    let ben_unsubscribe = token_of(&ben_mail.link_to("https://news.example.test/unsubscribe"));
    let before = (standings(&app, "ann@example.com").await, standings(&app, "ben@example.com").await);

    let mut forged = token_of(&ann).into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for token in [forged.as_str(), &ben_unsubscribe, &token_of(&ben_confirm), "", &"A".repeat(43)] {
        let form = [("token", token), ("name", "Mallory"), ("lists_shown", "1"), ("lists", "weekly")];
        let refused = save(&app, &form).await;
        assert_eq!(refused.status(), 400, "{token}");
        assert!(refused.text().await.unwrap().contains("This link doesn't work"));
        assert_eq!(app.get(&format!("/preferences?token={token}")).await.status(), 400);
        assert_eq!(app.get(&format!("/preferences/data?token={token}")).await.status(), 400);
        assert_eq!(app.post_form("/preferences/erase", &[("token", token)]).await.status(), 400);
        assert_eq!(app.post_form("/preferences/unsubscribe", &[("token", token)]).await.status(), 400);
    }
    assert_eq!((standings(&app, "ann@example.com").await, standings(&app, "ben@example.com").await), before);
    assert_eq!(name_of(&app, "ann@example.com").await.as_deref(), Some("Ann"));
    assert_eq!(name_of(&app, "ben@example.com").await.as_deref(), Some("Ben"));
    assert_eq!(app.status_of("ann@example.com").await.as_deref(), Some("confirmed"));
    assert_eq!(app.status_of("ben@example.com").await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn a_reader_downloads_their_data_then_erases_it_after_a_second_page_and_the_link_dies() {
    let app = TestApp::spawn().await;
    let link = confirmed_reader(&app, "leaving@example.com", "Leaving").await;
    let token = token_of(&link);

    let data = app.get(&format!("/preferences/data?token={token}")).await;
    assert_eq!(data.status(), 200);
    assert!(data.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let data: Value = data.json().await.unwrap();
    assert_eq!(data["subscriber"]["email"], "leaving@example.com");
    assert_eq!(data["memberships"][0]["list"], "default");
    assert!(data["consent"].as_array().unwrap().len() >= 2, "{data}");
    // The same as the operator's `subscribers show`.
    let shown: Value =
        app.admin_get("/admin/subscribers/leaving@example.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(data["subscriber"], shown["subscriber"]);

    let ask = app.get(&format!("/preferences/erase?token={token}")).await;
    assert_eq!(ask.status(), 200);
    assert!(ask.text().await.unwrap().contains("Yes, erase me"));
    assert!(app.status_of("leaving@example.com").await.is_some(), "the second page changed nothing");

    let erased = app.post_form("/preferences/erase", &[("token", &token)]).await;
    assert_eq!(erased.status(), 200);
    assert!(erased.text().await.unwrap().contains("Your data is erased"));
    assert_eq!(app.status_of("leaving@example.com").await, None);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);

    assert_eq!(app.get(&link).await.status(), 400, "the link dies with the data");
    assert_eq!(app.get(&format!("/preferences/data?token={token}")).await.status(), 400);
    assert_eq!(app.post_form("/preferences/erase", &[("token", &token)]).await.status(), 400);
}

#[tokio::test]
async fn a_reader_unsubscribes_from_everything_on_the_preference_page() {
    let app = TestApp::spawn().await;
    make_list(&app, "weekly", "Weekly digest", true, true).await;
    let link = confirmed_reader(&app, "done@example.com", "").await;
    let token = token_of(&link);
    let left = app.post_form("/preferences/unsubscribe", &[("token", &token)]).await;
    assert_eq!(left.status(), 200);
    assert_eq!(app.status_of("done@example.com").await.as_deref(), Some("unsubscribed"));
    assert!(consent(&app, "done@example.com").await.contains(&("unsubscribe".to_owned(), None)));

    // The page still opens (to erase, or download), says so, and offers no lists to change.
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("You unsubscribed from everything"));
    assert!(!page.contains(r#"name="lists""#));
    let saved = save(&app, &[("token", &token), ("name", "Back"), ("lists_shown", "1"), ("lists", "weekly")]).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(standings(&app, "done@example.com").await, pairs(&[("default", "confirmed")]), "no list changed");
}

#[tokio::test]
async fn every_mail_carries_the_preference_link_and_a_digest_names_its_list() {
    let app = TestApp::spawn().await;
    make_list(&app, "weekly", "Weekly digest", true, true).await;
    app.add_confirmed(&["reader@example.com"]).await;
    member(&app, "reader@example.com", "weekly", "confirmed").await;
    app.add_article("Story", "Some words.", None).await;
    let sent = app.admin_post("/admin/digests").json(&json!({ "list": "weekly", "subject": "Weekly" })).send().await;
    assert_eq!(sent.unwrap().status(), 202);
    app.wait_until_queue_settled(Duration::from_secs(20)).await;
    let mail = app.sink().received().into_iter().find(|m| m.rcpt_to == ["reader@example.com"]).unwrap();
    assert!(mail.header("List-Id").unwrap().contains("<weekly."), "{:?}", mail.header("List-Id"));
    assert!(mail.html_body().contains("Manage your subscription"));
    let link = app.local(&mail.link_to(PREFERENCES));
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"value="weekly" checked"#));
}
