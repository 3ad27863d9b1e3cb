//! The operator console and the signup page in a real browser (Debian's chromium through
//! chromedriver), driving the real service. Screenshots land in target/screenshots/.

use std::time::{Duration, Instant};

use crate::support::webdriver::{self, Browser};
use crate::support::{ADMIN_TOKEN, Options, TestApp};

const HTTP_BASE: &str = "http://news.example.test";

async fn wait_for_text(browser: &Browser, css: &str, expected: &str, reload: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if browser.text(css).await.trim() == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{css} never showed {expected:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        if reload {
            let url = browser.url().await;
            browser.goto(&url).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_adds_an_article_previews_sends_and_watches_it_finish() {
    if !webdriver::ready() {
        return;
    }
    let app = TestApp::spawn_with(Options { base_url: Some(HTTP_BASE.into()), ..Default::default() }).await;
    app.add_confirmed(&["ann@example.com", "ben@example.com", "cat@example.com"]).await;
    let browser = Browser::start("console").await;

    browser.goto(&format!("{}/admin", app.address)).await;
    browser.wait_for("Admin token").await;
    assert!(browser.url().await.ends_with("/admin/login"), "signed-out visitors are sent to sign in");
    browser.fill("#token", "wrong").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("not the admin token").await;
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Recent digests").await;
    assert!(browser.url().await.ends_with("/admin"));
    browser.screenshot("1-overview").await;

    browser.goto(&format!("{}/admin/ui/articles", app.address)).await;
    browser.fill("#title", "Hello from the console").await;
    browser.fill("#url", "https://example.com/console").await;
    browser.fill("#body", "Some **bold** words.\n\n- one\n- two").await;
    browser.click("button[value=preview]").await;
    browser.wait_for("<strong>bold</strong>").await;
    browser.screenshot("2-article-preview").await;
    browser.click("button[value=save]").await;
    browser.wait_for("https://example.com/console\" rel=").await;

    browser.goto(&format!("{}/admin/ui/digests", app.address)).await;
    browser.wait_for("<iframe").await;
    browser.screenshot("3-digest-preview").await;
    browser.fill("#subject", "Console news").await;
    browser.click("#send").await;
    browser.wait_for("Send the digest to 3 confirmed subscribers").await;
    browser.click("#confirm-send").await;
    browser.wait_for("id=\"sent\"").await;
    wait_for_text(&browser, "#sent", "3", true).await;
    assert_eq!(browser.text("#failed").await, "0");
    browser.screenshot("4-digest-done").await;
    assert_eq!(app.sink().received().len(), 3);

    // A form without the session's CSRF token is refused.
    let forged = app.post_form("/admin/ui/digests", &[("confirmed", "yes")]).await;
    assert!(forged.status().is_redirection() || forged.status().is_client_error());
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_signs_up_in_the_browser_and_confirms_from_the_mail() {
    if !webdriver::ready() {
        return;
    }
    let app = TestApp::spawn_with(Options { base_url: Some(HTTP_BASE.into()), ..Default::default() }).await;
    let browser = Browser::start("visitor").await;
    browser.goto(&format!("{}/", app.address)).await;
    browser.screenshot("1-signup").await;
    browser.fill("#email", "visitor@example.com").await;
    browser.fill("#name", "Vera Visitor").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Check your inbox").await;
    browser.screenshot("2-check-inbox").await;

    let mail = app.sink().wait_for(1, Duration::from_secs(10)).await.remove(0);
    let link = app.local(&mail.link_to(&format!("{HTTP_BASE}/subscriptions/confirm")));
    browser.goto(&link).await;
    browser.wait_for("Yes, subscribe me").await;
    assert_eq!(
        app.status_of("visitor@example.com").await.as_deref(),
        Some("pending"),
        "opening the link changes nothing"
    );
    browser.screenshot("3-confirm").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("re subscribed</h1>").await;
    browser.screenshot("4-subscribed").await;
    assert_eq!(app.status_of("visitor@example.com").await.as_deref(), Some("confirmed"));
    browser.quit().await;
}
