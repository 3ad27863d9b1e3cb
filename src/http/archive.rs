//! The public archive of sent digests: `GET /archive` (newest first, pages of 20),
//! `GET /archive/{id}` (one digest as a web page, the link every digest mail carries as "view in
//! browser") and `GET /archive/feed.atom` (`feed`, rendered once per change of the archive). Nothing personal appears: the pages render the digest's
//! articles, never a recipient's name, address or token. `http.archive = false` answers 404.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{Error, PageError};
use super::locale::RequestLocale;
use super::pages;
use crate::domain::Locale;
use crate::mail::DigestView;
use crate::store::digests;

mod feed;
pub use self::feed::FeedCache;

/// Digests per archive page.
const PER_PAGE: i64 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(archive_list))
        .routes(routes!(feed::archive_feed))
        .routes(routes!(archive_digest))
}

fn enabled(state: &AppState) -> Result<(), Error> {
    if state.settings.http.archive { Ok(()) } else { Err(Error::NotFound("There is no archive here.".to_owned())) }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveQuery {
    /// 1 (the newest digests) and up
    page: Option<String>,
    /// Only the digests to this public list (its slug)
    list: Option<String>,
}

/// Sent digests, newest first.
#[utoipa::path(get, path = "/archive", tag = "archive", params(ArchiveQuery),
    responses(
        (status = 200, description = "The list", content_type = "text/html", body = String),
        (status = 400, description = "A bad page number", content_type = "text/html", body = String),
        (status = 404, description = "The archive is turned off (`http.archive = false`), or `list` names no public list", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn archive_list(
    State(state): State<AppState>,
    RequestLocale(locale): RequestLocale,
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
    // A private list's archive does not exist, as far as the public can tell.
    let list = match query.list.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(slug) => match crate::ops::lists::find(&state.db, slug).await {
            Ok(list) if list.public => Some(list),
            Ok(_) | Err(crate::ops::OpsError::NotFound(_) | crate::ops::OpsError::Invalid { .. }) => {
                return Err(Error::NotFound("There is no such list in the archive.".to_owned()).into());
            }
            Err(e) => return Err(Error::from(e).into()),
        },
    };
    let (entries, total) =
        digests::archive(&state.db, list.as_ref().map(|l| l.id), PER_PAGE, (page - 1) * PER_PAGE).await?;
    // Name each digest's list only when a reader could wonder which it went to.
    let public_lists = crate::store::lists::all(&state.db).await?.into_iter().filter(|l| l.public).count();
    let zone = state.settings.timezone();
    let items: Vec<minijinja::Value> = entries
        .iter()
        .map(|d| context! { id => d.id.to_string(), subject => d.subject, date => local_date(d.started_at, zone, locale), iso => d.started_at.to_rfc3339(), list_slug => d.list_slug, list_name => d.list_name })
        .collect();
    let pages_total = (total + PER_PAGE - 1) / PER_PAGE;
    Ok(pages::page(
        &state,
        StatusCode::OK,
        locale,
        "archive/list.html",
        context! {
            items => items,
            page => page,
            list => list.as_ref().map(|l| context! { slug => l.slug, name => l.name }),
            name_lists => list.is_none() && public_lists > 1,
            newer => (page > 1).then(|| page - 1),
            older => (page < pages_total).then(|| page + 1),
        },
    ))
}

/// The day a digest went out, in `digests.timezone`, as `locale` writes a date.
fn local_date(at: DateTime<Utc>, zone: chrono_tz::Tz, locale: Locale) -> String {
    crate::i18n::date(locale, at.with_timezone(&zone).date_naive())
}

/// One sent digest as a web page, with no personal data.
#[utoipa::path(get, path = "/archive/{id}", tag = "archive",
    params(("id" = String, Path, description = "The digest id")),
    responses(
        (status = 200, description = "The digest", content_type = "text/html", body = String),
        (status = 404, description = "No such sent digest, or the archive is off", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn archive_digest(
    State(state): State<AppState>,
    RequestLocale(locale): RequestLocale,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    enabled(&state)?;
    let not_found = || Error::NotFound("There is no such digest in the archive.".to_owned());
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let digest = digests::archived(&state.db, id).await?.ok_or_else(not_found)?;
    let content = digests::content(&state.db, id).await?.ok_or_else(not_found)?;
    let view = DigestView::render(content).await.map_err(Error::Internal)?;
    Ok(pages::page(
        &state,
        StatusCode::OK,
        locale,
        "archive/digest.html",
        context! {
            subject => digest.subject,
            date => local_date(digest.started_at, state.settings.timezone(), locale),
            iso => digest.started_at.to_rfc3339(),
            articles => view.articles,
        },
    ))
}
