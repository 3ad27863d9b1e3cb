//! The console's side of subscribers in and out: the add and import forms and the export link on
//! the list page, a person's page (their data and history), and erasure with a confirmation step.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ExportQuery, ListFilter, export, export_list, export_status, import, list_view, parse_flag};
use crate::http::AppState;
use crate::http::console::{CsrfOnly, page};
use crate::http::error::{Error, PageError};
use crate::http::session::{CsrfForm, Session};
use crate::ops::OpsError;
use crate::ops::subscribers::{self as ops, Consent};
use crate::store::subscribers::Interface;

/// The console's "add a subscriber" form.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct AddForm {
    /// The session's CSRF token.
    pub csrf: String,
    pub email: String,
    pub name: String,
    /// `on`: confirmed, without a confirmation mail (needs `consent`).
    pub confirmed: String,
    /// Where and how the person agreed.
    pub consent: String,
    /// The list they join (its slug); default `default`.
    pub list: String,
}

/// The console's import form: the CSV pasted into a text area (up to 10 MiB).
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct ImportForm {
    /// The session's CSRF token.
    pub csrf: String,
    /// The list: a header row (`email` required), then one subscriber a line.
    pub csv: String,
    /// `on`: new addresses become confirmed (needs `consent`).
    pub confirmed: String,
    pub consent: String,
    /// The list new subscribers join (its slug), unless their row's `lists` cell names others;
    /// default `default`.
    pub list: String,
}

/// Add one subscriber; on success, to their page.
#[utoipa::path(post, path = "/admin/ui/subscribers", tag = "console", request_body(content = AddForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The list again, with what to fix", content_type = "text/html", body = String), (status = 303, description = "Added: to the person's page (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn add_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Result<Response, PageError> {
    let typed = context! { email => form.email, name => form.name, confirmed => !form.confirmed.is_empty(), consent => form.consent, list => form.list };
    let added = match parse_flag(Some(&form.confirmed), "confirmed")
        .map_err(|_| OpsError::invalid("confirmed", "Tick the box or leave it."))
    {
        Ok(confirmed) => match Consent::parse(confirmed, Some(&form.consent)) {
            Ok(consent) => {
                let lists = one_list(&form.list);
                ops::add(&state.db, &form.email, Some(&form.name), &consent, Interface::Console, &lists, None).await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match added {
        Ok(_) => {
            state.wake.notify_one();
            Ok(Redirect::to(&person_path(form.email.trim())).into_response())
        }
        Err(OpsError::Invalid { field, message }) => {
            list_view(
                &state,
                &session,
                &ListFilter::first_page(),
                context! { add => typed, add_error => message, add_field => field },
            )
            .await
        }
        Err(OpsError::Conflict(message)) => {
            list_view(&state, &session, &ListFilter::first_page(), context! { add => typed, add_error => message })
                .await
        }
        Err(e) => Err(Error::from(e).into()),
    }
}

/// Import a pasted CSV list; the list page again with the report.
#[utoipa::path(post, path = "/admin/ui/subscribers/import", tag = "console", request_body(content = ImportForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The list with the import's report, or what to fix", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 413, description = "Larger than 10 MiB: use the CLI", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn import_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<ImportForm>,
) -> Result<Response, PageError> {
    let typed = context! { confirmed => !form.confirmed.is_empty(), consent => form.consent, list => form.list };
    let consent = parse_flag(Some(&form.confirmed), "confirmed")
        .map_err(|_| OpsError::invalid("confirmed", "Tick the box or leave it."))
        .and_then(|confirmed| Consent::parse(confirmed, Some(&form.consent)));
    let result = match consent {
        Ok(consent) => {
            import(&state, Bytes::from(form.csv.into_bytes()), &consent, Interface::Console, &one_list(&form.list))
                .await
                .map_err(|e| match e {
                    Error::Invalid { message, .. } => Ok(message),
                    other => Err(other),
                })
        }
        Err(OpsError::Invalid { message, .. }) => Err(Ok(message)),
        Err(e) => Err(Err(Error::from(e))),
    };
    let extra = match result {
        Ok(report) => context! { import => typed, report => report, summary => report.to_string() },
        Err(Ok(message)) => context! { import => typed, import_error => message },
        Err(Err(e)) => return Err(e.into()),
    };
    list_view(&state, &session, &ListFilter::first_page(), extra).await
}

/// The subscribers (of one status) as a CSV download.
#[utoipa::path(get, path = "/admin/ui/subscribers/export", tag = "console", params(ExportQuery), responses((status = 200, description = "The list", content_type = "text/csv", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 422, description = "Unknown status", content_type = "text/html", body = String), (status = 429, description = "Other exports are running; see Retry-After", content_type = "text/html", body = String)))]
pub async fn export_download(
    State(state): State<AppState>,
    _: Session,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|_| Error::BadRequest("The query string could not be read.".to_owned()))?;
    let status = export_status(query.status.as_deref())?;
    Ok(export::csv_stream(&state, export_list(&state, query.list.as_deref()).await?, status)?)
}

