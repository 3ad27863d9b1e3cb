//! The message catalogues (`locales/<locale>/*.ftl`, Fluent): compiled into the binary, parsed
//! once, and looked up by the pages and the mails through the template function `t`.
//!
//! A message missing from a locale's catalogue shows the default catalogue's (`en`) text, never
//! an error: the unit tests keep every catalogue complete, so that only happens to an operator's
//! own template asking for a key nobody wrote.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use minijinja::value::{Kwargs, Value};

use crate::domain::Locale;

/// The catalogue files of each locale, in [`Locale::ALL`] order.
const SOURCES: [(Locale, [&str; 2]); 4] = [
    (Locale::En, [include_str!("../locales/en/pages.ftl"), include_str!("../locales/en/mail.ftl")]),
    (Locale::De, [include_str!("../locales/de/pages.ftl"), include_str!("../locales/de/mail.ftl")]),
    (Locale::Fr, [include_str!("../locales/fr/pages.ftl"), include_str!("../locales/fr/mail.ftl")]),
    (Locale::Es, [include_str!("../locales/es/pages.ftl"), include_str!("../locales/es/mail.ftl")]),
];

/// The concurrent bundle: shared by every thread (its plural-rule cache sits behind a mutex).
type Bundle = FluentBundle<FluentResource>;

static BUNDLES: LazyLock<Vec<Bundle>> = LazyLock::new(|| SOURCES.iter().map(|(l, s)| bundle(*l, s)).collect());

fn bundle(locale: Locale, sources: &[&str]) -> Bundle {
    let id = locale.as_str().parse().unwrap_or_default();
    let mut bundle = Bundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around values: pages and mails are left-to-right, and the marks
    // would sit inside names and links (and the digest's markers, see `mail::prepared`).
    bundle.set_use_isolating(false);
    for source in sources {
        let resource = match FluentResource::try_new((*source).to_owned()) {
            Ok(resource) => resource,
            Err((resource, errors)) => {
                // Part of the binary; the unit tests below catch this before release.
                tracing::error!(%locale, ?errors, "a message catalogue does not parse");
                resource
            }
        };
        if let Err(errors) = bundle.add_resource(resource) {
            tracing::error!(%locale, ?errors, "a message catalogue repeats a message");
        }
    }
    bundle
}

/// Parses every catalogue now rather than on the first page: called at start.
pub fn load() {
    LazyLock::force(&BUNDLES);
}

/// The text of message `key` in `locale`, with `args` filled in; the default catalogue's when
/// `locale` lacks it, and the key itself when no catalogue has it.
pub fn message(locale: Locale, key: &str, args: Option<&FluentArgs<'_>>) -> String {
    for bundle in [&BUNDLES[locale.index()], &BUNDLES[Locale::En.index()]] {
        if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, args, &mut errors);
            if !errors.is_empty() {
                tracing::warn!(%locale, key, ?errors, "a message was formatted with errors");
            }
            return text.into_owned();
        }
    }
    key.to_owned()
}

/// A date as the locale writes it: `7 December 2026`, `7. Dezember 2026`, `7 décembre 2026`,
/// `7 de diciembre de 2026` (month names from the catalogue; no ICU data).
pub fn date(locale: Locale, date: chrono::NaiveDate) -> String {
    use chrono::Datelike as _;
    let month = message(locale, &format!("month-{}", date.month()), None);
    let mut args = FluentArgs::new();
    args.set("day", date.day().to_string());
    args.set("month", month);
    args.set("year", date.year().to_string());
    message(locale, "date", Some(&args))
}

/// Adds `t` to a template environment: `{{ t("signup-heading", newsletter=newsletter) }}` looks
/// the message up in the locale named by the template's `locale` variable (the default
/// catalogue's when there is none). Numbers stay numbers, so plural selectors work; `count`
/// and `hours` given as text are read as numbers too.
///
/// In an HTML template the values are escaped and the message's own text is not: a catalogue
/// is part of the binary, as trusted as the template around it (and an apostrophe in it stays
/// one, as it was when the words were in the templates).
pub fn add_to(env: &mut minijinja::Environment<'_>) {
    env.add_function("t", translate);
}

fn translate(state: &minijinja::State<'_, '_>, key: &str, kwargs: Kwargs) -> Result<Value, minijinja::Error> {
    let locale = state.lookup("locale").and_then(|l| l.as_str().and_then(Locale::parse)).unwrap_or(Locale::En);
    let html = state.auto_escape() == minijinja::AutoEscape::Html;
    let mut args = FluentArgs::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        let value = if let Ok(n) = i64::try_from(value.clone()) {
            FluentValue::from(n)
        } else if let Ok(n) = f64::try_from(value.clone()) {
            FluentValue::from(n)
        } else if value.is_none() || value.is_undefined() {
            FluentValue::from("")
        } else if let Some(n) =
            matches!(name, "count" | "hours").then(|| value.to_string().parse::<f64>().ok()).flatten()
        {
            FluentValue::from(n)
        } else if html && !value.is_safe() {
            FluentValue::from(escape_html(&value.to_string()))
        } else {
            FluentValue::from(value.to_string())
        };
        args.set(name.to_owned(), value);
    }
    kwargs.assert_all_used()?;
    let text = message(locale, key, args.iter().next().is_some().then_some(&args));
    Ok(if html { Value::from_safe_string(text) } else { Value::from(text) })
}

/// Text as HTML needs it: `& < > " '` escaped (minijinja's own escaping also escapes `/`, which
/// turns every URL into `https:&#x2f;&#x2f;…`). The one escaping of pages and mails: a prepared
/// digest splices names escaped by it too.
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

#[cfg(test)]
#[path = "i18n_tests.rs"]
mod tests;
