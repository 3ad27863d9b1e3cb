//! Abuse: subscription bombing, enumeration, and what reaches the logs.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use sqlx::{Connection as _, PgConnection};

use broadsheet::domain::SubscriberEmail;

use crate::support::{Options, TestApp, token_of};

#[tokio::test]
async fn a_script_posting_signups_from_one_address_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__LIMITS__SIGNUPS_PER_IP_PER_MINUTE".into(), "5".into())],
        ..Default::default()
    })
    .await;
    for i in 0..5 {
        let ok = app.post_json("/subscriptions", &json!({ "email": format!("victim{i}@example.com") })).await;
        assert_eq!(ok.status(), 202);
    }
    let refused = app.post_json("/subscriptions", &json!({ "email": "victim@example.com" })).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert!(refused.json::<serde_json::Value>().await.unwrap()["error"].as_str().unwrap().contains("wait"));
    let form = app.sign_up("victim@example.com", "").await;
    assert_eq!(form.status(), 429, "the HTML form is limited too");
    let subscribers: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers").fetch_one(&app.db).await.unwrap();
    assert_eq!(subscribers, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_signups_for_one_address_send_no_more_than_the_daily_cap() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__LIMITS__CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY".into(), "3".into())],
        ..Default::default()
    })
    .await;
    sqlx::query("INSERT INTO subscribers (id, email) VALUES (gen_random_uuid(), 'target@example.com')")
        .execute(&app.db)
        .await
        .unwrap();
    // One process runs a burst for one address one statement after another (`signup_queue`);
    // several processes (or a queue with room) run them side by side. The widest form of that
    // race: 20 signup statements on connections of their own, all started while another
    // connection holds the subscriber's row.
    let mut holder = app.lock_subscribers().await;
    let mut statements = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = app.database_url();
        statements.spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let email = SubscriberEmail::parse("target@example.com").unwrap();
            broadsheet::signup::one(&mut conn, &email, None, &Default::default(), 3, None).await.unwrap();
        });
    }
    app.wait_for_lock_waiters(15).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    while let Some(done) = statements.join_next().await {
        done.unwrap();
    }
    // And 30 more through the service at once.
    let mut signups = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (client, url) = (app.client.clone(), format!("{}/subscriptions", app.address));
        signups.spawn(async move { client.post(url).json(&json!({ "email": "target@example.com" })).send().await });
    }
    while let Some(response) = signups.join_next().await {
        assert_eq!(response.unwrap().unwrap().status(), 202);
    }
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries").fetch_one(&app.db).await.unwrap();
    assert!((1..=3).contains(&queued), "{queued} confirmation mails queued for one address; the cap is 3");
    assert_eq!(app.sink().count_for("target@example.com"), usize::try_from(queued).unwrap());
}

#[tokio::test]
async fn signups_from_many_addresses_of_one_ipv6_network_share_one_limit() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("BROADSHEET__LIMITS__SIGNUPS_PER_IP_PER_MINUTE".into(), "5".into()),
            ("BROADSHEET__HTTP__CLIENT_IP_HEADER".into(), "X-Forwarded-For".into()),
        ],
        with_worker: false,
        ..Default::default()
    })
    .await;
    let signup = |from: String, i: usize| {
        app.client
            .post(format!("{}/subscriptions", app.address))
            .header("x-forwarded-for", from)
            .json(&json!({ "email": format!("victim{i}@example.com") }))
            .send()
    };
    let mut accepted = 0;
    for i in 0..25 {
        let response = signup(format!("2001:db8:1:2::{:x}", i + 1), i).await.unwrap();
        accepted += usize::from(response.status() == 202);
    }
    assert_eq!(accepted, 5, "25 addresses of one /64 are one client");
    let neighbour = signup("2001:db8:1:3::1".to_owned(), 99).await.unwrap();
    assert_eq!(neighbour.status(), 202, "the next /64 is someone else");
}