/// The list a console form chose, as the slugs ops take (none: the default list).
fn one_list(raw: &str) -> Vec<String> {
    let slug = raw.trim();
    if slug.is_empty() { Vec::new() } else { vec![slug.to_owned()] }
}

/// The console path of a person's page.
pub(super) fn person_path(email: &str) -> String {
    format!("/admin/ui/subscribers/{}", url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>())
}

/// One person: their data, consent records, mails, bounces, and the way to erase them.
#[utoipa::path(get, path = "/admin/ui/subscribers/{email}", tag = "console", params(("email" = String, Path, description = "The address")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn person_page(
    State(state): State<AppState>,
    session: Session,
    Path(email): Path<String>,
) -> Result<Response, PageError> {
    let data = ops::show(&state.db, &email).await.map_err(Error::from)?;
    let path = person_path(&data.subscriber.email);
    Ok(page(&state, "console/subscriber.html", Some(&session), context! { person => data, path => path }))
}

/// The console's language form on a person's page.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct LocaleForm {
    /// The session's CSRF token.
    pub csrf: String,
    /// `en`, `de`, `fr` or `es`.
    pub locale: String,
}

/// Change the language a person's pages and mail are in; back to their page.
#[utoipa::path(post, path = "/admin/ui/subscribers/{email}/locale", tag = "console", params(("email" = String, Path, description = "The address")), request_body(content = LocaleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Changed: to the person's page (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 422, description = "Not a shipped locale", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn locale_form(
    State(state): State<AppState>,
    Path(email): Path<String>,
    CsrfForm(form): CsrfForm<LocaleForm>,
) -> Result<Response, PageError> {
    let data = ops::update(&state.db, &email, None, None, Some(&form.locale)).await.map_err(Error::from)?;
    Ok(Redirect::to(&person_path(&data.subscriber.email)).into_response())
}

/// The confirmation step before an erasure.
#[utoipa::path(get, path = "/admin/ui/subscribers/{email}/erase", tag = "console", params(("email" = String, Path, description = "The address")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn erase_page(
    State(state): State<AppState>,
    session: Session,
    Path(email): Path<String>,
) -> Result<Response, PageError> {
    let data = ops::show(&state.db, &email).await.map_err(Error::from)?;
    let path = person_path(&data.subscriber.email);
    Ok(page(&state, "console/erase.html", Some(&session), context! { person => data.subscriber, path => path }))
}

/// Erase the person for good; to the list, which says so.
#[utoipa::path(post, path = "/admin/ui/subscribers/{email}/erase", tag = "console", params(("email" = String, Path, description = "The address")), request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Erased: to the list (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn erase_form(
    State(state): State<AppState>,
    Path(email): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    ops::erase(&state.db, &email).await.map_err(Error::from)?;
    Ok(Redirect::to("/admin/ui/subscribers?erased=1").into_response())
}
