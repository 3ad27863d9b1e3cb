//! Readers in their own language: the signup pages in the visitor's, every mail and every page
//! behind a subscriber's link in the language stored for them, and whatever names no shipped
//! locale falling back to the default, never to an error.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Options, ReceivedMail, TestApp, token_of};

const CONFIRM: &str = "https://news.example.test/subscriptions/confirm";

/// What each shipped locale says where the tests look.
struct Words {
    locale: &'static str,
    accept_language: &'static str,
    inbox_title: &'static str,
    confirm_subject: &'static str,
    greeting: &'static str,
    confirm_page: &'static str,
    welcome_subject: &'static str,
    digest_intro: &'static str,
}

const WORDS: [Words; 4] = [
    Words {
        locale: "en",
        accept_language: "en-GB,en;q=0.9",
        inbox_title: "Check your inbox",
        confirm_subject: "Confirm your subscription to Broadsheet",
        greeting: "Hi Ada,",
        confirm_page: "Yes, subscribe me",
        welcome_subject: "Welcome to Broadsheet",
        digest_intro: "Here is what's new in Broadsheet: one article.",
    },
    Words {
        locale: "de",
        accept_language: "de-AT,de;q=0.9,en;q=0.5",
        inbox_title: "Bitte prüfen Sie Ihren Posteingang",
        confirm_subject: "Bestätigen Sie Ihr Abonnement von Broadsheet",
        greeting: "Guten Tag Ada,",
        confirm_page: "Ja, ich möchte abonnieren",
        welcome_subject: "Willkommen bei Broadsheet",
        digest_intro: "Das ist neu bei Broadsheet: ein Artikel.",
    },
    Words {
        locale: "fr",
        accept_language: "fr-CA,fr;q=0.8",
        inbox_title: "Vérifiez votre boîte de réception",
        confirm_subject: "Confirmez votre abonnement à Broadsheet",
        greeting: "Bonjour Ada,",
        confirm_page: "Oui, je m'abonne",
        welcome_subject: "Bienvenue dans Broadsheet",
        digest_intro: "Voici les nouveautés de Broadsheet : 1 article.",
    },
    Words {
        locale: "es",
        accept_language: "it;q=0.9, es-MX;q=0.8, en;q=0.1",
        inbox_title: "Revise su bandeja de entrada",
        confirm_subject: "Confirme su suscripción a Broadsheet",
        greeting: "Hola, Ada:",
        confirm_page: "Sí, suscribirme",
        welcome_subject: "Bienvenido a Broadsheet",
        digest_intro: "Estas son las novedades de Broadsheet: un artículo.",
    },
];

fn words(locale: &str) -> &'static Words {
    WORDS.iter().find(|w| w.locale == locale).unwrap()
}

