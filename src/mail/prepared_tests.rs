//! A prepared digest message against the one lettre's builder makes for the same recipient.
//!
//! Test code only (`prepared.rs` includes it under `#[cfg(test)]`, restated below): its
//! `unwrap()`s are on fixed test inputs, where a failure is the test failing.
#![cfg(test)]

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::domain::{Article, BaseUrl, BodyFormat, DigestContent, Locale, SubscriberEmail, Token};
use crate::mail::{Composer, DigestView, Links, MailSettings, Recipient};

fn composer(extra: serde_json::Value) -> Composer {
    let mut settings = json!({
        "from": "Broadsheet Weekly <news@example.com>",
        "concurrency": 16, "rate_per_second": 0.0, "send_timeout_secs": 30.0, "max_attempts": 8,
        "retry_base_secs": 30.0, "lease_secs": 60.0,
    });
    settings.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let settings: MailSettings = serde_json::from_value(settings).unwrap();
    Composer::new(&settings, BaseUrl::parse("https://news.example.com").unwrap(), 48.0).unwrap()
}

fn view(body: &str) -> DigestView {
    let article = |title: &str, body: &str| Article {
        id: uuid::Uuid::new_v4(),
        title: title.to_owned(),
        body: body.to_owned(),
        body_format: BodyFormat::Markdown,
        url: Some("https://example.com/a?b=1&c=2".to_owned()),
        summary: None,
        created_at: Utc::now(),
        digest_id: None,
    };
    DigestView::new(&DigestContent {
        id: Some(uuid::Uuid::new_v4()),
        subject: "This week: Grüße & <news>".to_owned(),
        articles: vec![article("First <one>", body), article("Zweite Ausgabe", "Short.")],
        list: Some(crate::domain::DigestList { slug: "weekly".to_owned(), name: "The Weekly".to_owned() }),
    })
}

const NAMES: [Option<&str>; 6] = [
    Some("Ada Lovelace"),
    Some("Zoë Ünïcode-Ñame"),
    Some("<script>&amp; \"O'Brien\""),
    Some(".Dot at the start"),
    None,
    Some(""),
];

/// The body has a line that starts with a dot (stuffed) and non-ASCII text.
const BODY: &str = "A paragraph with **emphasis** and ünïcode.\n\n```\n.starts with a dot\n..two dots\n```\n\nThe end.";

/// Splices and builds for every name, and checks they read the same; returns the spliced
/// messages as they go on the wire (stuffed) and unstuffed.
fn compare(composer: &Composer, view: &DigestView) -> Vec<(Vec<u8>, Vec<u8>)> {
    compare_in(composer, view, Locale::En)
}

/// [`compare`] for readers of `locale`.
fn compare_in(composer: &Composer, view: &DigestView, locale: Locale) -> Vec<(Vec<u8>, Vec<u8>)> {
    let token = Token::generate().unwrap();
    let preferences = Token::generate().unwrap();
    let email = SubscriberEmail::parse("reader@example.com").unwrap();
    let mut out = Vec::new();
    for name in NAMES {
        let to = Recipient { email: &email, name, delivery: 7, attributes: None, locale };
        let spliced = composer.digest(view, to, Links { unsubscribe: &token, preferences: &preferences }).unwrap();
        assert!(spliced.data.is_stuffed(), "the prepared path was taken");
        let url = composer.base_url.join(&format!("/unsubscribe?token={}&list=weekly", token.expose()));
        let preferences_url = composer.base_url.join(&format!("/preferences?token={}", preferences.expose()));
        let built = composer.built_digest_for_tests(view, to, &url, &preferences_url, token.expose());
        let unstuffed = spliced.data.plain().into_owned();
        same_message(&unstuffed, &built.data.plain()).unwrap_or_else(|e| panic!("for {name:?}: {e}"));
        assert_eq!(spliced.envelope, built.envelope);
        out.push((spliced.data.wire().to_vec(), unstuffed));
    }
    out
}

