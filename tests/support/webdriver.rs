//! Just enough of the W3C WebDriver protocol to drive Debian's chromium through chromedriver.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    pub shots: std::path::PathBuf,
}

/// chromium and chromedriver from Debian (`.ci/run` installs them). In CI their absence is a
/// failure; on a developer's machine without them the browser tests say so and stop.
pub fn ready() -> bool {
    let present =
        std::path::Path::new("/usr/bin/chromedriver").exists() && std::path::Path::new("/usr/bin/chromium").exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "SKIPPED: browser test needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        );
    }
    present
}

impl Browser {
    pub async fn start(name: &str) -> Browser {
        let port = super::free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("broadsheet-chromium-{}", uuid::Uuid::new_v4()));
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1100,1000", format!("--user-data-dir={}", profile.display())]
        }}}});
        let created: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots").join(name);
        std::fs::create_dir_all(&shots).unwrap();
        Browser { driver, base, session, http, shots }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let value: Value = request.send().await.unwrap().json().await.unwrap();
        if value["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", value["value"]);
        }
        value["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    /// Waits (up to 10 s) until the page's HTML contains `needle`: a click that submits a form
    /// may return before the next page has loaded.
    pub async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source().await;
            if source.contains(needle) {
                return source;
            }
            assert!(Instant::now() < deadline, "the page never showed {needle:?}:\n{source}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_owned()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/value"), Some(json!({ "text": text }))).await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None).await.as_str().unwrap().to_owned()
    }

    /// Saves a PNG under target/screenshots/<test>/ and returns its path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
