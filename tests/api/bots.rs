//! The signup's bot defences (docs/bots.md): a bot gets the page a person gets and no mail is
//! sent; an API client is told what its proof of work lacks; a domain without mail is a 422.

use std::time::Duration;

use broadsheet::domain::{Stamp, StampPurpose, TokenKeys};
use broadsheet::signup::bots::solve;
use chrono::Utc;
use serde_json::{Value, json};

use crate::support::dns::Nameserver;
use crate::support::{Options, TestApp};

const FORM: &str = "application/x-www-form-urlencoded";

fn with(extra: &[(&str, &str)]) -> Options {
    Options { extra: extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), ..Options::default() }
}

/// The form posted as a bot might: exactly these fields, no token added.
async fn post_bare(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let url = format!("{}/subscriptions", app.address);
    app.client.post(url).header("content-type", FORM).body(body).send().await.unwrap()
}

/// `broadsheet_signups_refused_total{reason}` as `/metrics` says now (every test app of this
/// process shares the counters, so tests compare before and after, and only ever upward).
async fn refused(app: &TestApp, reason: &str) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("broadsheet_signups_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{metrics}"))
        .parse()
        .unwrap()
}

async fn subscribers(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM subscribers WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Mail went to these people and no one else: their mails arrived after the refused posts
/// (a person signs up after them), and the queue is empty, so whatever a refused post would
/// have sent would be in the sink by now.
async fn mail_went_only_to(app: &TestApp, people: &[&str]) {
    app.sink().wait_for(people.len(), Duration::from_secs(10)).await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let mut got: Vec<String> = app.sink().received().into_iter().flat_map(|m| m.rcpt_to).collect();
    got.sort();
    let mut wanted: Vec<String> = people.iter().map(|p| (*p).to_owned()).collect();
    wanted.sort();
    assert_eq!(got, wanted, "mail to the people only");
}

fn value_of<'a>(html: &'a str, name: &str) -> &'a str {
    let pattern = format!(r#"name="{name}" value=""#);
    let at = html.find(&pattern).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + pattern.len()..];
    &rest[..rest.find('"').unwrap()]
}

#[tokio::test]
async fn the_page_works_without_javascript_and_hides_its_honeypot() {
    let app = TestApp::spawn().await;
    let page = app.get("/").await;
    assert_eq!(page.headers()["cache-control"], "no-store", "a token is good once: no cache may share it");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<div aria-hidden="true" style="position:absolute;left:-10000px"#), "{html}");
    assert!(html.contains(r#"name="website" type="text" value="" tabindex="-1" autocomplete="off""#), "{html}");
    assert!(html.contains("Leave this field empty"));
    assert!(!html.contains("<script"), "no script while proof of work is off");
    let token = value_of(&html, "form_token").to_owned();

    // What a browser without JavaScript sends: every field of the form.
    let response =
        post_bare(&app, &[("email", "ada@example.com"), ("name", ""), ("website", ""), ("form_token", &token)]).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().to_lowercase().contains("inbox"));
    let mails = app.sink().wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].rcpt_to, vec!["ada@example.com".to_owned()]);

    // The pages that offer the form again carry their own token.
    let invalid = app.get("/subscriptions/confirm?token=nonsense").await.text().await.unwrap();
    assert_ne!(value_of(&invalid, "form_token"), token);
}

#[tokio::test]
async fn a_filled_honeypot_gets_the_persons_page_and_no_mail() {
    let app = TestApp::spawn().await;
    let before = refused(&app, "honeypot").await;
    let token = app.form_token_at(Utc::now());
    let bot =
        post_bare(&app, &[("email", "bot@example.com"), ("website", "http://spam.example"), ("form_token", &token)])
            .await;
    let status = bot.status();
    let bot_page = bot.text().await.unwrap();
    let person = app.sign_up("ada@example.com", "").await;
    assert_eq!((status, bot_page), (person.status(), person.text().await.unwrap()), "the same page, status included");
    assert_eq!(subscribers(&app, "bot@example.com").await, 0, "no row");
    assert!(refused(&app, "honeypot").await > before);
    mail_went_only_to(&app, &["ada@example.com"]).await;
}

