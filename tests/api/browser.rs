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
    browser.wait_for("Send the digest to 3 confirmed members of").await;
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
    // With proof of work on: the page's script solves it before the form goes (docs/bots.md).
    let app = TestApp::spawn_with(Options {
        base_url: Some(HTTP_BASE.into()),
        extra: vec![("BROADSHEET__LIMITS__SIGNUP_POW".into(), "16".into())],
        ..Default::default()
    })
    .await;
    let browser = Browser::start("visitor").await;
    browser.goto(&format!("{}/", app.address)).await;
    browser.screenshot("1-signup").await;
    browser.fill("#email", "visitor@example.com").await;
    browser.fill("#name", "Vera Visitor").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Check your inbox").await;
    browser.screenshot("2-check-inbox").await;
    // The form token's nonce and the challenge's: the script solved the proof of work.
    let nonces: i64 = sqlx::query_scalar("SELECT count(*) FROM form_nonces").fetch_one(&app.db).await.unwrap();
    assert_eq!(nonces, 2, "the form went with its token and a solved challenge");

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

/// What an accessibility audit checks first, in the page: a language, one `h1` and no skipped
/// heading level, a label for every field, text on every link and button, and text contrast of
/// at least 4.5:1 (3:1 for large text) against the background it is drawn on. Returns the
/// problems found.
const AUDIT: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('no lang on <html>');
if (!document.title) problems.push('no <title>');
const headings = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
if (headings.filter(l => l === 1).length !== 1) problems.push('not exactly one h1');
headings.forEach((l, i) => { if (i > 0 && l > headings[i - 1] + 1) problems.push('heading level skipped: h' + headings[i - 1] + ' to h' + l); });
for (const f of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = (f.id && document.querySelector('label[for="' + f.id + '"]')) || f.getAttribute('aria-label') || f.closest('label');
  if (!labelled) problems.push('field without a label: ' + (f.name || f.id));
}
for (const a of document.querySelectorAll('a, button')) {
  if (!(a.textContent.trim() || a.getAttribute('aria-label'))) problems.push('empty link or button');
}
const rgb = c => { const m = c.match(/[\d.]+/g) || [0, 0, 0, 0]; return { r: +m[0], g: +m[1], b: +m[2], a: m.length > 3 ? +m[3] : 1 }; };
const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
const background = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.a > 0) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!n.textContent.trim() || !el || el.offsetParent === null) continue;
  const style = getComputedStyle(el);
  const [a, b] = [lum(rgb(style.color)), lum(background(el))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && +style.fontWeight >= 700);
  if (ratio < (large ? 3 : 4.5)) problems.push('contrast ' + ratio.toFixed(2) + ' for "' + n.textContent.trim().slice(0, 40) + '"');
}
return problems;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_reads_the_archive_in_the_browser_and_subscribes_from_an_issue() {
    if !webdriver::ready() {
        return;
    }
    let app = TestApp::spawn_with(Options { base_url: Some(HTTP_BASE.into()), ..Default::default() }).await;
    app.add_confirmed(&["reader@example.com"]).await;
    app.add_article("An archived story", "Some **bold** words.", Some("https://example.org/story")).await;
    let created: serde_json::Value = app
        .admin_post("/admin/digests")
        .json(&serde_json::json!({ "subject": "Issue one" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let browser = Browser::start("archive").await;

    // The signup page is the bar the archive's pages must meet.
    browser.goto(&format!("{}/", app.address)).await;
    let problems = browser.execute(AUDIT).await;
    assert_eq!(problems, serde_json::json!([]), "the signup page");

    browser.goto(&format!("{}/archive", app.address)).await;
    browser.wait_for("Issue one").await;
    assert_eq!(browser.execute(AUDIT).await, serde_json::json!([]), "the archive's list");
    browser.screenshot("1-list").await;
    browser.click(&format!("a[href='/archive/{id}']")).await;
    browser.wait_for("<strong>bold</strong>").await;
    assert_eq!(browser.execute(AUDIT).await, serde_json::json!([]), "an issue's page");
    browser.screenshot("2-issue").await;

    browser.fill("#email", "from-the-archive@example.com").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Check your inbox").await;
    assert_eq!(app.status_of("from-the-archive@example.com").await.as_deref(), Some("pending"));
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_moves_from_one_list_to_another_on_the_preference_page() {
    if !webdriver::ready() {
        return;
    }
    let app = TestApp::spawn_with(Options { base_url: Some(HTTP_BASE.into()), ..Default::default() }).await;
    crate::signup::make_list(&app, "weekly", "Weekly digest", true, true).await;
    // Links in this app's mail start with HTTP_BASE (the browser's origin), not the default base.
    assert_eq!(app.sign_up("mover@example.com", "Mover").await.status(), 200);
    let mails = app.sink().wait_for(1, Duration::from_secs(10)).await;
    let link = mails[0].link_to(&format!("{HTTP_BASE}/subscriptions/confirm"));
    app.post_form("/subscriptions/confirm", &[("token", &crate::support::token_of(&link))]).await;
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    // The newest mail (the welcome) has the link, as every mail does.
    let mail = app.sink().received().into_iter().rev().find(|m| m.rcpt_to == ["mover@example.com"]).unwrap();
    let preferences = app.local(&mail.link_to(&format!("{HTTP_BASE}/preferences")));

    let browser = Browser::start("preferences").await;
    browser.goto(&preferences).await;
    browser.wait_for("Your lists").await;
    assert_eq!(browser.execute(AUDIT).await, serde_json::json!([]), "the preference page");
    // The same page in each shipped locale (the reader's stored language decides).
    for locale in ["de", "fr", "es", "en"] {
        sqlx::query("UPDATE subscribers SET locale = $1").bind(locale).execute(&app.db).await.unwrap();
        browser.goto(&preferences).await;
        browser.wait_for(&format!("<html lang=\"{locale}\">")).await;
        assert_eq!(browser.execute(AUDIT).await, serde_json::json!([]), "the preference page in {locale}");
    }
    browser.screenshot("1-preferences").await;
    browser.click("#list-default").await;
    browser.click("#list-weekly").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Your preferences are saved").await;
    browser.screenshot("2-saved").await;
    assert_eq!(
        crate::signup::standings(&app, "mover@example.com").await,
        vec![("default".to_owned(), "unsubscribed".to_owned()), ("weekly".to_owned(), "confirmed".to_owned())]
    );
    browser.quit().await;
}

/// Every public page a reader meets, in every shipped language, passes the audit: the language
/// comes from the browser's own `Accept-Language`, as a reader's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_page_passes_the_audit_in_every_language() {
    if !webdriver::ready() {
        return;
    }
    let app = TestApp::spawn_with(Options {
        base_url: Some(HTTP_BASE.into()),
        // One mail per reader (no welcome), so the n-th mail is the n-th reader's.
        extra: vec![("BROADSHEET__SUBSCRIPTIONS__WELCOME".into(), "false".into())],
        ..Default::default()
    })
    .await;
    for (n, lang) in ["de", "fr", "es", "en"].into_iter().enumerate() {
        let locale = broadsheet::domain::Locale::parse(lang).unwrap();
        let title = |key: &str| broadsheet::i18n::message(locale, key, None);
        let browser = Browser::start_in(&format!("languages-{lang}"), lang).await;
        let audit = |page: &'static str| {
            let browser = &browser;
            async move {
                let html = browser.source().await;
                assert!(html.contains(&format!("<html lang=\"{lang}\"")), "{page} in {lang}: {html}");
                assert_eq!(browser.execute(AUDIT).await, serde_json::json!([]), "{page} in {lang}");
            }
        };
        browser.goto(&format!("{}/", app.address)).await;
        audit("the signup page").await;
        browser.fill("#email", &format!("reader-{lang}@example.com")).await;
        browser.click("button[type=submit]").await;
        browser.wait_for(&title("inbox-title")).await;
        audit("the check-your-inbox page").await;

        let mail = app.sink().wait_for(n + 1, Duration::from_secs(10)).await.remove(n);
        let link = app.local(&mail.link_to(&format!("{HTTP_BASE}/subscriptions/confirm")));
        browser.goto(&link).await;
        browser.wait_for(&title("confirm-title")).await;
        audit("the confirm page").await;
        browser.click("button[type=submit]").await;
        browser.wait_for(&title("confirmed-title")).await;
        audit("the confirmed page").await;

        let unsubscribe = app.local(&mail.link_to(&format!("{HTTP_BASE}/unsubscribe")));
        browser.goto(&unsubscribe).await;
        browser.wait_for("<button").await;
        audit("the unsubscribe page").await;

        browser.goto(&format!("{}/subscriptions/confirm?token=not-a-token", app.address)).await;
        audit("the broken link page").await;
        browser.goto(&format!("{}/archive", app.address)).await;
        audit("the archive").await;
        browser.screenshot("archive").await;
        browser.quit().await;
    }
}