#[test]
fn a_spliced_digest_message_reads_exactly_like_the_built_one() {
    let composer = composer(json!({}));
    let view = view(BODY);
    let messages = compare(&composer, &view);
    let (stuffed, plain) = &messages[3];
    let text = String::from_utf8_lossy(stuffed);
    assert!(text.contains("\r\n..starts with a dot\r\n...two dots\r\n"), "dot-stuffed once: {text}");
    assert!(String::from_utf8_lossy(plain).contains("\r\n.starts with a dot\r\n"));
    let parsed = mailparse::parse_mail(plain).unwrap();
    use mailparse::MailHeaderMap;
    assert_eq!(parsed.headers.get_first_value("To").unwrap(), "\".Dot at the start\" <reader@example.com>");
    assert!(parsed.subparts[1].get_body().unwrap().contains("Hi .Dot at the start,"));
    let escaped = mailparse::parse_mail(&messages[2].1).unwrap();
    let html = escaped.subparts[1].get_body().unwrap();
    assert!(html.contains("Hi &lt;script&gt;&amp;amp; &quot;O&#x27;Brien&quot;,"), "{html}");
    assert!(escaped.subparts[0].get_body().unwrap().contains("Hi <script>&amp; \"O'Brien\","));
}

#[test]
fn a_name_at_the_start_of_a_line_is_stuffed_per_message() {
    let dir = std::env::temp_dir().join(format!("broadsheet-prepared-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("digest")).unwrap();
    std::fs::write(dir.join("digest/body.txt.j2"), "{% if name %}{{ name }}\n{% endif %}{{ unsubscribe_url }}\n")
        .unwrap();
    let composer = composer(json!({ "templates_dir": dir }));
    let messages = compare(&composer, &view(BODY));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(String::from_utf8_lossy(&messages[3].0).contains("\r\n..Dot at the start\r\n"));
}

#[test]
fn without_8bitmime_and_with_long_lines_the_bodies_go_base64_as_before() {
    let composer = composer(json!({}));
    composer.use_seven_bit();
    let messages = compare(&composer, &view(BODY));
    assert!(messages.iter().all(|(stuffed, _)| stuffed.is_ascii()), "7-bit on the wire");
    let long = format!("```\n{}\n```", "x".repeat(1200));
    let composer = self::composer(json!({}));
    let messages = compare(&composer, &view(&long));
    assert!(String::from_utf8_lossy(&messages[0].0).contains("Content-Transfer-Encoding: base64"));
}

#[test]
fn dkim_signed_spliced_messages_verify() {
    let key = format!("{}/tests/fixtures/dkim-ed25519.pem", env!("CARGO_MANIFEST_DIR"));
    let composer = composer(json!({ "dkim": { "domain": "example.com", "selector": "s1", "private_key": key } }));
    let view = view(BODY);
    let token = Token::generate().unwrap();
    let email = SubscriberEmail::parse("reader@example.com").unwrap();
    for name in NAMES {
        let message = composer
            .digest(
                &view,
                Recipient { email: &email, name, delivery: 1, attributes: None, locale: Locale::En },
                Links { unsubscribe: &token, preferences: &token },
            )
            .unwrap();
        assert!(message.data.is_stuffed());
        let signer = composer.dkim.as_ref().unwrap();
        signer.verify_own(&message.data.plain()).unwrap_or_else(|e| panic!("{name:?}: {e}"));
    }
}

#[test]
fn a_template_that_filters_the_name_is_built_whole() {
    let dir = std::env::temp_dir().join(format!("broadsheet-prepared-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("digest")).unwrap();
    std::fs::write(dir.join("digest/body.txt.j2"), "Hi {{ name|upper }}\n{{ unsubscribe_url }}\n").unwrap();
    let composer = composer(json!({ "templates_dir": dir }));
    let view = view(BODY);
    let token = Token::generate().unwrap();
    let email = SubscriberEmail::parse("reader@example.com").unwrap();
    let message = composer
        .digest(
            &view,
            Recipient { email: &email, name: Some("Ada"), delivery: 1, attributes: None, locale: Locale::En },
            Links { unsubscribe: &token, preferences: &token },
        )
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!message.data.is_stuffed(), "the builder took over");
    assert!(String::from_utf8_lossy(&message.data.plain()).contains("Hi ADA"));
}

#[test]
fn one_digest_is_prepared_once_per_locale_in_each_readers_language() {
    let composer = composer(json!({}));
    let view = view(BODY);
    let mut greetings = Vec::new();
    // Spliced and built read the same in every locale; a locale no reader has is never prepared.
    for locale in [Locale::De, Locale::Fr] {
        let messages = compare_in(&composer, &view, locale);
        let text = mailparse::parse_mail(&messages[0].1).unwrap().subparts[0].get_body().unwrap();
        greetings.push(text.lines().next().unwrap().to_owned());
        assert!(text.contains("This week") || text.contains("Zweite Ausgabe"), "articles stay as written: {text}");
    }
    assert_eq!(greetings, ["Guten Tag Ada Lovelace,", "Bonjour Ada Lovelace,"]);
    assert!(view.prepared[Locale::De.index()].get().is_some_and(Option::is_some));
    assert!(view.prepared[Locale::Fr.index()].get().is_some_and(Option::is_some));
    assert!(view.prepared[Locale::Es.index()].get().is_none(), "no Spanish reader, nothing prepared");
    let german = compare_in(&composer, &view, Locale::De);
    let german = mailparse::parse_mail(&german[0].1).unwrap();
    let html = german.subparts[1].get_body().unwrap();
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    assert!(html.contains("Das ist neu: 2 Artikel."), "{html}");
    assert!(html.contains("Von The Weekly abmelden"), "{html}");
}

#[test]
fn a_spliced_confirmation_reads_exactly_like_the_built_one_in_every_locale() {
    let composer = composer(json!({}));
    let email = SubscriberEmail::parse("reader@example.com").unwrap();
    for locale in Locale::ALL {
        for name in NAMES {
            let (confirm, unsubscribe, preferences) =
                (Token::generate().unwrap(), Token::generate().unwrap(), Token::generate().unwrap());
            let links = Links { unsubscribe: &unsubscribe, preferences: &preferences };
            let to = Recipient { email: &email, name, delivery: 9, attributes: None, locale };
            let spliced = composer.confirmation(to, &confirm, links).unwrap();
            assert!(spliced.data.is_stuffed(), "the prepared path was taken ({locale:?}, {name:?})");
            let built = composer.built_confirmation_for_tests(to, &confirm, links);
            same_message(&spliced.data.plain(), &built.data.plain())
                .unwrap_or_else(|e| panic!("{locale:?}, {name:?}: {e}"));
            assert_eq!(spliced.envelope, built.envelope);
            let text = String::from_utf8_lossy(&spliced.data.plain()).into_owned();
            assert!(text.contains(&format!("/subscriptions/confirm?token={}", confirm.expose())), "{text}");
        }
    }
}

#[test]
fn a_signed_spliced_confirmation_verifies_and_an_override_that_filters_is_built_whole() {
    let key = format!("{}/tests/fixtures/dkim-ed25519.pem", env!("CARGO_MANIFEST_DIR"));
    let signing = composer(json!({ "dkim": { "domain": "example.com", "selector": "s1", "private_key": key } }));
    let email = SubscriberEmail::parse("reader@example.com").unwrap();
    let token = Token::generate().unwrap();
    let links = Links { unsubscribe: &token, preferences: &token };
    let to = Recipient { email: &email, name: Some("Ada"), delivery: 1, attributes: None, locale: Locale::En };
    let message = signing.confirmation(to, &token, links).unwrap();
    assert!(message.data.is_stuffed());
    signing.dkim.as_ref().unwrap().verify_own(&message.data.plain()).unwrap();

    let dir = std::env::temp_dir().join(format!("broadsheet-prepared-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("confirmation")).unwrap();
    std::fs::write(dir.join("confirmation/body.txt.j2"), "Hi {{ name|upper }}\n{{ confirm_url }}\n").unwrap();
    let overridden = composer(json!({ "templates_dir": dir }));
    let message = overridden.confirmation(to, &token, links).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!message.data.is_stuffed(), "the builder took over");
    assert!(String::from_utf8_lossy(&message.data.plain()).contains("Hi ADA"));
}
