//! The shared test harness: a `TestApp` running the real application on its own freshly created
//! database, talking to a real SMTP sink over TCP. Dropping it stops the app and drops the database.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod dns;
pub mod pg_proxy;
pub mod smtp_sink;
pub mod webdriver;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadsheet::app::Application;
use broadsheet::config::Settings;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

pub use self::smtp_sink::{Fault, ReceivedMail, Script, SinkTls, SmtpSink, TEST_CA_FILE};

/// Links in mail point here; tests rewrite them to the app's real address.
pub const BASE_URL: &str = "https://news.example.test";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

/// The Postgres server the tests create their databases on.
fn server_url() -> String {
    std::env::var_os("BROADSHEET_TEST_DATABASE_URL")
        .and_then(|v| v.into_string().ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub db_name: String,
    pub sink: Option<SmtpSink>,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// `http.base_url`: links in mail start with it.
    pub base_url: String,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Options for [`TestApp::spawn_with`].
pub struct Options {
    /// Start an SMTP sink and point `mail.url` at it (default). When false, `mail.url` points at
    /// `mail_port`, where nothing listens until the test starts a sink there.
    pub start_sink: bool,
    pub mail_port: Option<u16>,
    pub script: Option<Script>,
    pub extra: Vec<(String, String)>,
    /// Run the in-process worker (default). Tests of several workers start their own.
    pub with_worker: bool,
    /// Replaces [`BASE_URL`] (a browser keeps `Secure` cookies from an http origin to itself).
    pub base_url: Option<String>,
    /// Run on this existing test database (another `TestApp`'s `db_name`), as a restarted
    /// service would, instead of a fresh one.
    pub db_name: Option<String>,
    /// The sink speaks TLS: `mail.url` is then `smtp://…?tls=required` (STARTTLS) or
    /// `smtps://…` (implicit). Its certificate is signed by a test CA no system trusts
    /// ([`TEST_CA_FILE`] for `mail.tls_ca_file`).
    pub tls: Option<SinkTls>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            start_sink: true,
            mail_port: None,
            script: None,
            extra: Vec::new(),
            with_worker: true,
            base_url: None,
            db_name: None,
            tls: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        // One rustls crypto provider for every TLS client in the process (reqwest's included).
        let _ = rustls::crypto::ring::default_provider().install_default();
        if std::env::var_os("TEST_LOG").is_some() {
            broadsheet::telemetry::init(broadsheet::config::LogFormat::Pretty);
        }
        let sink = match (options.start_sink, options.script, options.tls) {
            (true, script, Some(tls)) => {
                Some(SmtpSink::start_tls(tls, script.unwrap_or_else(|| Arc::new(|_: &str, _| Fault::Accept))).await)
            }
            (true, Some(script), None) => Some(SmtpSink::start_with(options.mail_port.unwrap_or(0), script).await),
            (true, None, None) => Some(match options.mail_port {
                Some(port) => SmtpSink::start_on(port).await,
                None => SmtpSink::start().await,
            }),
            (false, _, _) => None,
        };
        let mail_url = match (&sink, options.mail_port) {
            (Some(sink), _) if options.tls == Some(SinkTls::StartTls) => {
                format!("smtp://127.0.0.1:{}?tls=required", sink.port())
            }
            (Some(sink), _) if options.tls == Some(SinkTls::Implicit) => format!("smtps://127.0.0.1:{}", sink.port()),
            (Some(sink), _) => sink.url(),
            (None, Some(port)) => format!("smtp://127.0.0.1:{port}?tls=none"),
            (None, None) => panic!("start_sink = false needs a mail_port"),
        };
        let db_name = options.db_name.unwrap_or_else(|| format!("broadsheet_test_{}", uuid::Uuid::new_v4().simple()));
        let mut vars: Vec<(String, String)> = [
            ("DATABASE_URL", format!("{}/{db_name}", server_url())),
            ("BROADSHEET__DATABASE__MAX_CONNECTIONS", "5".to_owned()),
            ("BROADSHEET__HTTP__ADDR", "127.0.0.1:0".to_owned()),
            ("BROADSHEET__HTTP__BASE_URL", options.base_url.clone().unwrap_or_else(|| BASE_URL.to_owned())),
            ("BROADSHEET__MAIL__URL", mail_url),
            ("BROADSHEET__MAIL__FROM", "Broadsheet <news@example.test>".to_owned()),
            ("BROADSHEET__MAIL__RETRY_BASE_SECS", "0.05".to_owned()),
            ("BROADSHEET__MAIL__SEND_TIMEOUT_SECS", "2".to_owned()),
            ("BROADSHEET__MAIL__LEASE_SECS", "5".to_owned()),
            ("BROADSHEET__LIMITS__SIGNUPS_PER_IP_PER_MINUTE", "0".to_owned()),
            // Tests post the form as soon as they have its token; the wait has tests of its own.
            ("BROADSHEET__LIMITS__SIGNUP_MIN_SECONDS", "0".to_owned()),
            ("BROADSHEET__ADMIN__TOKEN", ADMIN_TOKEN.to_owned()),
            // A key of its own for every test app: links from one test mean nothing to another.
            ("BROADSHEET__TOKENS__KEYS", random_token_key()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        vars.extend(options.extra);
        let settings = Settings::load_from(None, &vars).expect("test settings are valid");
        let app = Application::build(settings.clone(), options.with_worker).await.expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run(shutdown.clone()));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let base_url = options.base_url.unwrap_or_else(|| BASE_URL.to_owned());
        Self { address, db, db_name, sink, client, settings, base_url, shutdown, server: Some(server) }
    }

    /// `tokens.keys` as the environment gives it (commas between keys), for processes that must
    /// read and make this app's links.
    pub fn token_keys_env(&self) -> String {
        use secrecy::ExposeSecret as _;
        self.settings.tokens.keys.iter().map(|k| k.expose_secret().to_owned()).collect::<Vec<_>>().join(",")
    }

    /// This app's link keys, to make links the way its worker does (or forge them).
    pub fn token_keys(&self) -> broadsheet::domain::TokenKeys {
        broadsheet::domain::TokenKeys::new(&self.settings.tokens.keys).unwrap()
    }

    /// A signup form token as the page served at `served_at` would carry.
    pub fn form_token_at(&self, served_at: chrono::DateTime<chrono::Utc>) -> String {
        broadsheet::signup::bots::form_token(&self.token_keys(), served_at)
    }

    /// Another transaction (an import, another process) holding every subscriber row, on a
    /// connection of its own, until the caller commits on it.
    pub async fn lock_subscribers(&self) -> PgConnection {
        let mut holder = PgConnection::connect(&self.database_url()).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT 1 FROM subscribers FOR UPDATE").execute(&mut holder).await.unwrap();
        holder
    }

    /// Waits until at least `n` statements on the app's database wait for a lock (asked on a
    /// connection of its own: the app's pool may be busy waiting).
    pub async fn wait_for_lock_waiters(&self, n: i64) {
        let waiting = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
            self.db_name
        );
        let mut observer = PgConnection::connect(&self.database_url()).await.unwrap();
        let started = Instant::now();
        while sqlx::query_scalar::<_, i64>(&waiting).fetch_one(&mut observer).await.unwrap() < n {
            assert!(started.elapsed() < Duration::from_secs(20), "the signups never reached the database");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn database_url(&self) -> String {
        format!("{}/{}", server_url(), self.db_name)
    }

    /// Runs the real `broadsheet` binary against this app's database and sink.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        self.cli_with(args, stdin, &[])
    }

    /// [`TestApp::cli`] with extra environment variables (`BROADSHEET__FEEDS__ALLOW_PRIVATE`, say).
    pub fn cli_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> std::process::Output {
        use std::io::Write as _;
        let mut command = self.cli_command(args);
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("the broadsheet binary runs");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            // The command may exit before reading (bad arguments): a closed pipe is fine.
            let _ = input.write_all(text.as_bytes());
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// The `broadsheet` command with this app's database and sink, and stdin, stdout and stderr
    /// piped, not yet started.
    pub fn cli_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"));
        command
            .args(args)
            .env("DATABASE_URL", self.database_url())
            .env("BROADSHEET__HTTP__BASE_URL", BASE_URL)
            .env("BROADSHEET__MAIL__FROM", "Broadsheet <news@example.test>")
            .env("BROADSHEET__TOKENS__KEYS", self.token_keys_env())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(sink) = &self.sink {
            command.env("BROADSHEET__MAIL__URL", sink.url());
        }
        command
    }

    pub fn sink(&self) -> &SmtpSink {
        self.sink.as_ref().expect("this test app has an SMTP sink")
    }

    /// Turns a link from a mail (`https://news.example.test/...`) into one that reaches this app.
    pub fn local(&self, link: &str) -> String {
        assert!(link.starts_with(&self.base_url), "link {link} does not start with the configured base_url");
        format!("{}{}", self.address, &link[self.base_url.len()..])
    }

    pub async fn get(&self, path_or_link: &str) -> reqwest::Response {
        let url = if path_or_link.starts_with("http") {
            path_or_link.to_owned()
        } else {
            format!("{}{path_or_link}", self.address)
        };
        self.client.get(url).send().await.unwrap()
    }

    /// A form post. To `/subscriptions` it carries a fresh form token unless `fields` has one,
    /// as if the page had just been loaded (tests of the defences post without one through
    /// [`TestApp::post_raw`]).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.form_token_at(chrono::Utc::now());
        let mut fields = fields.to_vec();
        if path == "/subscriptions" && !fields.iter().any(|(name, _)| *name == "form_token") {
            fields.push(("form_token", &token));
        }
        let body = serde_urlencoded::to_string(&fields).unwrap();
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes()).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.post_raw(path, "application/json", serde_json::to_vec(body).unwrap()).await
    }

    /// A post of `body` as it is, except that a form to `/subscriptions` without a
    /// `form_token` gets a fresh one appended, as the signup page would have given it (tests of
    /// the defences post through [`TestApp::client`] to go without).
    pub async fn post_raw(&self, path: &str, content_type: &str, mut body: Vec<u8>) -> reqwest::Response {
        let form = content_type == "application/x-www-form-urlencoded";
        if path == "/subscriptions" && form && !body.windows(11).any(|w| w == b"form_token=") {
            body.extend_from_slice(format!("&form_token={}", self.form_token_at(chrono::Utc::now())).as_bytes());
        }
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.address) };
        self.client.post(url).header("content-type", content_type).body(body).send().await.unwrap()
    }

    /// The visitor fills in the signup form.
    pub async fn sign_up(&self, email: &str, name: &str) -> reqwest::Response {
        self.post_form("/subscriptions", &[("email", email), ("name", name)]).await
    }

    /// Subscribers who confirmed long ago, straight into the table.
    pub async fn add_confirmed(&self, emails: &[&str]) {
        for email in emails {
            sqlx::query(
                "WITH s AS (INSERT INTO subscribers (id, email, status, confirmed_at)
                            VALUES ($1, $2, 'confirmed', now()) RETURNING id)
                 INSERT INTO memberships (list_id, subscriber_id, status)
                 SELECT l.id, s.id, 'confirmed' FROM s, lists l WHERE l.slug = 'default'",
            )
            .bind(uuid::Uuid::new_v4())
            .bind(*email)
            .execute(&self.db)
            .await
            .unwrap();
        }
    }

    /// `n` confirmed subscribers `reader{i}@example.com`, in one statement.
    pub async fn add_many_confirmed(&self, n: i64) {
        sqlx::query(
            "WITH s AS (INSERT INTO subscribers (id, email, name, status, confirmed_at)
                        SELECT gen_random_uuid(), 'reader' || i || '@example.com', 'Reader ' || i, 'confirmed', now()
                        FROM generate_series(1, $1) AS i RETURNING id)
             INSERT INTO memberships (list_id, subscriber_id, status)
             SELECT l.id, s.id, 'confirmed' FROM s, lists l WHERE l.slug = 'default'",
        )
        .bind(n)
        .execute(&self.db)
        .await
        .unwrap();
    }

    pub fn admin_post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.address)).bearer_auth(ADMIN_TOKEN)
    }

    pub fn admin_get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.address)).bearer_auth(ADMIN_TOKEN)
    }

    /// A digest's progress as the admin API reports it (`GET /admin/digests/{id}`).
    pub async fn digest_progress(&self, id: &str) -> serde_json::Value {
        self.admin_get(&format!("/admin/digests/{id}")).send().await.unwrap().json().await.unwrap()
    }

    /// Adds an article through the admin API and returns its id.
    pub async fn add_article(&self, title: &str, body: &str, url: Option<&str>) -> String {
        let response = self
            .admin_post("/admin/articles")
            .json(&serde_json::json!({ "title": title, "body": body, "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Deliveries still pending, or held by a worker.
    pub async fn stuck(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending' OR locked_by IS NOT NULL)
                    + (SELECT count(*) FROM digest_chunks WHERE NOT done OR locked_by IS NOT NULL)",
        )
        .fetch_one(&self.db)
        .await
        .unwrap()
    }

    pub async fn status_of(&self, email: &str) -> Option<String> {
        sqlx::query_scalar::<_, String>("SELECT status::text FROM subscribers WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&self.db)
            .await
            .unwrap()
    }

    /// Counts of deliveries by status, e.g. `[("sent", 2)]`.
    pub async fn deliveries(&self) -> Vec<(String, i64)> {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT status::text, count(*) FROM deliveries GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// Waits until no delivery is pending (all sent, failed or skipped).
    pub async fn wait_until_queue_settled(&self, timeout: Duration) {
        // A digest's recipients have no row until their mail has gone: open chunks are pending.
        let pending = "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending')
                              + (SELECT count(*) FROM digest_chunks WHERE NOT done)";
        self.wait_for_count(pending, |n| n == 0, timeout, "the delivery queue to settle").await;
    }

    /// Waits (up to `timeout`) until `count_sql`, a `SELECT count(*) …`, gives a number that
    /// `wanted` accepts.
    pub async fn wait_for_count(&self, count_sql: &str, wanted: impl Fn(i64) -> bool, timeout: Duration, what: &str) {
        let (db, wanted) = (self.db.clone(), &wanted);
        wait_until(timeout, what, move || {
            let db = db.clone();
            async move { wanted(sqlx::query_scalar::<_, i64>(count_sql).fetch_one(&db).await.unwrap_or(-1)) }
        })
        .await;
    }

    /// Signs up, waits for the mail, and returns the confirmation link (local) from it.
    pub async fn confirmation_link_for(&self, email: &str, name: &str) -> (String, ReceivedMail) {
        const CONFIRM: &str = "https://news.example.test/subscriptions/confirm";
        let mut seen = self.sink().received().len();
        let response = self.sign_up(email, name).await;
        assert_eq!(response.status(), 200);
        // The first new mail to this address that carries a confirmation link: another mail may
        // arrive in between, such as the welcome of an earlier confirmation of the same address.
        loop {
            let mails = self.sink().wait_for(seen + 1, Duration::from_secs(10)).await;
            let to_them = |m: &&ReceivedMail| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(email));
            let confirming = |m: &&ReceivedMail| m.links().iter().any(|l| l.starts_with(CONFIRM));
            if let Some(mail) = mails[seen..].iter().filter(to_them).find(confirming) {
                return (self.local(&mail.link_to(CONFIRM)), mail.clone());
            }
            seen = mails.len();
        }
    }

    /// Signals shutdown (SIGTERM) without waiting for it.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits up to `timeout` for the application to finish after shutdown; true when it did.
    pub async fn wait_stopped(&mut self, timeout: Duration) -> bool {
        match self.server.take() {
            Some(server) => tokio::time::timeout(timeout, server).await.is_ok(),
            None => true,
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
        }
    }
}

/// A fresh `tokens.keys` entry.
pub fn random_token_key() -> String {
    use secrecy::ExposeSecret as _;
    broadsheet::domain::TokenKeys::generate_secret().unwrap().expose_secret().to_owned()
}

/// The query string value of `token` in a link.
pub fn token_of(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).unwrap()
}

pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free TCP port on loopback (nothing listens there once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let name = self.db_name.clone();
        // Drop runs inside the test's runtime; a fresh thread with its own runtime may block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&format!("{}/postgres", server_url())).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.db_name);
        }
    }
}
