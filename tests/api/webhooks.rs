//! Event webhooks out: endpoints added by API, CLI and console; events written with the change
//! that causes them and delivered signed per the Standard Webhooks specification (checked with
//! the `standardwebhooks` package from PyPI, an implementation that is not ours); retries, 410,
//! and endpoints that hang, redirect or sit on internal addresses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::{ADMIN_TOKEN, Options, TestApp, token_of, wait_until};

/// One POST an endpoint received.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// How a test endpoint answers: the statuses in turn (the last one for ever after), or never.
#[derive(Clone)]
enum Behaviour {
    Answer(Vec<u16>),
    Hang,
    Redirect(String),
}

/// A local HTTP endpoint that keeps what it receives.
struct Endpoint {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hooks", listener.local_addr().unwrap().port());
        let received = Arc::new(Mutex::new(Vec::new()));
        let (kept, answered) = (received.clone(), Arc::new(Mutex::new(0usize)));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (kept, answered, behaviour) = (kept.clone(), answered.clone(), behaviour.clone());
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    loop {
                        let mut headers = HashMap::new();
                        let mut line = String::new();
                        if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            line.clear();
                            if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let Some((name, value)) = line.trim_end().split_once(':') else { break };
                            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                        }
                        let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                        let mut body = vec![0u8; length];
                        if socket.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        kept.lock().unwrap().push(Received { headers, body: String::from_utf8(body).unwrap() });
                        let answer = match &behaviour {
                            Behaviour::Hang => {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                return;
                            }
                            Behaviour::Answer(statuses) => {
                                let mut n = answered.lock().unwrap();
                                let status = statuses[(*n).min(statuses.len() - 1)];
                                *n += 1;
                                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n")
                            }
                            Behaviour::Redirect(to) => {
                                format!(
                                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n"
                                )
                            }
                        };
                        if socket.get_mut().write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, what: &str) -> Vec<Received> {
        wait_until(Duration::from_secs(15), what, || async { self.received().len() >= n }).await;
        self.received()
    }

    fn of_type(&self, event: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.json()["type"] == event).collect()
    }
}

