//! Every mail the service sends, rendered with fixed inputs and compared byte for byte with the
//! files in `snapshots/rendered/`: subject, text part and HTML part of each.
//!
//! Why plain files and not a snapshot crate such as insta: insta trims trailing white space
//! before comparing, and a mail's last newline is part of what a template produces. A change to a template (or to what the composer
//! hands it) shows up here as a reviewable diff of these files.
//!
//! To record a deliberate change: delete the files that differ and run the test again; it
//! writes what it rendered and fails once, so that the new files get looked at and committed.
//!
//! Test code only (`compose.rs` includes it under `#[cfg(test)]`): its `unwrap()`s are on fixed
//! test inputs, where a failure is the test failing.

use std::path::{Path, PathBuf};

use chrono::{TimeZone as _, Utc};
use serde_json::json;

use crate::domain::{Article, BaseUrl, BodyFormat, DigestContent, DigestList, Locale};
use crate::mail::{Composer, DigestView, MailSettings, RenderedEmail};

/// A name and a newsletter name with characters HTML must escape, so that escaping is pinned too.
const NAME: &str = "Ada <Lovelace> & \"Co\"";
const CONFIRM: &str = "CONFIRM-TOKEN";
const UNSUBSCRIBE_URL: &str = "https://news.example.com/unsubscribe?token=UNSUB&x=1";
const PREFERENCES_URL: &str = "https://news.example.com/preferences?token=PREFS&x=1";

fn composer(archive: bool) -> Composer {
    let settings: MailSettings = serde_json::from_value(json!({
        "from": "\"Tom & Jerry's Weekly\" <news@example.com>",
        "concurrency": 16, "rate_per_second": 0.0, "send_timeout_secs": 30.0, "max_attempts": 8,
        "retry_base_secs": 30.0, "lease_secs": 60.0,
    }))
    .unwrap();
    let mut composer = Composer::new(&settings, BaseUrl::parse("https://news.example.com").unwrap(), 48.0).unwrap();
    composer.archive = archive;
    composer
}

fn digest(id: Option<uuid::Uuid>) -> DigestView {
    let article = |n: u128, title: &str, format: BodyFormat, body: &str, url: Option<&str>| Article {
        id: uuid::Uuid::from_u128(n),
        title: title.to_owned(),
        body: body.to_owned(),
        body_format: format,
        url: url.map(str::to_owned),
        summary: None,
        created_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
        digest_id: None,
    };
    DigestView::new(&DigestContent {
        id,
        subject: "This week: Rust 2027 & <more>".to_owned(),
        articles: vec![
            article(
                1,
                "Rust 2027 <edition>",
                BodyFormat::Markdown,
                "The **new** edition.\n\n- one\n- two\n\n```\n.a line with a dot\n```\n\n[A link](https://example.com/x?a=1&b=2).",
                Some("https://example.com/rust?a=1&b=2"),
            ),
            article(2, "No link here", BodyFormat::SanitisedHtml, "<p>Plain <em>HTML</em> &amp; more.</p>", None),
        ],
        list: Some(DigestList { slug: "weekly".to_owned(), name: "The <Weekly> & Co".to_owned() }),
    })
}

/// Every mail as the composer renders it, with a name for each case.
fn every_mail() -> Vec<(String, RenderedEmail)> {
    let (on, off) = (composer(true), composer(false));
    let issue = digest(Some(uuid::Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0042)));
    let mut mails = Vec::new();
    for template in ["confirmation", "reminder"] {
        for (name, suffix) in [(Some(NAME), "named"), (None, "anonymous")] {
            let mail = on
                .render_with_confirm_link(template, Locale::En, name, CONFIRM, UNSUBSCRIBE_URL, PREFERENCES_URL)
                .unwrap();
            mails.push((format!("{template}-{suffix}"), mail));
        }
    }
    mails.extend([
        (
            "welcome-named".to_owned(),
            on.render_welcome(Locale::En, Some(NAME), UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap(),
        ),
        (
            "welcome-anonymous".to_owned(),
            on.render_welcome(Locale::En, None, UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap(),
        ),
        (
            "welcome-named-no-archive".to_owned(),
            off.render_welcome(Locale::En, Some(NAME), UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap(),
        ),
        (
            "digest-named".to_owned(),
            on.render_digest(&issue, Locale::En, Some(NAME), None, UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap(),
        ),
        (
            "digest-anonymous".to_owned(),
            on.render_digest(&issue, Locale::En, None, None, UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap(),
        ),
        (
            "digest-named-no-archive".to_owned(),
            off.render_digest(&issue, Locale::En, Some(NAME), None, UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap(),
        ),
        ("digest-preview".to_owned(), on.preview_digest(&digest(None)).unwrap()),
    ]);
    // Every mail in each other locale, named (the anonymous greeting is one message each).
    for locale in [Locale::De, Locale::Fr, Locale::Es] {
        for template in ["confirmation", "reminder"] {
            let mail =
                on.render_with_confirm_link(template, locale, Some(NAME), CONFIRM, UNSUBSCRIBE_URL, PREFERENCES_URL);
            mails.push((format!("{template}-named-{locale}"), mail.unwrap()));
        }
        let welcome = on.render_welcome(locale, Some(NAME), UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap();
        mails.push((format!("welcome-named-{locale}"), welcome));
        let digest = on.render_digest(&issue, locale, Some(NAME), None, UNSUBSCRIBE_URL, PREFERENCES_URL).unwrap();
        mails.push((format!("digest-named-{locale}"), digest));
    }
    mails
}

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/mail/snapshots/rendered")
}

#[test]
fn every_mail_renders_exactly_as_recorded() {
    let dir = snapshots();
    std::fs::create_dir_all(&dir).unwrap();
    let mut problems = Vec::new();
    for (case, mail) in every_mail() {
        for (part, rendered) in [("subject.txt", &mail.subject), ("text.txt", &mail.text), ("html", &mail.html)] {
            let path = dir.join(format!("{case}.{part}"));
            match std::fs::read(&path) {
                Ok(recorded) if recorded == rendered.as_bytes() => {}
                Ok(recorded) => problems.push(difference(&path, &String::from_utf8_lossy(&recorded), rendered)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::write(&path, rendered).unwrap();
                    problems.push(format!("{}: recorded; review and commit it", path.display()));
                }
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The first line that differs, both ways, with any difference in the final newline visible.
fn difference(path: &Path, recorded: &str, rendered: &str) -> String {
    let (mut a, mut b) = (recorded.split_inclusive('\n'), rendered.split_inclusive('\n'));
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (x, y) if x == y && x.is_some() => line += 1,
            (x, y) => {
                return format!(
                    "{}: differs at line {line} (delete it to record the new output)\n  recorded: {x:?}\n  rendered: {y:?}",
                    path.display()
                );
            }
        }
    }
}