#[tokio::test]
async fn a_form_posted_too_fast_too_late_forged_or_without_token_sends_nothing() {
    let app = TestApp::spawn_with(with(&[("BROADSHEET__LIMITS__SIGNUP_MIN_SECONDS", "2")])).await;
    let mut before = Vec::new();
    for reason in ["too_fast", "expired", "forged", "missing"] {
        before.push(refused(&app, reason).await);
    }
    let now = Utc::now();
    let fast = app.form_token_at(now);
    let old = app.form_token_at(now - chrono::Duration::hours(25));
    let stranger = TokenKeys::new(&[TokenKeys::generate_secret().unwrap()]).unwrap();
    let forged = broadsheet::signup::bots::form_token(&stranger, now - chrono::Duration::seconds(10));
    let waited = app.form_token_at(now - chrono::Duration::seconds(3));
    let person = app.post_form("/subscriptions", &[("email", "person@example.com"), ("form_token", &waited)]).await;
    assert_eq!(person.status(), 200);
    let person_page = person.text().await.unwrap();
    let bots = [
        ("fast@example.com", Some(fast.as_str())),
        ("old@example.com", Some(&old)),
        ("forged@example.com", Some(&forged)),
        ("garbage@example.com", Some("not-a-token")),
        ("none@example.com", None),
    ];
    for (email, token) in bots {
        let mut fields = vec![("email", email)];
        fields.extend(token.map(|t| ("form_token", t)));
        let response = post_bare(&app, &fields).await;
        assert_eq!(response.status(), 200, "{email}");
        assert_eq!(response.text().await.unwrap(), person_page, "{email}: the person's page");
        assert_eq!(subscribers(&app, email).await, 0, "{email}: no row");
    }
    for (reason, before) in ["too_fast", "expired", "forged", "missing"].into_iter().zip(before) {
        assert!(refused(&app, reason).await > before, "{reason} counted");
    }
    let later = app.form_token_at(Utc::now() - chrono::Duration::seconds(3));
    app.post_form("/subscriptions", &[("email", "later@example.com"), ("form_token", &later)]).await;
    mail_went_only_to(&app, &["person@example.com", "later@example.com"]).await;
}

#[tokio::test]
async fn a_form_token_is_good_once_in_every_process() {
    let app = TestApp::spawn().await;
    let before = refused(&app, "replayed").await;
    let token = app.form_token_at(Utc::now());
    let first = app.post_form("/subscriptions", &[("email", "first@example.com"), ("form_token", &token)]).await;
    let first_page = first.text().await.unwrap();
    app.sink().wait_for(1, Duration::from_secs(10)).await;

    let again = app.post_form("/subscriptions", &[("email", "again@example.com"), ("form_token", &token)]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), first_page, "the person's page");
    assert_eq!(subscribers(&app, "again@example.com").await, 0);
    let nonce = app.token_keys().check_stamp(StampPurpose::Form, &token).unwrap().nonce;
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM form_nonces WHERE nonce = $1")
        .bind(nonce)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(recorded, 1, "its nonce is recorded once");
    assert!(refused(&app, "replayed").await > before);

    // Another process on the same database, with the same keys.
    let other = TestApp::spawn_with(Options {
        db_name: Some(app.db_name.clone()),
        start_sink: false,
        mail_port: Some(app.sink().port()),
        extra: vec![("BROADSHEET__TOKENS__KEYS".to_owned(), app.token_keys_env())],
        ..Options::default()
    })
    .await;
    let elsewhere =
        other.post_form("/subscriptions", &[("email", "elsewhere@example.com"), ("form_token", &token)]).await;
    assert_eq!(elsewhere.status(), 200);
    assert_eq!(subscribers(&app, "elsewhere@example.com").await, 0, "refused there too");
    app.sign_up("later@example.com", "").await;
    mail_went_only_to(&app, &["first@example.com", "later@example.com"]).await;
}

async fn challenge(app: &TestApp) -> (String, u8) {
    let response = app.get("/subscriptions/challenge").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_at"].as_str().is_some(), "{body}");
    (body["challenge"].as_str().unwrap().to_owned(), body["difficulty"].as_u64().unwrap() as u8)
}

async fn assert_pow_refused(response: reqwest::Response, says: &str) {
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "pow_solution", "{body}");
    assert!(body["error"].as_str().unwrap().contains(says), "{body}");
}