async fn sign_up_in(app: &TestApp, email: &str, accept_language: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    // A form token, as the signup page would have given it (docs/bots.md).
    let token = app.form_token_at(chrono::Utc::now());
    let mut fields = vec![("email", email), ("name", "Ada"), ("form_token", token.as_str())];
    fields.extend_from_slice(extra);
    app.client
        .post(format!("{}/subscriptions", app.address))
        .header("accept-language", accept_language)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

/// The newest mail to `email` whose links include `path`, waiting for it.
async fn mail_to(app: &TestApp, email: &str, path: &str) -> ReceivedMail {
    mail_after(app, 0, email, path).await
}

/// [`mail_to`] among the mails after the first `seen`.
async fn mail_after(app: &TestApp, mut seen: usize, email: &str, path: &str) -> ReceivedMail {
    let skip = seen;
    let found = |mails: &[ReceivedMail]| {
        mails[skip..]
            .iter()
            .rev()
            .find(|m| m.rcpt_to.iter().any(|r| r == email) && m.links().iter().any(|l| l.contains(path)))
            .cloned()
    };
    loop {
        let mails = app.sink().wait_for(seen + 1, Duration::from_secs(10)).await;
        if let Some(mail) = found(&mails) {
            return mail;
        }
        seen = mails.len();
    }
}

fn lang_of(html: &str) -> &str {
    let start = html.find("<html lang=\"").unwrap() + "<html lang=\"".len();
    &html[start..start + html[start..].find('"').unwrap()]
}

fn title_of(html: &str) -> &str {
    let start = html.find("<title>").unwrap() + "<title>".len();
    &html[start..start + html[start..].find("</title>").unwrap()]
}

async fn stored_locale(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("SELECT locale FROM subscribers WHERE email = $1").bind(email).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_visitor_signs_up_confirms_and_is_welcomed_in_their_language() {
    let app = TestApp::spawn().await;
    for w in &WORDS {
        let email = format!("reader-{}@example.com", w.locale);
        // The signup page itself, in the visitor's language.
        let page = app.client.get(&app.address).header("accept-language", w.accept_language).send().await.unwrap();
        let page = page.text().await.unwrap();
        assert_eq!(lang_of(&page), w.locale);
        assert!(page.contains(&format!("name=\"locale\" value=\"{}\"", w.locale)), "{page}");

        let reply = sign_up_in(&app, &email, w.accept_language, &[]).await;
        assert_eq!(reply.status(), 200);
        let reply = reply.text().await.unwrap();
        assert_eq!(lang_of(&reply), w.locale, "{reply}");
        assert!(title_of(&reply).starts_with(w.inbox_title), "{reply}");

        let mail = mail_to(&app, &email, "/subscriptions/confirm").await;
        assert_eq!(mail.header("Subject").as_deref(), Some(w.confirm_subject));
        assert!(mail.text_body().starts_with(w.greeting), "{}", mail.text_body());
        let html = mail.html_body();
        assert_eq!(lang_of(&html), w.locale);
        assert!(html.contains(w.greeting), "{html}");
        assert_eq!(stored_locale(&app, &email).await.as_deref(), Some(w.locale));

        // The confirm page and the confirmed page follow the subscriber, not this browser.
        let link = app.local(&mail.link_to(CONFIRM));
        let seen = app.sink().received().len();
        let page = app.client.get(&link).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
        assert_eq!(lang_of(&page), w.locale);
        assert!(page.contains(w.confirm_page), "{page}");
        let confirmed = app.post_form("/subscriptions/confirm", &[("token", &token_of(&link))]).await;
        assert_eq!(confirmed.status(), 200);
        assert_eq!(lang_of(&confirmed.text().await.unwrap()), w.locale);

        let welcome = mail_after(&app, seen, &email, "/unsubscribe").await;
        assert_eq!(welcome.header("Subject").as_deref(), Some(w.welcome_subject));
        assert!(welcome.text_body().starts_with(w.greeting), "{}", welcome.text_body());
        assert_eq!(lang_of(&welcome.html_body()), w.locale);
    }
}

#[tokio::test]
async fn the_locale_field_beats_the_header_and_a_known_address_keeps_its_language() {
    let app = TestApp::spawn().await;
    // The form's field wins over Accept-Language, for the page and the mail.
    let reply = sign_up_in(&app, "field@example.com", "de", &[("locale", "fr")]).await;
    assert_eq!(lang_of(&reply.text().await.unwrap()), "fr");
    let mail = mail_to(&app, "field@example.com", "/subscriptions/confirm").await;
    assert_eq!(mail.header("Subject").as_deref(), Some(words("fr").confirm_subject));
    // JSON too.
    let reply = app
        .client
        .post(format!("{}/subscriptions", app.address))
        .header("accept-language", "fr")
        .json(&json!({ "email": "json@example.com", "locale": "es-ES" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    assert_eq!(stored_locale(&app, "json@example.com").await.as_deref(), Some("es"));

    // Signing up again from a Spanish browser: the reply page is Spanish (the same answer a new
    // address gets), the new confirmation mail stays French. (Once the first mail is recorded as
    // sent: one still waiting is not queued twice.)
    app.wait_until_queue_settled(Duration::from_secs(10)).await;
    app.sink().clear();
    let again = sign_up_in(&app, "field@example.com", "es", &[("locale", "es")]).await;
    assert_eq!(again.status(), 200);
    let again = again.text().await.unwrap();
    assert_eq!(lang_of(&again), "es");
    let fresh = sign_up_in(&app, "brand-new@example.com", "es", &[("locale", "es")]).await.text().await.unwrap();
    assert_eq!(again.replace("brand-new", "field"), fresh.replace("brand-new", "field"), "known and new alike");
    let mail = mail_to(&app, "field@example.com", "/subscriptions/confirm").await;
    assert_eq!(mail.header("Subject").as_deref(), Some(words("fr").confirm_subject));
    assert_eq!(stored_locale(&app, "field@example.com").await.as_deref(), Some("fr"));
}

#[tokio::test]
async fn hostile_or_unknown_languages_fall_back_to_the_default_and_never_fail() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BROADSHEET__SUBSCRIPTIONS__DEFAULT_LOCALE".into(), "de".into())],
        ..Default::default()
    })
    .await;
    let huge = "x".repeat(10_000);
    let many = (0..500).map(|i| format!("x{i};q=0.{}", i % 10)).collect::<Vec<_>>().join(", ");
    let late = format!("{}, fr", "it;q=0.5, ".repeat(499));
    for (i, header) in [huge.as_str(), many.as_str(), late.as_str(), "../../etc", "*", "", "it-IT"].iter().enumerate() {
        let page = app.client.get(&app.address).header("accept-language", *header).send().await.unwrap();
        assert_eq!(page.status(), 200, "header #{i}");
        assert_eq!(lang_of(&page.text().await.unwrap()), "de", "header #{i}");
        let email = format!("hostile{i}@example.com");
        let reply = sign_up_in(&app, &email, header, &[("locale", "../../etc")]).await;
        assert_eq!(reply.status(), 200, "header #{i}");
        assert_eq!(lang_of(&reply.text().await.unwrap()), "de", "header #{i}");
        assert_eq!(stored_locale(&app, &email).await.as_deref(), Some("de"));
    }
    // JSON with a locale that is no language at all: accepted, and the default is stored.
    let reply =
        app.post_json("/subscriptions", &json!({ "email": "json@example.com", "locale": "x".repeat(5000) })).await;
    assert_eq!(reply.status(), 202);
    assert_eq!(stored_locale(&app, "json@example.com").await.as_deref(), Some("de"));
    // Error pages are in the visitor's language too.
    let missing = app.client.get(format!("{}/archive/nope", app.address)).header("accept-language", "es").send().await;
    let missing = missing.unwrap();
    assert_eq!(missing.status(), 404);
    let html = missing.text().await.unwrap();
    assert_eq!(lang_of(&html), "es");
    assert!(title_of(&html).starts_with("Página no encontrada"), "{html}");
}

#[tokio::test]
async fn each_reader_gets_the_digest_frame_in_their_language_on_both_paths() {
    // The fast path (pieces prepared once per locale) and the whole-message path (a template that
    // shows attributes is rendered per reader) carry the same frames.
    let dir = std::env::temp_dir().join(format!("broadsheet-i18n-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("digest")).unwrap();
    std::fs::write(dir.join("digest/subject.txt.j2"), "{{- subject -}}{# reads subscriber.attributes: none #}")
        .unwrap();
    for whole in [false, true] {
        let mut extra = Vec::new();
        if whole {
            extra.push(("BROADSHEET__MAIL__TEMPLATES_DIR".to_owned(), dir.display().to_string()));
        }
        let app = TestApp::spawn_with(Options { extra, ..Default::default() }).await;
        app.add_confirmed(&["anna@example.com", "jean@example.com", "plain@example.com"]).await;
        sqlx::query("UPDATE subscribers SET name = 'Ada', locale = CASE email WHEN 'anna@example.com' THEN 'de' WHEN 'jean@example.com' THEN 'fr' END")
            .execute(&app.db)
            .await
            .unwrap();
        app.add_article("Rust 2027", "The **new** edition.", Some("https://example.com/rust")).await;
        let response = app.admin_post("/admin/digests").json(&json!({ "subject": "This week" })).send().await.unwrap();
        assert_eq!(response.status(), 202);
        let mails = app.sink().wait_for(3, Duration::from_secs(15)).await;
        for (email, locale) in [("anna@example.com", "de"), ("jean@example.com", "fr"), ("plain@example.com", "en")] {
            let mail = mails.iter().find(|m| m.rcpt_to.iter().any(|r| r == email)).unwrap();
            let w = words(locale);
            assert_eq!(mail.header("Subject").as_deref(), Some("This week"), "the subject is the operator's");
            let text = mail.text_body();
            assert!(text.starts_with(w.greeting), "{locale} (whole: {whole}): {text}");
            assert!(text.contains(w.digest_intro), "{locale} (whole: {whole}): {text}");
            assert!(text.contains("The **new** edition.") || text.contains("The new edition."), "as written: {text}");
            assert_eq!(lang_of(&mail.html_body()), locale);
        }
        app.stop().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_operator_and_the_reader_change_the_language_and_the_data_shows_it() {
    let app = TestApp::spawn().await;
    sign_up_in(&app, "ada@example.com", "fr", &[]).await;
    let show = |app: &TestApp| {
        let request = app.admin_get("/admin/subscribers/ada@example.com");
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(show(&app).await["subscriber"]["locale"], "fr");

    let patch = |body: Value| {
        app.client
            .patch(format!("{}/admin/subscribers/ada@example.com", app.address))
            .bearer_auth(crate::support::ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let changed = patch(json!({ "locale": "de-CH" })).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.unwrap()["subscriber"]["locale"], "de");
    let refused = patch(json!({ "locale": "../../etc" })).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.json::<Value>().await.unwrap()["field"], "locale");
    assert_eq!(show(&app).await["subscriber"]["locale"], "de");

    // The CLI shows it too.
    let out = app.cli(&["subscribers", "show", "ada@example.com"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["subscriber"]["locale"], "de");

    // The preference page is in their language, with a select; saving another changes it, and
    // the download says so.
    let mail = mail_to(&app, "ada@example.com", "/preferences").await;
    let link = app.local(&mail.link_to("https://news.example.test/preferences"));
    let page = app.client.get(&link).header("accept-language", "es").send().await.unwrap().text().await.unwrap();
    assert_eq!(lang_of(&page), "de");
    assert!(page.contains("<option value=\"de\" lang=\"de\" selected>Deutsch</option>"), "{page}");
    let token = token_of(&link);
    let saved = app.post_form("/preferences", &[("token", &token), ("name", "Ada"), ("locale", "es")]).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(lang_of(&saved.text().await.unwrap()), "es");
    let bad = app.post_form("/preferences", &[("token", &token), ("name", "Ada"), ("locale", "xx")]).await;
    assert_eq!(bad.status(), 422);
    let data = app.get(&format!("/preferences/data?token={token}")).await.json::<Value>().await.unwrap();
    assert_eq!(data["subscriber"]["locale"], "es");
}

#[tokio::test]
async fn every_public_page_says_its_language_and_title_in_each_locale() {
    let app = TestApp::spawn().await;
    for w in &WORDS {
        for path in
            ["/", "/archive", "/subscriptions/confirm?token=bad", "/unsubscribe?token=bad", "/preferences?token=bad"]
        {
            let page = app.client.get(format!("{}{path}", app.address)).header("accept-language", w.accept_language);
            let page = page.send().await.unwrap().text().await.unwrap();
            assert_eq!(lang_of(&page), w.locale, "{path}");
            assert!(title_of(&page).ends_with("Broadsheet"), "{path}: {}", title_of(&page));
        }
    }
    let titles: Vec<String> = futures_titles(&app).await;
    assert_eq!(
        titles,
        ["Sign up · Broadsheet", "Anmelden · Broadsheet", "Inscription · Broadsheet", "Suscribirse · Broadsheet"]
    );
}

async fn futures_titles(app: &TestApp) -> Vec<String> {
    let mut titles = Vec::new();
    for w in &WORDS {
        let page = app.client.get(&app.address).header("accept-language", w.accept_language).send().await.unwrap();
        titles.push(title_of(&page.text().await.unwrap()).to_owned());
    }
    titles
}
