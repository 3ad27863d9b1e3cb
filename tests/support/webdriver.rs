//! Debian's chromium driven through chromedriver with `fantoccini` (plain http to a local
//! chromedriver, so no TLS features): start and stop both, plus the few steps the tests use.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub struct Browser {
    client: Client,
    _driver: Driver,
    pub shots: PathBuf,
}

/// chromedriver (in a process group of its own, which the chromium it starts joins) and chromium's
/// profile directory. Dropping it stops both, also when a test fails half-way without closing
/// the session, and removes the profile.
struct Driver {
    process: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
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

/// Panics with the WebDriver command that failed and why.
fn must<T>(what: &str, result: Result<T, CmdError>) -> T {
    result.unwrap_or_else(|e| panic!("webdriver {what}: {e}"))
}

impl Browser {
    pub async fn start(name: &str) -> Browser {
        Self::start_in(name, "en-US").await
    }

    /// A browser whose reader's language is `lang`: it sends it as `Accept-Language`.
    pub async fn start_in(name: &str, lang: &str) -> Browser {
        let port = super::free_port();
        let process = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("broadsheet-chromium-{}", uuid::Uuid::new_v4()));
        let driver = Driver { process, profile };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({ "browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1100,1000", format!("--lang={lang}"),
                     format!("--user-data-dir={}", driver.profile.display())],
            "prefs": { "intl.accept_languages": lang }
        }});
        let serde_json::Value::Object(caps) = caps else { unreachable!("a JSON object") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("no session: {e}"));
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots").join(name);
        std::fs::create_dir_all(&shots).unwrap();
        Browser { client, _driver: driver, shots }
    }

    pub async fn goto(&self, url: &str) {
        must("goto", self.client.goto(url).await);
    }

    pub async fn url(&self) -> String {
        must("url", self.client.current_url().await).to_string()
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
        must("source", self.client.source().await)
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        must(&format!("find {css}"), self.client.find(Locator::Css(css)).await)
    }

    pub async fn fill(&self, css: &str, text: &str) {
        must(&format!("type into {css}"), self.element(css).await.send_keys(text).await);
    }

    pub async fn click(&self, css: &str) {
        must(&format!("click {css}"), self.element(css).await.click().await);
    }

    pub async fn text(&self, css: &str) -> String {
        must(&format!("text of {css}"), self.element(css).await.text().await)
    }

    /// Runs `script` (a function body; `return` a JSON value) in the page.
    pub async fn execute(&self, script: &str) -> serde_json::Value {
        must("execute", self.client.execute(script, Vec::new()).await)
    }

    /// Saves a PNG under target/screenshots/<test>/ and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = must("screenshot", self.client.screenshot().await);
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (chromedriver closes chromium); dropping the browser then stops
    /// chromedriver and removes the profile.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}