#[tokio::test]
async fn with_proof_of_work_on_the_api_needs_a_fresh_solution() {
    let app = TestApp::spawn_with(with(&[("BROADSHEET__LIMITS__SIGNUP_POW", "12")])).await;
    let before = refused(&app, "pow").await;
    let missing = app.post_json("/subscriptions", &json!({ "email": "lazy@example.com" })).await;
    assert_pow_refused(missing, "GET /subscriptions/challenge").await;
    assert!(refused(&app, "pow").await > before);

    let (first, difficulty) = challenge(&app).await;
    assert_eq!(difficulty, 12);
    let solution = solve(&first, difficulty);
    let ok = app
        .post_json(
            "/subscriptions",
            &json!({ "email": "ada@example.com", "pow_challenge": first, "pow_solution": solution }),
        )
        .await;
    assert_eq!(ok.status(), 202);
    app.sink().wait_for(1, Duration::from_secs(10)).await;

    let replayed = refused(&app, "replayed").await;
    let again = app
        .post_json(
            "/subscriptions",
            &json!({ "email": "bob@example.com", "pow_challenge": first, "pow_solution": solution }),
        )
        .await;
    assert_pow_refused(again, "used already").await;
    assert!(refused(&app, "replayed").await > replayed);

    // A solution holds for its own challenge only (unless, one time in 4096, by chance).
    let (second, _) = challenge(&app).await;
    let sha = |s: String| <sha2::Sha256 as sha2::Digest>::digest(s.as_bytes());
    let hash = sha(format!("{second}:{solution}"));
    if !(hash[0] == 0 && hash[1] < 0x10) {
        let other = app
            .post_json(
                "/subscriptions",
                &json!({ "email": "bob@example.com", "pow_challenge": second, "pow_solution": solution }),
            )
            .await;
        assert_pow_refused(other, "does not hold").await;
    }

    let expired =
        app.token_keys().stamp(StampPurpose::Challenge, &Stamp::new(Utc::now() - chrono::Duration::seconds(1)));
    let late = app
        .post_json(
            "/subscriptions",
            &json!({ "email": "bob@example.com", "pow_challenge": expired, "pow_solution": solve(&expired, 12) }),
        )
        .await;
    assert_pow_refused(late, "expired").await;
    assert_eq!(subscribers(&app, "bob@example.com").await, 0);

    // The form: with JavaScript off it has no solution and goes on its token alone; a wrong
    // solution gets the person's page and no mail.
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains(r#"<script src="/static/pow.js" defer></script>"#), "{html}");
    let script = app.get("/static/pow.js").await;
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("crypto.subtle.digest"));
    let wrong = app
        .post_form(
            "/subscriptions",
            &[("email", "wrong@example.com"), ("pow_challenge", &second), ("pow_solution", "x")],
        )
        .await;
    assert_eq!(wrong.status(), 200);
    assert_eq!(subscribers(&app, "wrong@example.com").await, 0);
    let nojs = app.sign_up("nojs@example.com", "").await;
    assert_eq!(nojs.status(), 200);
    mail_went_only_to(&app, &["ada@example.com", "nojs@example.com"]).await;
}

#[tokio::test]
async fn without_proof_of_work_there_is_no_challenge() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/subscriptions/challenge").await.status(), 404);
}

#[tokio::test]
async fn with_check_mx_a_domain_without_mail_is_refused_and_a_silent_resolver_is_not_waited_for() {
    let dns = Nameserver::mail_domains(&["mail.test"], &["host.test"], &["nomail.test"]);
    let app = TestApp::spawn_with(with(&[
        ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX", "true"),
        ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX_NAMESERVER", &dns.addr.to_string()),
    ]))
    .await;
    let before = refused(&app, "no_mx").await;
    for email in ["ada@mail.test", "bob@host.test"] {
        let response = app.post_json("/subscriptions", &json!({ "email": email })).await;
        assert_eq!(response.status(), 202, "{email}");
    }
    // No records at all, and a null MX (RFC 7505) beside an A record: neither receives mail.
    for domain in ["nowhere.test", "nomail.test"] {
        let refusal = app.post_json("/subscriptions", &json!({ "email": format!("eve@{domain}") })).await;
        assert_eq!(refusal.status(), 422, "{domain}");
        let body: Value = refusal.json().await.unwrap();
        assert_eq!(body["field"], "email");
        assert!(body["error"].as_str().unwrap().contains(&format!("{domain} does not receive mail")), "{body}");
    }
    assert!(refused(&app, "no_mx").await > before);
    let form = app.sign_up("eve@nowhere.test", "").await;
    assert_eq!(form.status(), 422, "the form again, with the message");
    assert!(form.text().await.unwrap().contains("does not receive mail"));

    let silent = Nameserver::silent();
    let app = TestApp::spawn_with(with(&[
        ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX", "true"),
        ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX_NAMESERVER", &silent.addr.to_string()),
    ]))
    .await;
    let started = std::time::Instant::now();
    let response = app.post_json("/subscriptions", &json!({ "email": "ada@slow.test" })).await;
    assert_eq!(response.status(), 202, "a resolver that does not answer lets the signup through");
    assert!(started.elapsed() < Duration::from_secs(5), "within the bound: {:?}", started.elapsed());
}
