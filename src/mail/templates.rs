//! Email templates: `email-templates/<name>/{subject.txt,body.txt,body.html}.j2`, the HTML bodies
//! extending the frame `email-templates/base.html.j2`; compiled into the binary and overridable
//! file by file by `mail.templates_dir`, and per locale by `mail.templates_dir/<locale>/`. HTML is
//! autoescaped by file name. Their words come from the message catalogues (`t("key")`, see
//! [`crate::i18n`]) in the locale the context names.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use crate::domain::Locale;

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
    crate::i18n::escape_html(text)
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
    ///
    /// A file at `dir/<locale>/<name>` (`dir/de/confirmation/body.txt.j2`) takes the place of
    /// `<name>` for mails in that locale only; it is added as `<locale>/<name>`, and
    /// [`EmailTemplates::render`] looks there first. The frame (`base.html.j2`) is shared.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_formatter(html_formatter);
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        crate::i18n::add_to(&mut env);
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })
        };
        for (name, source) in BUILT_IN {
            let source = match dir.map(|d| d.join(name)) {
                Some(path) if path.is_file() => read(&path)?,
                _ => (*source).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|source| TemplateError::Render { name: (*name).to_owned(), source })?;
            if *name == "base.html.j2" {
                continue;
            }
            for locale in Locale::ALL {
                let Some(path) = dir.map(|d| d.join(locale.as_str()).join(name)) else { break };
                if path.is_file() {
                    let localised = format!("{locale}/{name}");
                    env.add_template_owned(localised.clone(), read(&path)?)
                        .map_err(|source| TemplateError::Render { name: localised, source })?;
                }
            }
        }
        Ok(Self { env })
    }

    /// The template a mail in `locale` uses for `name`: the locale's own override, if any.
    fn template(&self, locale: Locale, name: &str) -> Result<minijinja::Template<'_, '_>, minijinja::Error> {
        self.env.get_template(&format!("{locale}/{name}")).or_else(|_| self.env.get_template(name))
    }

    /// Whether a message kind's templates (or the frame they extend) mention `word`: a digest
    /// whose templates read `subscriber.attributes` differs per recipient beyond the name and the
    /// links, so it cannot be spliced from pieces made once.
    pub fn mention(&self, kind: &str, word: &str) -> bool {
        let prefixes = std::iter::once(String::new()).chain(Locale::ALL.iter().map(|l| format!("{l}/")));
        prefixes
            .flat_map(|prefix| ["subject.txt", "body.txt", "body.html"].map(|part| format!("{prefix}{kind}/{part}.j2")))
            .chain(std::iter::once("base.html.j2".to_owned()))
            .any(|name| self.env.get_template(&name).is_ok_and(|t| t.source().contains(word)))
    }

    /// Renders the three parts of a `kind` mail in `locale` (the context's `locale` should name
    /// the same: the catalogue look-ups read it).
    pub fn render(&self, kind: &str, locale: Locale, context: impl Serialize) -> Result<RenderedEmail, TemplateError> {
        let context = minijinja::Value::from_serialize(&context);
        let render = |part: &str| {
            let name = format!("{kind}/{part}.j2");
            self.template(locale, &name)
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
        locale: Locale,
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
                Locale::En,
                Confirmation {
                    locale: Locale::En,
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