#[tokio::test]
async fn wrong_admin_tokens_are_slowed_down_per_client() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("BROADSHEET__LIMITS__ADMIN_AUTH_FAILURES_PER_MINUTE".into(), "5".into()),
            ("BROADSHEET__HTTP__CLIENT_IP_HEADER".into(), "X-Forwarded-For".into()),
        ],
        with_worker: false,
        ..Default::default()
    })
    .await;
    let api = |from: &str, token: &str| {
        app.client
            .get(format!("{}/admin/articles", app.address))
            .header("x-forwarded-for", from)
            .bearer_auth(token)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(api("198.51.100.7", "guess-0123456789abcdef0123456789").await.unwrap().status(), 401);
    }
    let slowed = api("198.51.100.7", "guess-0123456789abcdef0123456789").await.unwrap();
    assert_eq!(slowed.status(), 429);
    let retry_after: u64 = slowed.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        api("198.51.100.7", crate::support::ADMIN_TOKEN).await.unwrap().status(),
        429,
        "while slowed, even the right token is not checked: a guess must teach nothing"
    );
    assert_eq!(
        api("198.51.100.8", crate::support::ADMIN_TOKEN).await.unwrap().status(),
        200,
        "others are not affected"
    );

    // The console's sign-in counts against the same allowance.
    let login = |from: &str, token: &str| {
        app.client
            .post(format!("{}/admin/login", app.address))
            .header("x-forwarded-for", from)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string([("token", token)]).unwrap())
            .send()
    };
    assert_eq!(login("198.51.100.7", "wrong").await.unwrap().status(), 429);
    for _ in 0..5 {
        assert_eq!(login("198.51.100.9", "wrong").await.unwrap().status(), 401);
    }
    let page = login("198.51.100.9", "wrong").await.unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("Too many requests"));
}

/// The real binary serving on a free port with `info` logs in JSON (stderr, piped), against the
/// harness's database and sink; returns once it answers.
async fn serve_with_info_logs(harness: &TestApp) -> (std::process::Child, String) {
    let port = crate::support::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .arg("serve")
        .env("DATABASE_URL", harness.database_url())
        .env("BROADSHEET__HTTP__ADDR", format!("127.0.0.1:{port}"))
        .env("BROADSHEET__HTTP__BASE_URL", crate::support::BASE_URL)
        .env("BROADSHEET__MAIL__URL", harness.sink().url())
        .env("BROADSHEET__TOKENS__KEYS", harness.token_keys_env())
        .env("BROADSHEET__ADMIN__TOKEN", crate::support::ADMIN_TOKEN)
        .env("BROADSHEET__LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    crate::support::wait_until(Duration::from_secs(20), "the service to listen", || {
        let url = format!("{base}/health");
        async move { reqwest::get(url).await.is_ok() }
    })
    .await;
    (child, base)
}

/// SIGTERM, then everything the process logged.
fn stop_and_read_logs(mut child: std::process::Child) -> String {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "exits 0 on SIGTERM");
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    logs
}

/// Runs the real binary with `info` logs, walks a subscriber through signup, confirmation and
/// unsubscribe, and reads everything it logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_or_token_reaches_the_logs_at_info() {
    // The harness gives us a database and a sink; the service under test is a separate process.
    let harness = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let (child, base) = serve_with_info_logs(&harness).await;

    let email = "secret.person@private-domain.example";
    let client = reqwest::Client::new();
    let form = |fields: &[(&str, &str)]| serde_urlencoded::to_string(fields).unwrap();
    // The signup page's token, served a while ago (the process waits the default 2 s).
    let token = harness.form_token_at(chrono::Utc::now() - chrono::Duration::seconds(5));
    let post = |path: String, body: String| {
        client.post(path).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    assert_eq!(
        post(
            format!("{base}/subscriptions"),
            form(&[("email", email), ("name", "Secret Name"), ("form_token", &token)])
        )
        .await
        .unwrap()
        .status(),
        200
    );
    let mail = harness.sink().wait_for(1, Duration::from_secs(10)).await.remove(0);
    let confirm = mail.link_to("https://news.example.test/subscriptions/confirm");
    let unsubscribe = mail.link_to("https://news.example.test/unsubscribe");
    let confirm_token = token_of(&confirm);
    let unsubscribe_token = token_of(&unsubscribe);
    assert_eq!(
        client.get(format!("{base}/subscriptions/confirm?token={confirm_token}")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        post(format!("{base}/subscriptions/confirm"), form(&[("token", &confirm_token)])).await.unwrap().status(),
        200
    );
    assert_eq!(
        post(format!("{base}/unsubscribe?token={unsubscribe_token}"), "List-Unsubscribe=One-Click".into())
            .await
            .unwrap()
            .status(),
        200
    );

    // A wrong admin token is logged at WARN with the client and route, never the token itself.
    let guess = "guessed-token-that-must-not-be-logged-0123456789";
    let refused = client.get(format!("{base}/admin/articles")).bearer_auth(guess).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let logs = stop_and_read_logs(child);
    assert!(
        logs.contains("signup") && logs.contains("subscription confirmed") && logs.contains("unsubscribed"),
        "{logs}"
    );
    let failure = logs.lines().find(|l| l.contains("admin authentication failed")).unwrap_or_else(|| panic!("{logs}"));
    assert!(
        failure.contains("WARN") && failure.contains("127.0.0.1") && failure.contains("/admin/articles"),
        "{failure}"
    );
    for secret in [email, "secret.person", "private-domain", "Secret Name", &confirm_token, &unsubscribe_token, guess] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs:\n{logs}");
    }
    assert!(logs.contains("request_id"), "requests are logged with their id");
}

