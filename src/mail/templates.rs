//! Email templates: `email-templates/<name>/{subject.txt,body.txt,body.html}.j2`, the HTML bodies
//! extending the frame `email-templates/base.html.j2`; compiled into the binary and overridable
//! file by file by `mail.templates_dir`. HTML is autoescaped by file name.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

/// Every template the service renders, compiled in so the bare binary works anywhere.
const BUILT_IN: &[(&str, &str)] = &[
    // The frame the HTML bodies extend (`{% extends "base.html.j2" %}`).
    ("base.html.j2", include_str!("../../email-templates/base.html.j2")),
    ("confirmation/subject.txt.j2", include_str!("../../email-templates/confirmation/subject.txt.j2")),
    ("confirmation/body.txt.j2", include_str!("../../email-templates/confirmation/body.txt.j2")),
    ("confirmation/body.html.j2", include_str!("../../email-templates/confirmation/body.html.j2")),
    ("digest/subject.txt.j2", include_str!("../../email-templates/digest/subject.txt.j2")),
    ("digest/body.txt.j2", include_str!("../../email-templates/digest/body.txt.j2")),
    ("digest/body.html.j2", include_str!("../../email-templates/digest/body.html.j2")),
    ("welcome/subject.txt.j2", include_str!("../../email-templates/welcome/subject.txt.j2")),
    ("welcome/body.txt.j2", include_str!("../../email-templates/welcome/body.txt.j2")),
    ("welcome/body.html.j2", include_str!("../../email-templates/welcome/body.html.j2")),
    ("reminder/subject.txt.j2", include_str!("../../email-templates/reminder/subject.txt.j2")),
    ("reminder/body.txt.j2", include_str!("../../email-templates/reminder/body.txt.j2")),
    ("reminder/body.html.j2", include_str!("../../email-templates/reminder/body.html.j2")),
];

/// minijinja's HTML escaping also escapes `/`, turning every URL into `https:&#x2f;&#x2f;…`.
/// That is valid HTML, but it makes mail harder to read in source and trips some link checkers;
/// escaping `& < > " '` is what HTML needs.
pub fn html_formatter(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() => out
            .write_str(&escape_html(text))
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Text as the templates print it into HTML: `& < > " '` escaped. Also what a prepared digest
/// splices into its HTML part, so both paths escape a name the same way.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template {name}: {source}")]
    Render { name: String, source: minijinja::Error },
    #[error("email template {path}: {source}")]
    Read { path: String, source: std::io::Error },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct EmailTemplates {
    env: Environment<'static>,
}

impl EmailTemplates {
    /// The built-in templates, with any file of the same name in `dir` taking their place.
    /// Every template is parsed here, so a broken override stops start-up instead of a send; what
    /// only rendering finds (an `{% extends %}` of a missing template) the composer checks.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_formatter(html_formatter);
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in BUILT_IN {
            let source = match dir.map(|d| d.join(name)) {
                Some(path) if path.is_file() => std::fs::read_to_string(&path)
                    .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?,
                _ => (*source).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|source| TemplateError::Render { name: (*name).to_owned(), source })?;
        }
        Ok(Self { env })
    }

    /// Whether a message kind's templates (or the frame they extend) mention `word`: a digest
    /// whose templates read `subscriber.attributes` differs per recipient beyond the name and the
    /// links, so it cannot be spliced from pieces made once.
    pub fn mention(&self, kind: &str, word: &str) -> bool {
        ["subject.txt", "body.txt", "body.html"]
            .iter()
            .map(|part| format!("{kind}/{part}.j2"))
            .chain(std::iter::once("base.html.j2".to_owned()))
            .any(|name| self.env.get_template(&name).is_ok_and(|t| t.source().contains(word)))
    }

    pub fn render(&self, kind: &str, context: impl Serialize) -> Result<RenderedEmail, TemplateError> {
        let context = minijinja::Value::from_serialize(&context);
        let render = |part: &str| {
            let name = format!("{kind}/{part}.j2");
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&context))
                .map_err(|source| TemplateError::Render { name, source })
        };
        // A subject is one line: whatever the template does with white space, no newline may
        // reach the header.
        let subject = render("subject.txt")?.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(RenderedEmail { subject, text: render("body.txt")?, html: render("body.html")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> EmailTemplates {
        EmailTemplates::load(None).unwrap()
    }

    #[derive(Serialize)]
    struct Confirmation<'a> {
        newsletter: &'a str,
        name: Option<&'a str>,
        confirm_url: &'a str,
        unsubscribe_url: &'a str,
        preferences_url: &'a str,
        ttl_hours: &'a str,
    }

    fn confirmation(name: Option<&str>) -> RenderedEmail {
        templates()
            .render(
                "confirmation",
                Confirmation {
                    newsletter: "Broadsheet",
                    name,
                    confirm_url: "https://news.example.com/subscriptions/confirm?token=CONFIRM",
                    unsubscribe_url: "https://news.example.com/unsubscribe?token=UNSUB",
                    preferences_url: "https://news.example.com/preferences?token=PREFS",
                    ttl_hours: "48",
                },
            )
            .unwrap()
    }

    #[test]
    fn confirmation_mail_escapes_the_name_in_html_only() {
        let mail = confirmation(Some("<script>x</script>"));
        assert!(mail.text.contains("<script>x</script>"));
        assert!(!mail.html.contains("<script>x"));
        assert!(mail.html.contains("&lt;script&gt;"));
        let anonymous = confirmation(None);
        assert!(anonymous.text.starts_with("Hi,"), "{}", anonymous.text);
    }
}

#[cfg(test)]
#[path = "override_tests.rs"]
mod override_tests;
