//! Operator overrides (`mail.templates_dir`) against the built-in templates and their frame.
//!
//! Test code only (`templates.rs` includes it under `#[cfg(test)]`): its `unwrap()`s are on
//! fixed test inputs, where a failure is the test failing.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;
use crate::domain::{BaseUrl, Locale};
use crate::mail::{Composer, MailSettings};

const KINDS: [&str; 4] = ["confirmation", "welcome", "reminder", "digest"];

/// An override directory holding `files`, removed when dropped.
struct Overrides(PathBuf);

impl Overrides {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("broadsheet-templates-{}", uuid::Uuid::new_v4()));
        for (name, source) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, source).unwrap();
        }
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Overrides {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every variable any mail is given, so that one context renders all four.
fn context() -> serde_json::Value {
    json!({
        "locale": "en", "newsletter": "Broadsheet", "name": "Ada", "subject": "This week", "articles": [],
        "confirm_url": "https://x/confirm", "unsubscribe_url": "https://x/unsubscribe", "ttl_hours": "48",
        "preferences_url": "https://x/preferences",
        "base_url": "https://x", "archive_url": "https://x/archive",
    })
}

fn html(templates: &EmailTemplates, kind: &str) -> String {
    templates.render(kind, Locale::En, context()).unwrap().html
}

fn composer(dir: &Path) -> anyhow::Result<Composer> {
    let settings: MailSettings = serde_json::from_value(json!({
        "from": "Broadsheet <news@example.com>", "templates_dir": dir,
        "concurrency": 16, "rate_per_second": 0.0, "send_timeout_secs": 30.0, "max_attempts": 8,
        "retry_base_secs": 30.0, "lease_secs": 60.0,
    }))
    .unwrap();
    Composer::new(&settings, BaseUrl::parse("https://news.example.com").unwrap(), 48.0)
}

#[test]
fn an_override_directory_replaces_a_built_in_template() {
    let dir = Overrides::new(&[("confirmation/subject.txt.j2", "Welcome to {{ newsletter }}!")]);
    let mail = EmailTemplates::load(Some(dir.path())).unwrap().render("confirmation", Locale::En, context()).unwrap();
    assert_eq!(mail.subject, "Welcome to Broadsheet!");
}

#[test]
fn an_overridden_body_still_extends_the_frame() {
    let dir = Overrides::new(&[(
        "welcome/body.html.j2",
        "{% extends \"base.html.j2\" %}{% block content %}<tr><td>Glad you're here, {{ name }}.</td></tr>\n{% endblock %}\
         {% block footer %}<a href=\"{{ unsubscribe_url }}\">Leave</a>\n{% endblock %}",
    )]);
    let built_in = EmailTemplates::load(None).unwrap();
    let overridden = EmailTemplates::load(Some(dir.path())).unwrap();
    let welcome = html(&overridden, "welcome");
    assert!(welcome.starts_with("<!doctype html>\n<html lang=\"en\">"), "{welcome}");
    assert!(welcome.contains("<title>Broadsheet</title>"), "the frame's default title: {welcome}");
    assert!(welcome.contains("<tr><td>Glad you're here, Ada.</td></tr>\n<tr><td style=\"padding:16px 32px 28px;"));
    assert!(welcome.ends_with(
        "<a href=\"https://x/unsubscribe\">Leave</a>\n</td></tr>\n</table>\n</td></tr>\n</table>\n</body>\n</html>\n"
    ));
    for kind in ["confirmation", "reminder", "digest"] {
        assert_eq!(html(&overridden, kind), html(&built_in, kind), "{kind} is untouched");
    }
}

#[test]
fn an_overridden_frame_changes_every_html_mail() {
    let dir = Overrides::new(&[(
        "base.html.j2",
        "<html><!-- house frame -->{% block title %}{% endblock %}|{% block content %}{% endblock %}|{% block footer %}{% endblock %}</html>\n",
    )]);
    let templates = EmailTemplates::load(Some(dir.path())).unwrap();
    for kind in KINDS {
        let html = html(&templates, kind);
        assert!(html.starts_with("<html><!-- house frame -->"), "{kind}: {html}");
        assert!(!html.contains("<!doctype"), "{kind}: {html}");
        assert!(html.contains("https://x/unsubscribe"), "{kind} fills the frame's blocks: {html}");
    }
    assert!(html(&templates, "confirmation").contains("https://x/confirm"));
    assert!(html(&templates, "digest").starts_with("<html><!-- house frame -->This week|"));
}

#[test]
fn a_broken_override_stops_start_up_naming_the_file() {
    for name in ["base.html.j2", "digest/body.html.j2"] {
        let dir = Overrides::new(&[(name, "{% block content %}unclosed")]);
        let error = EmailTemplates::load(Some(dir.path())).err().unwrap().to_string();
        assert!(error.starts_with(&format!("email template {name}: syntax error")), "{error}");
        let error = composer(dir.path()).err().unwrap().to_string();
        assert!(error.starts_with(&format!("email template {name}: syntax error")), "{error}");
    }
}

#[test]
fn an_override_that_cannot_render_stops_start_up() {
    // Parses, but extends a frame that is not there: only rendering finds that out.
    let dir = Overrides::new(&[("reminder/body.html.j2", "{% extends \"house.html.j2\" %}")]);
    assert!(EmailTemplates::load(Some(dir.path())).is_ok());
    let error = composer(dir.path()).err().unwrap().to_string();
    assert!(error.starts_with("email template reminder/body.html.j2: template not found"), "{error}");
    assert!(error.contains("house.html.j2"), "{error}");
    // A frame that needs a variable no mail has breaks all four; the first one checked says so.
    let dir = Overrides::new(&[("base.html.j2", "<html>{{ brand_colour }}{% block content %}{% endblock %}</html>")]);
    let error = composer(dir.path()).err().unwrap().to_string();
    assert!(error.starts_with("email template confirmation/body.html.j2: undefined value"), "{error}");
    assert!(error.contains("base.html.j2"), "{error}");
}

#[test]
fn a_locale_override_wins_for_that_locale_only() {
    let dir = Overrides::new(&[
        ("confirmation/subject.txt.j2", "House: {{ newsletter }}"),
        ("de/confirmation/subject.txt.j2", "Haus: {{ newsletter }}"),
        ("fr/confirmation/body.txt.j2", "{{ t(\"greeting\", name=name) }} maison\n"),
    ]);
    let templates = EmailTemplates::load(Some(dir.path())).unwrap();
    let mut context = context();
    let mut render = |locale: Locale| {
        context["locale"] = json!(locale.as_str());
        templates.render("confirmation", locale, &context).unwrap()
    };
    assert_eq!(render(Locale::De).subject, "Haus: Broadsheet");
    assert_eq!(render(Locale::En).subject, "House: Broadsheet");
    assert_eq!(render(Locale::Es).subject, "House: Broadsheet");
    let fr = render(Locale::Fr);
    assert_eq!(fr.subject, "House: Broadsheet");
    assert_eq!(fr.text, "Bonjour Ada, maison\n");
    assert!(render(Locale::De).text.starts_with("Guten Tag Ada,"), "the built-in body, in German");
    // A broken per-locale override stops start-up naming it.
    let dir = Overrides::new(&[("es/welcome/body.txt.j2", "{% if %}")]);
    let error = EmailTemplates::load(Some(dir.path())).err().unwrap().to_string();
    assert!(error.starts_with("email template es/welcome/body.txt.j2: syntax error"), "{error}");
}