/// The operator's pages carry the address in their path (`/admin/subscribers/{email}`): request
/// lines name the route, never the path, whether it matched a route or not, and never the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_in_paths_and_tokens_in_queries_stay_out_of_the_logs_at_info() {
    let harness = TestApp::spawn_with(Options { with_worker: false, ..Default::default() }).await;
    let (child, base) = serve_with_info_logs(&harness).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = |fields: &[(&str, &str)]| serde_urlencoded::to_string(fields).unwrap();
    // The signup page's token, served a while ago (the process waits the default 2 s).
    let token = harness.form_token_at(chrono::Utc::now() - chrono::Duration::seconds(5));
    let post = |path: String, body: String| {
        client.post(path).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };

    let email = "Erase.Me@hidden-domain.example";
    let encoded = "Erase.Me%40hidden-domain.example";
    assert_eq!(
        post(
            format!("{base}/subscriptions"),
            form(&[("email", email), ("name", "Hidden Name"), ("form_token", &token)])
        )
        .await
        .unwrap()
        .status(),
        200
    );
    let mail = harness.sink().wait_for(1, Duration::from_secs(10)).await.remove(0);
    let confirm_token = token_of(&mail.link_to("https://news.example.test/subscriptions/confirm"));
    let unsubscribe_token = token_of(&mail.link_to("https://news.example.test/unsubscribe"));
    let page = client.get(format!("{base}/subscriptions/confirm?token={confirm_token}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let confirmed = post(format!("{base}/subscriptions/confirm"), form(&[("token", &confirm_token)])).await.unwrap();
    assert_eq!(confirmed.status(), 200);
    let unsubscribe_page = client.get(format!("{base}/unsubscribe?token={unsubscribe_token}")).send().await.unwrap();
    assert_eq!(unsubscribe_page.status(), 200);

    // The console: sign in, find them, open their page (plain and percent-encoded) and the erase step.
    let login = post(format!("{base}/admin/login"), form(&[("token", crate::support::ADMIN_TOKEN)])).await.unwrap();
    assert_eq!(login.status(), 303);
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let console = |path: String| client.get(format!("{base}{path}")).header("cookie", &session).send();
    for path in [
        format!("/admin/ui/subscribers?q={email}"),
        format!("/admin/ui/subscribers/{email}"),
        format!("/admin/ui/subscribers/{encoded}"),
        format!("/admin/ui/subscribers/{email}/erase"),
    ] {
        let page = console(path.clone()).await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.text().await.unwrap().to_lowercase().contains(&email.to_lowercase()), "{path}");
    }

    // The admin API: their data, a wrong token on their route (logged at WARN), then erasure.
    let api = |path: &str| format!("{base}/admin/subscribers/{path}");
    let data = client.get(api(email)).bearer_auth(crate::support::ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(data.status(), 200);
    let guess = client.get(api(email)).bearer_auth("wrong-token-0123456789abcdef0123456789").send().await.unwrap();
    assert_eq!(guess.status(), 401);
    // No route at all, address in the path and token in the query.
    let nowhere = client.get(format!("{base}/people/{email}?token={unsubscribe_token}")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    let erased = client.delete(api(encoded)).bearer_auth(crate::support::ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(erased.status(), 204);
    assert_eq!(harness.status_of(email).await, None, "erased");

    let logs = stop_and_read_logs(child);
    let lowered = logs.to_lowercase();
    for secret in [email, encoded, "erase.me", "hidden-domain", "Hidden Name", &confirm_token, &unsubscribe_token] {
        assert!(!lowered.contains(&secret.to_lowercase()), "{secret:?} leaked into the logs:\n{logs}");
    }
    assert!(!logs.contains("token="), "no query string is logged:\n{logs}");
    // What the lines say instead: the route.
    assert!(logs.contains("/admin/subscribers/{email}") && logs.contains("/admin/ui/subscribers/{email}"), "{logs}");
    assert!(logs.contains("(no route)"), "the 404 is logged without its path: {logs}");
    let failure = logs.lines().find(|l| l.contains("admin authentication failed")).unwrap_or_else(|| panic!("{logs}"));
    assert!(failure.contains("/admin/subscribers/{email}"), "{failure}");
}
