//! The public HTML pages, compiled into the binary and autoescaped. Their words come from the
//! message catalogues (`t("key")`, [`crate::i18n`]) in the page's locale; the console's pages
//! are English and use no catalogue.

use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

use super::AppState;
use crate::domain::Locale;

const PAGES: &[(&str, &str)] = &[
    ("layout.html", include_str!("pages/layout.html")),
    ("signup.html", include_str!("pages/signup.html")),
    ("signup_guard.html", include_str!("pages/signup_guard.html")),
    ("check_inbox.html", include_str!("pages/check_inbox.html")),
    ("confirm.html", include_str!("pages/confirm.html")),
    ("confirmed.html", include_str!("pages/confirmed.html")),
    ("confirm_invalid.html", include_str!("pages/confirm_invalid.html")),
    ("unsubscribe.html", include_str!("pages/unsubscribe.html")),
    ("unsubscribed.html", include_str!("pages/unsubscribed.html")),
    ("unsubscribe_invalid.html", include_str!("pages/unsubscribe_invalid.html")),
    ("preferences.html", include_str!("pages/preferences.html")),
    ("preferences_invalid.html", include_str!("pages/preferences_invalid.html")),
    ("preferences_erase.html", include_str!("pages/preferences_erase.html")),
    ("preferences_erased.html", include_str!("pages/preferences_erased.html")),
    ("error.html", include_str!("pages/error.html")),
    ("archive/list.html", include_str!("pages/archive/list.html")),
    ("archive/digest.html", include_str!("pages/archive/digest.html")),
    ("archive/articles.html", include_str!("pages/archive/articles.html")),
    ("archive/read_on.html", include_str!("pages/archive/read_on.html")),
    ("console/layout.html", include_str!("pages/console/layout.html")),
    ("console/login.html", include_str!("pages/console/login.html")),
    ("console/dashboard.html", include_str!("pages/console/dashboard.html")),
    ("console/subscribers.html", include_str!("pages/console/subscribers.html")),
    ("console/subscriber.html", include_str!("pages/console/subscriber.html")),
    ("console/erase.html", include_str!("pages/console/erase.html")),
    ("console/articles.html", include_str!("pages/console/articles.html")),
    ("console/article.html", include_str!("pages/console/article.html")),
    ("console/digests.html", include_str!("pages/console/digests.html")),
    ("console/digest.html", include_str!("pages/console/digest.html")),
    ("console/keys.html", include_str!("pages/console/keys.html")),
    ("console/lists.html", include_str!("pages/console/lists.html")),
    ("console/list.html", include_str!("pages/console/list.html")),
    ("console/webhooks.html", include_str!("pages/console/webhooks.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_formatter(crate::mail::html_formatter);
    env.add_filter("when", when);
    crate::i18n::add_to(&mut env);
    for (name, source) in PAGES {
        if let Err(e) = env.add_template(name, source) {
            // The pages are part of the binary; the unit test below catches this before release.
            tracing::error!(page = name, error = %e, "page template does not parse");
        }
    }
    env
});

/// The console's one way of showing a time: `2026-12-07 12:42` in `digests.timezone` (the page's
/// `timezone`, which [`super::console::page`] sets), with the zone's abbreviation after it when
/// `with_zone` is true (a time that is still to come, where the reader plans by it). Takes what a
/// serialized `DateTime` is (RFC 3339); anything else, and nothing, shows as it is.
fn when(state: &minijinja::State, value: Value, with_zone: Option<bool>) -> String {
    let Some(raw) = value.as_str() else {
        return if value.is_undefined() || value.is_none() { String::new() } else { value.to_string() };
    };
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(raw) else { return raw.to_owned() };
    let zone = state
        .lookup("timezone")
        .and_then(|z| z.as_str().and_then(|z| z.parse::<chrono_tz::Tz>().ok()))
        .unwrap_or(chrono_tz::Tz::UTC);
    let local = at.with_timezone(&zone);
    if with_zone.unwrap_or(false) {
        local.format("%Y-%m-%d %H:%M %Z").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// Renders a page in `locale` with `newsletter` (the display name of `mail.from`, as this app
/// was built with), `locale` (for `t` and `<html lang>`) and `languages` (the shipped locales,
/// for a language select) added to its context.
pub fn render(state: &AppState, locale: Locale, name: &str, ctx: Value) -> Html<String> {
    // A page with the signup form gets a fresh form token (and the honeypot) with it.
    // Named `guard`: `form` is a page's own (the console's forms keep what was typed in it).
    let guard = if FORM_PAGES.contains(&name) { form_context(state) } else { Value::from(()) };
    render_template(
        name,
        context! { newsletter => &*state.newsletter, locale => locale.as_str(), languages => languages(), guard => guard, ..ctx },
    )
}

/// The shipped locales as a language select lists them: `[{code, name}]`.
fn languages() -> Value {
    static LANGUAGES: LazyLock<Value> = LazyLock::new(|| {
        Value::from(
            Locale::ALL.iter().map(|l| context! { code => l.as_str(), name => l.native_name() }).collect::<Vec<_>>(),
        )
    });
    LANGUAGES.clone()
}

/// The pages whose signup form carries the form token and the honeypot (docs/bots.md).
const FORM_PAGES: [&str; 3] = ["signup.html", "confirm_invalid.html", "archive/digest.html"];

/// What the signup form's fields add to a page's context (`signup_guard.html`): a token minted
/// now, and whether the proof-of-work script is to run.
fn form_context(state: &AppState) -> Value {
    context! {
        form_token => crate::signup::bots::form_token(&state.token_keys, chrono::Utc::now()),
        honeypot => crate::signup::bots::HONEYPOT,
        pow => state.settings.limits.signup_pow > 0,
    }
}

/// A piece of a page, without the layout and so without the newsletter's name: what the archive's
/// feed embeds in its entries.
pub fn fragment(name: &str, ctx: Value) -> String {
    render_template(name, ctx).0
}

fn render_template(name: &str, ctx: Value) -> Html<String> {
    match ENV.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(page = name, error = %e, "page failed to render");
            Html(format!("<!doctype html><title>{name}</title><p>Something went wrong on our side.</p>"))
        }
    }
}

pub fn page(state: &AppState, status: StatusCode, locale: Locale, name: &str, ctx: Value) -> Response {
    (status, render(state, locale, name, ctx)).into_response()
}

/// An error page still to be rendered: what [`super::error::PageError`] answers. Errors become
/// responses where no state is at hand (`?` in a handler, an extractor's rejection), so they
/// leave this in the response's extensions and [`render_error_pages`] renders it, in the
/// visitor's locale.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The catalogue's key of the title.
    pub title: &'static str,
    /// What went wrong: a catalogue key where the sentence is a general one (a fault of ours,
    /// too many requests), else the error's own sentence.
    pub message: ErrorMessage,
}

