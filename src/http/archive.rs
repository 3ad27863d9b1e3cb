//! The public archive of sent digests: `GET /archive` (newest first, pages of 20),
//! `GET /archive/{id}` (one digest as a web page, the link every digest mail carries as "view in
//! browser") and `GET /archive/feed.atom`. Nothing personal appears: the pages render the digest's
//! articles, never a recipient's name, address or token. `http.archive = false` answers 404.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{Error, PageError};
use super::pages;
use crate::mail::DigestView;
use crate::store::digests::{self, Archived};

/// Digests per archive page, and entries in the feed.
const PER_PAGE: i64 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(archive_list)).routes(routes!(archive_feed)).routes(routes!(archive_digest))
}

fn enabled(state: &AppState) -> Result<(), Error> {
    if state.settings.http.archive { Ok(()) } else { Err(Error::NotFound("There is no archive here.".to_owned())) }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveQuery {
    /// 1 (the newest digests) and up
    page: Option<String>,
}

/// Sent digests, newest first.
#[utoipa::path(get, path = "/archive", tag = "archive", params(ArchiveQuery),
    responses(
        (status = 200, description = "The list", content_type = "text/html", body = String),
        (status = 400, description = "A bad page number", content_type = "text/html", body = String),
        (status = 404, description = "The archive is turned off (`http.archive = false`)", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn archive_list(
    State(state): State<AppState>,
    query: Result<Query<ArchiveQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    enabled(&state)?;
    let Query(query) = query.map_err(|e| Error::BadRequest(format!("Bad query string: {e}")))?;
    let page = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| Error::BadRequest("page must be a whole number from 1.".to_owned()))?,
    };
    let (entries, total) = digests::archive(&state.db, PER_PAGE, (page - 1) * PER_PAGE).await?;
    let zone = state.settings.timezone();
    let items: Vec<minijinja::Value> = entries
        .iter()
        .map(|d| context! { id => d.id.to_string(), subject => d.subject, date => local_date(d.started_at, zone), iso => d.started_at.to_rfc3339() })
        .collect();
    let pages_total = (total + PER_PAGE - 1) / PER_PAGE;
    Ok(pages::page(
        StatusCode::OK,
        "archive/list.html",
        context! {
            items => items,
            page => page,
            newer => (page > 1).then(|| page - 1),
            older => (page < pages_total).then(|| page + 1),
        },
    ))
}

fn local_date(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%-d %B %Y").to_string()
}

/// One sent digest as a web page, with no personal data.
#[utoipa::path(get, path = "/archive/{id}", tag = "archive",
    params(("id" = String, Path, description = "The digest id")),
    responses(
        (status = 200, description = "The digest", content_type = "text/html", body = String),
        (status = 404, description = "No such sent digest, or the archive is off", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn archive_digest(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    enabled(&state)?;
    let not_found = || Error::NotFound("There is no such digest in the archive.".to_owned());
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let digest = digests::archived(&state.db, id).await?.ok_or_else(not_found)?;
    let content = digests::content(&state.db, id).await?.ok_or_else(not_found)?;
    let view = DigestView::render(content).await.map_err(Error::Internal)?;
    Ok(pages::page(
        StatusCode::OK,
        "archive/digest.html",
        context! {
            subject => digest.subject,
            date => local_date(digest.started_at, state.settings.timezone()),
            iso => digest.started_at.to_rfc3339(),
            articles => view.articles,
        },
    ))
}

/// The archive as an Atom feed: the newest digests with their articles.
#[utoipa::path(get, path = "/archive/feed.atom", tag = "archive",
    responses(
        (status = 200, description = "Atom 1.0", content_type = "application/atom+xml", body = String),
        (status = 404, description = "The archive is turned off", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn archive_feed(State(state): State<AppState>) -> Result<Response, PageError> {
    enabled(&state)?;
    let (entries, _) = digests::archive(&state.db, PER_PAGE, 0).await?;
    let mut rendered = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(content) = digests::content(&state.db, entry.id).await? else { continue };
        let view = DigestView::render(content).await.map_err(Error::Internal)?;
        let html = pages::render("archive/articles.html", context! { articles => view.articles }).0;
        rendered.push((entry, html));
    }
    let xml = atom(&state.settings.http.base_url, &state.settings.newsletter_name(), &rendered);
    Ok(([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], xml).into_response())
}

fn atom(base_url: &crate::domain::BaseUrl, newsletter: &str, entries: &[(Archived, String)]) -> String {
    let updated = entries.first().map_or(DateTime::<Utc>::UNIX_EPOCH, |(e, _)| e.started_at);
    let self_url = base_url.join("/archive/feed.atom");
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>{}</id>\n<title>{}</title>\n<updated>{}</updated>\n<author><name>{}</name></author>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        escape(&self_url),
        escape(newsletter),
        updated.to_rfc3339(),
        escape(newsletter),
        escape(&self_url),
        escape(&base_url.join("/archive")),
    );
    for (entry, html) in entries {
        let url = base_url.join(&format!("/archive/{}", entry.id));
        xml.push_str(&format!(
            "<entry>\n<id>urn:uuid:{}</id>\n<title>{}</title>\n<updated>{}</updated>\n<published>{}</published>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<content type=\"html\">{}</content>\n</entry>\n",
            entry.id,
            escape(&entry.subject),
            entry.started_at.to_rfc3339(),
            entry.started_at.to_rfc3339(),
            escape(&url),
            escape(html),
        ));
    }
    xml.push_str("</feed>\n");
    xml
}

/// XML text and attribute escaping; characters XML 1.0 forbids are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn xml_escaping_covers_markup_and_drops_forbidden_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