/// An app whose endpoints may be on loopback (the test's), retrying fast, waiting 1 s per try.
async fn app() -> TestApp {
    TestApp::spawn_with(Options {
        extra: vec![
            ("BROADSHEET__WEBHOOKS__ALLOW_PRIVATE".into(), "true".into()),
            ("BROADSHEET__WEBHOOKS__RETRY_BASE_SECS".into(), "0.05".into()),
            ("BROADSHEET__WEBHOOKS__TIMEOUT_SECS".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await
}

/// Adds an endpoint through the API; returns its id and secret.
async fn add(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let response =
        app.admin_post("/admin/webhooks").json(&json!({ "url": url, "events": events })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (body["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// The `standardwebhooks` package's verdict on a delivery: `None` when Python or the package is
/// missing (then the test says SKIPPED, and fails in CI, which installs it).
fn verified_by_standardwebhooks(secret: &str, received: &Received) -> Option<Result<(), String>> {
    const SCRIPT: &str = r#"
import json, sys
try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    sys.exit(3)
case = json.load(sys.stdin)
try:
    Webhook(case["secret"]).verify(case["body"], case["headers"])
except Exception as e:
    print(f"{type(e).__name__}: {e}")
    sys.exit(1)
"#;
    let headers: HashMap<&str, &str> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"].into_iter().map(|h| (h, received.header(h))).collect();
    let case = json!({ "secret": secret, "body": received.body, "headers": headers }).to_string();
    let child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else { return None };
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(case.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    match output.status.code() {
        Some(0) => Some(Ok(())),
        Some(3) => None,
        _ => Some(Err(String::from_utf8_lossy(&output.stdout).into_owned())),
    }
}

fn must_verify(secret: &str, received: &Received) {
    match verified_by_standardwebhooks(secret, received) {
        Some(verdict) => verdict.unwrap_or_else(|why| panic!("standardwebhooks refuses our signature: {why}")),
        None => {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "CI must verify webhook signatures: pip install standardwebhooks"
            );
            eprintln!(
                "SKIPPED: verifying webhook signatures needs Python's standardwebhooks (pip install standardwebhooks)"
            );
        }
    }
}

#[tokio::test]
async fn signups_and_confirmations_reach_an_endpoint_signed_per_standard_webhooks() {
    let app = app().await;
    let endpoint = Endpoint::start(Behaviour::Answer(vec![204])).await;
    let (_, secret) = add(&app, &endpoint.url, &["subscriber.created", "subscriber.confirmed"]).await;
    assert!(secret.starts_with("whsec_"));

    let (link, _) = app.confirmation_link_for("ada@example.com", "Ada").await;
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    let received = endpoint.wait_for(2, "the created and confirmed events").await;

    let created = &endpoint.of_type("subscriber.created")[0];
    let body = created.json();
    assert_eq!(body["data"]["email"], "ada@example.com");
    assert_eq!(body["data"]["name"], "Ada");
    assert_eq!(body["data"]["status"], "pending");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created.header("content-type"), "application/json");
    assert!(created.header("webhook-id").starts_with("msg_"));
    let sent_at: i64 = created.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    assert!(created.header("webhook-signature").starts_with("v1,"));
    assert_eq!(endpoint.of_type("subscriber.confirmed")[0].json()["data"]["status"], "confirmed");
    for delivery in &received {
        must_verify(&secret, delivery);
    }

    // The independent verifier does say no: a body changed in transit is refused.
    let mut tampered = created.clone();
    tampered.body = tampered.body.replace("ada@", "eve@");
    if let Some(verdict) = verified_by_standardwebhooks(&secret, &tampered) {
        assert!(verdict.is_err(), "a tampered body must not verify");
    }

    // The endpoint's attempts are listed for the console and the API.
    let list: Value = app.admin_get("/admin/webhooks").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["webhooks"][0]["enabled"], true);
    assert!(list["webhooks"][0].get("secret").is_none(), "the secret is shown once, when added");
}

#[tokio::test]
async fn every_change_queues_its_event_in_the_same_write_and_only_for_endpoints_that_want_it() {
    let app = app().await;
    // No endpoint: signups write no event rows at all.
    app.sign_up("before@example.com", "").await;
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_messages").fetch_one(&app.db).await.unwrap()
    };
    assert_eq!(rows().await, 0);

    let digests_only = Endpoint::start(Behaviour::Answer(vec![200])).await;
    add(&app, &digests_only.url, &["digest.started", "digest.finished"]).await;
    let everything = Endpoint::start(Behaviour::Answer(vec![200])).await;
    let all = [
        "subscriber.created",
        "subscriber.confirmed",
        "subscriber.unsubscribed",
        "subscriber.bounced",
        "subscriber.complained",
        "subscriber.erased",
        "digest.started",
        "digest.finished",
    ];
    add(&app, &everything.url, &all).await;

    let (link, mail) = app.confirmation_link_for("grace@example.com", "Grace").await;
    app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
    let unsubscribe = mail.links().into_iter().find(|l| l.contains("/unsubscribe?token=")).unwrap();
    assert_eq!(app.post_form("/unsubscribe", &[("token", &token_of(&unsubscribe))]).await.status(), 200);
    let erased =
        app.client.delete(format!("{}/admin/subscribers/grace@example.com", app.address)).bearer_auth(ADMIN_TOKEN);
    assert!(erased.send().await.unwrap().status().is_success());

    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("News", "Something happened.", None).await;
    let digest: Value = app
        .admin_post("/admin/digests")
        .json(&json!({ "subject": "This week" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    for event in [
        "subscriber.created",
        "subscriber.confirmed",
        "subscriber.unsubscribed",
        "subscriber.erased",
        "digest.started",
        "digest.finished",
    ] {
        wait_until(Duration::from_secs(15), event, || async { !everything.of_type(event).is_empty() }).await;
    }
    let unsubscribed = everything.of_type("subscriber.unsubscribed")[0].json();
    assert_eq!(unsubscribed["data"]["email"], "grace@example.com");
    assert_eq!(unsubscribed["data"]["list"], "Broadsheet", "the list that was left");
    let gone = everything.of_type("subscriber.erased")[0].json();
    assert_eq!(gone["data"].as_object().unwrap().keys().collect::<Vec<_>>(), ["id"], "no address: {gone}");
    assert!(
        !everything.received().iter().any(|r| r.json()["type"] == "subscriber.erased" && r.body.contains("grace@"))
    );
    let finished = everything.of_type("digest.finished")[0].json();
    assert_eq!(finished["data"]["id"], digest["id"]);
    assert_eq!(finished["data"]["sent"], 1);
    assert_eq!(everything.of_type("digest.started")[0].json()["data"]["recipients"], 1);

    // The digest-only endpoint heard of digests and nothing else.
    wait_until(Duration::from_secs(15), "digest events", || async { digests_only.received().len() >= 2 }).await;
    assert!(digests_only.received().iter().all(|r| r.json()["type"].as_str().unwrap().starts_with("digest.")));
}

/// A report's target: the subscriber with this address.
async fn target(app: &TestApp, email: &str) -> broadsheet::store::bounces::Target {
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM subscribers WHERE email = $1").bind(email).fetch_one(&app.db).await.unwrap();
    broadsheet::store::bounces::Target { subscriber_id: id, delivery_id: None }
}

#[tokio::test]
async fn reported_bounces_and_complaints_are_events_too() {
    let app = app().await;
    let endpoint = Endpoint::start(Behaviour::Answer(vec![200])).await;
    add(&app, &endpoint.url, &["subscriber.bounced", "subscriber.complained"]).await;
    app.add_confirmed(&["angry@example.com", "gone@example.com"]).await;
    let angry = target(&app, "angry@example.com").await;
    assert!(broadsheet::store::bounces::complaint(&app.db, angry, "abuse").await.unwrap());
    let gone = target(&app, "gone@example.com").await;
    assert!(broadsheet::store::bounces::hard(&app.db, gone, "5.1.1", None).await.unwrap());
    endpoint.wait_for(2, "the complaint and the bounce").await;
    let complained = endpoint.of_type("subscriber.complained")[0].json();
    assert_eq!(complained["data"]["email"], "angry@example.com");
    assert_eq!(complained["data"]["feedback_type"], "abuse");
    let bounced = endpoint.of_type("subscriber.bounced")[0].json();
    assert_eq!(bounced["data"]["email"], "gone@example.com");
    assert_eq!(bounced["data"]["status"], "bounced");
}

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_and_410_disables_the_endpoint() {
    let app = app().await;
    let flaky = Endpoint::start(Behaviour::Answer(vec![500, 503, 204])).await;
    let (_, secret) = add(&app, &flaky.url, &["subscriber.created"]).await;
    let gone = Endpoint::start(Behaviour::Answer(vec![410])).await;
    let (gone_id, _) = add(&app, &gone.url, &["subscriber.created"]).await;

    app.sign_up("lin@example.com", "").await;
    let tries = flaky.wait_for(3, "three tries").await;
    let ids: Vec<&str> = tries.iter().map(|t| t.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "the webhook-id is stable across retries: {ids:?}");
    must_verify(&secret, &tries[2]);
    wait_until(Duration::from_secs(10), "delivered", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_messages WHERE status = 'delivered'")
            .fetch_one(&app.db)
            .await
            .unwrap()
            == 1
    })
    .await;

    let list = || async { app.admin_get("/admin/webhooks").send().await.unwrap().json::<Value>().await.unwrap() };
    wait_until(Duration::from_secs(10), "the 410 endpoint disabled", || async {
        list().await["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == gone_id.as_str() && e["enabled"] == false)
    })
    .await;
    // Disabled: the next signup's event does not go to it.
    app.sign_up("max@example.com", "").await;
    flaky.wait_for(4, "the next event").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gone.received().len(), 1);
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts").fetch_one(&app.db).await.unwrap();
    assert!(attempts >= 5, "every try is kept for the console: {attempts}");
}

#[tokio::test]
async fn a_hanging_endpoint_slows_neither_signups_nor_other_endpoints() {
    let app = app().await;
    let hanging = Endpoint::start(Behaviour::Hang).await;
    let (hanging_id, _) = add(&app, &hanging.url, &["subscriber.created"]).await;
    let quick = Endpoint::start(Behaviour::Answer(vec![204])).await;
    add(&app, &quick.url, &["subscriber.created"]).await;
    // A backlog for the hanging endpoint, older than anything the quick one will get.
    sqlx::query(
        "INSERT INTO webhook_messages (endpoint_id, type, data, created_at, next_attempt_at)
         SELECT $1, 'subscriber.created', '{}', now() - interval '1 minute', now() - interval '1 minute'
         FROM generate_series(1, 500)",
    )
    .bind(uuid::Uuid::parse_str(&hanging_id).unwrap())
    .execute(&app.db)
    .await
    .unwrap();

    let started = Instant::now();
    for i in 0..20 {
        assert_eq!(app.sign_up(&format!("reader{i}@example.com"), "").await.status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "signups waited: {:?}", started.elapsed());
    quick.wait_for(20, "every event at the quick endpoint").await;
    // The hanging endpoint's tries end at webhooks.timeout_secs and are recorded, never longer.
    wait_until(Duration::from_secs(15), "a timed-out try recorded", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_attempts WHERE error LIKE 'no answer in time%'")
            .fetch_one(&app.db)
            .await
            .unwrap()
            > 0
    })
    .await;
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_internal_addresses_are_refused_when_added() {
    let app = app().await;
    let internal = Endpoint::start(Behaviour::Answer(vec![200])).await;
    // Reachable (webhooks.allow_private is on here): followed, the redirect would arrive.
    let redirecting = Endpoint::start(Behaviour::Redirect(internal.url.clone())).await;
    add(&app, &redirecting.url, &["subscriber.created"]).await;
    app.sign_up("sam@example.com", "").await;
    redirecting.wait_for(1, "the try").await;
    wait_until(Duration::from_secs(10), "the refusal recorded", || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT error FROM webhook_attempts LIMIT 1")
            .fetch_optional(&app.db)
            .await
            .unwrap()
            .flatten()
            .is_some_and(|e| e.contains("redirects are not followed"))
    })
    .await;
    assert!(internal.received().is_empty());

    // With the default rules, a loopback or private endpoint is refused before anything is stored.
    let strict = TestApp::spawn().await;
    for url in ["http://127.0.0.1:9/hooks", "http://[::1]/", "http://169.254.169.254/latest", "http://10.0.0.8/"] {
        let response = strict
            .admin_post("/admin/webhooks")
            .json(&json!({ "url": url, "events": ["subscriber.created"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "url");
        assert!(body["error"].as_str().unwrap().contains("webhooks.allow_private"), "{body}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints").fetch_one(&strict.db).await.unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases: [(Value, u16, &str); 7] = [
        (json!({ "url": "ftp://x.example/", "events": ["subscriber.created"] }), 422, "url"),
        (json!({ "url": "not a url", "events": ["subscriber.created"] }), 422, "url"),
        (json!({ "url": "https://x.example/", "events": ["subscriber.deleted"] }), 422, "events"),
        (json!({ "url": "https://x.example/", "events": [] }), 422, "events"),
        (json!({ "url": "https://x.example/", "events": "subscriber.created" }), 422, "events"),
        (json!({ "events": ["subscriber.created"] }), 422, "url"),
        (json!({ "url": 5, "events": ["subscriber.created"] }), 422, "url"),
    ];
    for (body, status, field) in cases {
        let response = app.admin_post("/admin/webhooks").json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    let garbled =
        app.admin_post("/admin/webhooks").header("content-type", "application/json").body("{").send().await.unwrap();
    assert_eq!(garbled.status(), 400);
    let unauthenticated = app.post_json("/admin/webhooks", &json!({})).await;
    assert_eq!(unauthenticated.status(), 401);
    for id in ["0190a0a0-0000-7000-8000-000000000000", "nope"] {
        let response = app
            .client
            .delete(format!("{}/admin/webhooks/{id}", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{id}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_endpoints() {
    let app = TestApp::spawn().await;
    let added = app
        .cli(&["webhooks", "add", "https://crm.example/hooks", "--events", "subscriber.created,digest.finished"], None);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let out = String::from_utf8(added.stdout).unwrap();
    let id = out.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_owned();
    assert!(out.lines().any(|l| l.starts_with("secret: whsec_")), "{out}");

    let listed = String::from_utf8(app.cli(&["webhooks", "list"], None).stdout).unwrap();
    assert!(listed.contains(&id) && listed.contains("subscriber.created,digest.finished"), "{listed}");
    assert!(!listed.contains("whsec_"), "the secret is shown once");

    let refused = app.cli(&["webhooks", "add", "http://127.0.0.1/", "--events", "subscriber.created"], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("webhooks.allow_private"));
    let unknown = app.cli(&["webhooks", "add", "https://x.example/", "--events", "subscriber.deleted"], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--events"));

    assert!(app.cli(&["webhooks", "remove", &id], None).status.success());
    assert_eq!(app.cli(&["webhooks", "remove", &id], None).status.code(), Some(2));
    assert!(String::from_utf8(app.cli(&["webhooks", "list"], None).stdout).unwrap().trim().is_empty());
}

#[tokio::test]
async fn the_console_lists_endpoints_with_their_attempts_and_adds_and_removes_them() {
    let app = app().await;
    let login = app.post_form("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let get = || app.client.get(format!("{}/admin/ui/webhooks", app.address)).header("cookie", &session).send();
    let post = |path: String, fields: Vec<(&str, String)>| {
        app.client
            .post(format!("{}{path}", app.address))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
    };
    let html = get().await.unwrap().text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_owned();

    let endpoint = Endpoint::start(Behaviour::Answer(vec![202])).await;
    let forged =
        post("/admin/ui/webhooks".into(), vec![("url", endpoint.url.clone()), ("events", "subscriber.created".into())]);
    assert_eq!(forged.await.unwrap().status(), 400);
    let added = post(
        "/admin/ui/webhooks".into(),
        vec![("csrf", csrf.clone()), ("url", endpoint.url.clone()), ("events", "subscriber.created".into())],
    )
    .await
    .unwrap();
    assert_eq!(added.headers()["cache-control"], "no-store");
    let page = added.text().await.unwrap();
    assert!(page.contains("whsec_"), "the new secret is shown once");
    let bad = post(
        "/admin/ui/webhooks".into(),
        vec![("csrf", csrf.clone()), ("url", "ftp://x".into()), ("events", "x".into())],
    );
    assert!(bad.await.unwrap().text().await.unwrap().contains("role=\"alert\""));

    app.sign_up("cy@example.com", "").await;
    endpoint.wait_for(1, "the event").await;
    wait_until(Duration::from_secs(10), "the attempt on the page", || async {
        get().await.unwrap().text().await.unwrap().contains("<td>202")
    })
    .await;
    let page = get().await.unwrap().text().await.unwrap();
    assert!(page.contains(&endpoint.url) && !page.contains("whsec_"), "listed, secret not shown again");

    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(&app.db).await.unwrap();
    let removed = post(format!("/admin/ui/webhooks/{id}/remove"), vec![("csrf", csrf)]).await.unwrap();
    assert_eq!(removed.status(), 303);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_recipient_refused_at_send_time_is_subscriber_bounced() {
    let script: crate::support::Script = std::sync::Arc::new(|rcpt: &str, _| {
        if rcpt.starts_with("nobody") {
            crate::support::Fault::RejectRcpt(550, "5.1.1 no such user")
        } else {
            crate::support::Fault::Accept
        }
    });
    let app = TestApp::spawn_with(Options {
        script: Some(script),
        extra: vec![("BROADSHEET__WEBHOOKS__ALLOW_PRIVATE".into(), "true".into())],
        ..Default::default()
    })
    .await;
    let endpoint = Endpoint::start(Behaviour::Answer(vec![200])).await;
    add(&app, &endpoint.url, &["subscriber.bounced"]).await;
    // A confirmation (a queued row) and a digest (a chunk's send) refused for good.
    app.sign_up("nobody.pending@example.com", "").await;
    app.add_confirmed(&["nobody.confirmed@example.com", "reader@example.com"]).await;
    app.add_article("News", "Something happened.", None).await;
    app.admin_post("/admin/digests").json(&json!({ "subject": "This week" })).send().await.unwrap();
    let bounced = endpoint.wait_for(2, "two bounces").await;
    let mut emails: Vec<String> =
        bounced.iter().map(|b| b.json()["data"]["email"].as_str().unwrap().to_owned()).collect();
    emails.sort();
    assert_eq!(emails, ["nobody.confirmed@example.com", "nobody.pending@example.com"]);
    assert!(bounced.iter().all(|b| b.json()["data"]["source"] == "smtp" && b.json()["data"]["kind"] == "hard"));
}

#[tokio::test]
async fn a_batch_of_tries_settles_every_message_and_keeps_only_the_attempts_shown() {
    use broadsheet::store::webhook_messages::{Outcome, Tried, record};
    use broadsheet::store::webhooks::ATTEMPTS_KEPT;

    let app = app().await;
    // Endpoints on a port nobody listens on, so the worker's own tries only fail and retry later;
    // the rows below are settled by `record` directly.
    let (busy, _) = add(&app, "http://127.0.0.1:9/busy", &["digest.started"]).await;
    let (gone, _) = add(&app, "http://127.0.0.1:9/gone", &["digest.started"]).await;
    let (busy, gone) = (uuid::Uuid::parse_str(&busy).unwrap(), uuid::Uuid::parse_str(&gone).unwrap());
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO webhook_messages (endpoint_id, type, data, next_attempt_at)
         SELECT CASE WHEN i <= 30 THEN $1 ELSE $2 END, 'digest.started', '{}', now() + interval '1 hour'
         FROM generate_series(1, 33) i ORDER BY i RETURNING id",
    )
    .bind(busy)
    .bind(gone)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let tried = |id: i64, endpoint, outcome| Tried {
        id,
        endpoint_id: endpoint,
        event_type: "digest.started".into(),
        status_code: Some(if outcome == Outcome::Gone { 410 } else { 204 }),
        error: None,
        millis: 1,
        outcome,
    };
    // 30 deliveries to one endpoint, and one 410 from the other (its two other messages pending).
    let mut batch: Vec<Tried> = ids[..30].iter().map(|id| tried(*id, busy, Outcome::Delivered)).collect();
    batch.push(tried(ids[30], gone, Outcome::Gone));
    record(&app.db, &batch).await.unwrap();

    let statuses: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, status FROM webhook_messages ORDER BY id").fetch_all(&app.db).await.unwrap();
    assert!(statuses[..30].iter().all(|(_, s)| s == "delivered"), "{statuses:?}");
    assert!(statuses[30..].iter().all(|(_, s)| s == "failed"), "the 410 endpoint's messages all fail: {statuses:?}");
    let shown: Vec<i64> =
        sqlx::query_scalar("SELECT message_id FROM webhook_attempts WHERE endpoint_id = $1 ORDER BY id")
            .bind(busy)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let newest: Vec<i64> = ids[30 - usize::try_from(ATTEMPTS_KEPT).unwrap()..30].to_vec();
    assert_eq!(shown, newest, "the newest tries, in order, and no more than the console keeps");
    let enabled: bool = sqlx::query_scalar("SELECT enabled FROM webhook_endpoints WHERE id = $1")
        .bind(gone)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!enabled, "410 disables the endpoint");
}
