//! The public HTML pages, compiled into the binary and autoescaped.

use std::sync::{LazyLock, OnceLock};

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

const PAGES: &[(&str, &str)] = &[
    ("layout.html", include_str!("pages/layout.html")),
    ("signup.html", include_str!("pages/signup.html")),
    ("check_inbox.html", include_str!("pages/check_inbox.html")),
    ("confirm.html", include_str!("pages/confirm.html")),
    ("confirmed.html", include_str!("pages/confirmed.html")),
    ("confirm_invalid.html", include_str!("pages/confirm_invalid.html")),
    ("unsubscribe.html", include_str!("pages/unsubscribe.html")),
    ("unsubscribed.html", include_str!("pages/unsubscribed.html")),
    ("unsubscribe_invalid.html", include_str!("pages/unsubscribe_invalid.html")),
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
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_formatter(crate::mail::html_formatter);
    for (name, source) in PAGES {
        if let Err(e) = env.add_template(name, source) {
            // The pages are part of the binary; the unit test below catches this before release.
            tracing::error!(page = name, error = %e, "page template does not parse");
        }
    }
    env
});

static NEWSLETTER: OnceLock<String> = OnceLock::new();

/// The newsletter's name shown on every page (the display name of `mail.from`).
pub fn set_newsletter_name(name: &str) {
    let _ = NEWSLETTER.set(name.to_owned());
}

fn newsletter() -> &'static str {
    NEWSLETTER.get().map_or("Broadsheet", String::as_str)
}

/// Renders a page with `newsletter` added to its context.
pub fn render(name: &str, ctx: Value) -> Html<String> {
    let ctx = context! { newsletter => newsletter(), ..ctx };
    match ENV.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(page = name, error = %e, "page failed to render");
            Html(format!("<!doctype html><title>{name}</title><p>Something went wrong on our side.</p>"))
        }
    }
}

pub fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    (status, render(name, ctx)).into_response()
}

pub fn render_error(title: &str, message: &str) -> Html<String> {
    render("error.html", context! { title, message })
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
        let html = render(
            "signup.html",
            context! { email => "<script>x</script>@example.com", name => "\"><b>", error => Value::from(()), field => Value::from(()) },
        )
        .0;
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
    }
}