#[derive(Debug, Clone)]
pub enum ErrorMessage {
    Key(&'static str),
    Text(String),
}

/// Middleware: renders the [`ErrorPage`] a response carries, keeping its status and headers.
pub async fn render_error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let locale = super::locale::negotiated(&state, request.headers());
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<ErrorPage>() {
        Some(ErrorPage { title, message }) => {
            let (parts, _) = response.into_parts();
            let message = match message {
                ErrorMessage::Key(key) => crate::i18n::message(locale, key, None),
                ErrorMessage::Text(text) => text,
            };
            let title = crate::i18n::message(locale, title, None);
            (parts, render(&state, locale, "error.html", context! { title, message })).into_response()
        }
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_parses_and_escapes() {
        for (name, source) in PAGES {
            let mut env = Environment::new();
            env.add_template(name, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let html = render_template(
            "signup.html",
            context! { newsletter => "Broadsheet", email => "<script>x</script>@example.com", name => "\"><b>", error => Value::from(()), field => Value::from(()) },
        )
        .0;
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
        assert!(html.contains("<html lang=\"en\">"), "no locale: the default catalogue: {html}");
        let html = render_template(
            "signup.html",
            context! { newsletter => "<Broad>", locale => "fr", languages => languages(), email => "", name => "" },
        )
        .0;
        assert!(html.contains("<html lang=\"fr\">"), "{html}");
        assert!(html.contains("Inscrivez-vous ici à &lt;Broad&gt;"), "translated, and the value escaped: {html}");
    }

    #[test]
    fn times_show_in_the_operators_zone_to_the_minute() {
        let mut env = Environment::new();
        env.add_filter("when", when);
        crate::i18n::add_to(&mut env);
        let show = |tpl: &str, ctx: Value| env.render_str(tpl, ctx).unwrap();
        let at = "2026-12-07T11:42:31.123456Z";
        assert_eq!(show("{{ at | when }}", context! { at, timezone => "Europe/Paris" }), "2026-12-07 12:42");
        assert_eq!(show("{{ at | when(true) }}", context! { at, timezone => "Europe/Paris" }), "2026-12-07 12:42 CET");
        assert_eq!(show("{{ at | when }}", context! { at }), "2026-12-07 11:42");
        assert_eq!(show("{{ at | when }}", context! { at => Value::from(()) }), "");
        assert_eq!(show("{{ missing | when }}", context! {}), "");
    }
}
