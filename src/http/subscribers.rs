//! Subscribers: the admin API (list, add, import, export, a person's data, erasure) and the
//! console's pages (`/admin/ui/subscribers`: counts by status, search by address, pages of 50,
//! add, import, export; a person's page with their history and erasure, in `subscribers/pages.rs`).
//!
//! (A little over 400 lines: six API routes and the console list's handlers, each with its
//! OpenAPI annotation; the person's pages already live in `subscribers/pages.rs`.)

mod export;
mod pages;

pub use self::export::Exports;

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Authorized, scope};
use super::console::page;
use super::error::{AdminRefusals, Error, ErrorBody, PageError};
use super::input::{JsonBody, JsonRequest};
use super::session::Session;
use crate::domain::SubscriberStatus;
use crate::ops::subscribers::{self as ops, AddedSubscriber, Consent, ImportReport, PersonData};
use crate::store::subscribers::{self, Interface, SubscriberRow};

/// An import through HTTP (the API or the console's form) carries at most this much; larger
/// lists go through `broadsheet subscribers import`, which has no limit.
pub const IMPORT_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_subscribers))
        .routes(routes!(pages::import_form))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT))
        .routes(routes!(list_subscribers, add_subscriber))
        .routes(routes!(export_subscribers))
        .routes(routes!(show_subscriber, erase_subscriber, update_subscriber))
        .layer(super::admin_body_limit())
        .routes(routes!(subscribers_page, pages::add_form))
        .routes(routes!(pages::export_download))
        .routes(routes!(pages::person_page))
        .routes(routes!(pages::locale_form))
        .routes(routes!(pages::erase_page, pages::erase_form))
        // Every answer here may name a person (a list, their data, an import's report, even a
        // 404 for their address): no cache, shared or private, may keep it.
        .layer(super::no_store())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriberQuery {
    /// pending, confirmed, unsubscribed, bounced or complained
    status: Option<String>,
    /// From 1
    page: Option<i64>,
    /// 1 to 500, default 50
    per_page: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriberPage {
    pub subscribers: Vec<SubscriberRow>,
    /// Subscribers per status, every status present.
    pub counts: BTreeMap<String, i64>,
    pub page: i64,
    pub per_page: i64,
}

/// Subscribers, newest first, with counts by status.
#[utoipa::path(get, path = "/admin/subscribers", tag = "admin", security(("admin_token" = ["subscribers:read"])),
    params(SubscriberQuery),
    responses(
        (status = 200, description = "A page of subscribers", body = SubscriberPage),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "An unknown status or list", body = ErrorBody),
        AdminRefusals,
    ))]
async fn list_subscribers(
    _: Authorized<scope::SubscribersRead>,
    State(state): State<AppState>,
    query: Result<Query<SubscriberQuery>, QueryRejection>,
) -> Result<Json<SubscriberPage>, Error> {
    let Query(query) = query.map_err(|_| Error::BadRequest("page and per_page must be whole numbers.".to_owned()))?;
    let status = parse_status(query.status.as_deref()).map_err(|()| {
        Error::invalid("status", "status must be one of pending, confirmed, unsubscribed, bounced, complained.")
    })?;
    let per_page = query.per_page.unwrap_or(50).clamp(1, 500);
    let page = query.page.unwrap_or(1).max(1);
    let rows = subscribers::page(&state.db, status, None, per_page, (page - 1).saturating_mul(per_page)).await?;
    let counts = subscribers::counts(&state.db).await?.into_iter().map(|(s, n)| (s.as_str().to_owned(), n)).collect();
    Ok(Json(SubscriberPage { subscribers: rows, counts, page, per_page }))
}

/// An optional status filter: empty means none.
fn parse_status(raw: Option<&str>) -> Result<Option<SubscriberStatus>, ()> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => serde_json::from_value(serde_json::Value::String(s.to_owned())).map(Some).map_err(|_| ()),
    }
}

/// One subscriber added by an operator.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AddRequest {
    pub email: String,
    pub name: Option<String>,
    /// `pending` (default: a confirmation mail goes out) or `confirmed` (needs `consent`).
    pub status: Option<String>,
    /// Where and how the person agreed; kept with their consent record.
    pub consent: Option<String>,
    /// The operator's fields (`{"plan": "pro", "seats": 3}`): an object of at most 8 KiB, keys
    /// `[a-z][a-z0-9_]{0,39}`, values strings, numbers or booleans.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
}

impl JsonRequest for AddRequest {
    type Body = Self;
    const FIELDS: &'static [&'static str] = &["email", "name", "status", "consent", "attributes"];

    fn from_body(body: Self, _: &HeaderMap) -> Result<Self, Error> {
        Ok(body)
    }
}

/// Add one subscriber: pending with a confirmation mail, or confirmed with a consent note.
/// Never over an existing subscriber or an erased, suppressed address (`409`).
#[utoipa::path(post, path = "/admin/subscribers", tag = "admin", security(("admin_token" = ["subscribers:write"])),
    request_body = AddRequest,
    responses(
        (status = 201, description = "Added", body = AddedSubscriber),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 409, description = "Already a subscriber, or erased and suppressed", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field to fix", body = ErrorBody),
        AdminRefusals,
    ))]
async fn add_subscriber(
    _: Authorized<scope::SubscribersWrite>,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<AddRequest>,
) -> Result<(StatusCode, Json<AddedSubscriber>), Error> {
    let confirmed = match request.status.as_deref() {
        None | Some("") | Some("pending") => false,
        Some("confirmed") => true,
        Some(_) => return Err(Error::invalid("status", "status must be pending or confirmed.")),
    };
    let consent = Consent::parse(confirmed, request.consent.as_deref())?;
    let added =
        ops::add(&state.db, &request.email, request.name.as_deref(), &consent, Interface::Api, &[], request.attributes)
            .await?;
    state.wake.notify_one();
    Ok((StatusCode::CREATED, Json(added)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: new addresses become confirmed without a confirmation mail (needs `consent`).
    confirmed: Option<String>,
    /// Where and how these people agreed; kept with each one's consent record.
    consent: Option<String>,
    /// The lists new subscribers join, slugs separated by commas (`weekly,news`); default
    /// `default`. A row's own `lists` column (`weekly|news`) wins over it.
    lists: Option<String>,
    /// One list new subscribers join (added to `lists`).
    list: Option<String>,
}

/// The slugs an import's query names, in order.
fn import_lists(query: &ImportQuery) -> Vec<String> {
    [query.list.as_deref(), query.lists.as_deref()]
        .into_iter()
        .flatten()
        .flat_map(|raw| raw.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `true`/`false` as a form or query string says it.
fn parse_flag(raw: Option<&str>, field: &'static str) -> Result<bool, Error> {
    match raw.map(str::trim) {
        None | Some("" | "false" | "0" | "off" | "no") => Ok(false),
        Some("true" | "1" | "on" | "yes") => Ok(true),
        Some(_) => Err(Error::invalid(field, format!("{field} must be true or false."))),
    }
}

/// Import a CSV list (header row; `email` required, `name`, `created_at`, `status`, `lists`
/// optional; comma or semicolon; UTF-8, with or without BOM), in one transaction. New subscribers
/// join the lists the query names (default `default`), or those of their row's `lists` cell. Bodies up to 10 MiB;
/// larger lists through `broadsheet subscribers import`.
#[utoipa::path(post, path = "/admin/subscribers/import", tag = "admin", security(("admin_token" = ["subscribers:write"])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "email,name\nann@example.com,Ann"),
    responses(
        (status = 200, description = "Imported; bad lines are listed with their numbers", body = ImportReport),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 413, description = "Larger than 10 MiB: use the CLI", body = ErrorBody),
        (status = 415, description = "Not text/csv", body = ErrorBody),
        (status = 422, description = "Not a list we can read (no email column, a giant line), consent missing, or an unknown list (named); nothing was imported", body = ErrorBody),
        AdminRefusals,
    ))]
async fn import_subscribers(
    _: Authorized<scope::SubscribersWrite>,
    State(state): State<AppState>,
    query: Result<Query<ImportQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportReport>, Error> {
    let Query(query) = query.map_err(|_| Error::BadRequest("The query string could not be read.".to_owned()))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(essence.as_str(), "text/csv" | "text/plain" | "application/csv") {
        return Err(Error::UnsupportedMediaType("Send the list as CSV (Content-Type: text/csv).".to_owned()));
    }
    let body = super::input::body(body)?;
    let consent = Consent::parse(parse_flag(query.confirmed.as_deref(), "confirmed")?, query.consent.as_deref())?;
    let report = import(&state, body, &consent, Interface::Api, &import_lists(&query)).await?;
    Ok(Json(report))
}

async fn import(
    state: &AppState,
    body: Bytes,
    consent: &Consent,
    interface: Interface,
    lists: &[String],
) -> Result<ImportReport, Error> {
    let report = ops::import(&state.db, Box::new(std::io::Cursor::new(body)), consent, interface, lists).await?;
    if report.imported > 0 {
        state.wake.notify_one();
    }
    Ok(report)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// pending, confirmed, unsubscribed, bounced or complained (the subscriber's status); every
    /// subscriber without it
    status: Option<String>,
    /// Only the current members (pending or confirmed membership) of this list (its slug)
    list: Option<String>,
}

/// The list an export is limited to, as its id; a 422 naming a list that does not exist.
async fn export_list(state: &AppState, raw: Option<&str>) -> Result<Option<i32>, Error> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(slug) => Ok(Some(crate::ops::lists::target(&state.db, "list", Some(slug)).await?.id)),
    }
}

/// Every subscriber (of one status, of one list) as CSV, `email,name,status,created_at,lists,attributes`
/// (`lists`: the lists they are a pending or confirmed member of, `a|b`; `attributes`: a JSON
/// object), in the order they
/// were added, streamed; cells a spreadsheet would run as formulas start with `'`. Importing it
/// elsewhere reproduces the subscribers and their statuses. At most two exports run at once.
#[utoipa::path(get, path = "/admin/subscribers/export", tag = "admin", security(("admin_token" = ["subscribers:read"])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The list", content_type = "text/csv", body = String),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "An unknown status or list", body = ErrorBody),
        (status = 401, description = "Missing, wrong or revoked admin token or API key", body = ErrorBody),
        (status = 403, description = "An API key without the scope this route needs", body = ErrorBody),
        (status = 429, description = "Other exports are running, or too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
    ))]
async fn export_subscribers(
    _: Authorized<scope::SubscribersRead>,
    State(state): State<AppState>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|_| Error::BadRequest("The query string could not be read.".to_owned()))?;
    let status = export_status(query.status.as_deref())?;
    export::csv_stream(&state, export_list(&state, query.list.as_deref()).await?, status)
}

fn export_status(raw: Option<&str>) -> Result<Option<SubscriberStatus>, Error> {
    parse_status(raw).map_err(|()| {
        Error::invalid("status", "status must be one of pending, confirmed, unsubscribed, bounced, complained.")
    })
}

/// Everything held about one person: the subscriber, every consent record, every mail (with the
/// server's last reply), bounces and complaints. Never token hashes.
#[utoipa::path(get, path = "/admin/subscribers/{email}", tag = "admin", security(("admin_token" = ["subscribers:read"])),
    params(("email" = String, Path, description = "The address, any case")),
    responses(
        (status = 200, description = "The person's data", body = PersonData),
        (status = 404, description = "No subscriber with this address", body = ErrorBody),
        AdminRefusals,
    ))]
async fn show_subscriber(
    _: Authorized<scope::SubscribersRead>,
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> Result<Json<PersonData>, Error> {
    Ok(Json(ops::show(&state.db, &email).await?))
}

/// A change to a person's details: each field only when present.
#[derive(Deserialize, ToSchema)]
pub struct UpdateRequest {
    /// The display name; `""` removes it.
    pub name: Option<String>,
    /// The operator's fields (`{"plan": "pro", "seats": 3}`), replacing the old ones whole: an
    /// object of at most 8 KiB, keys `[a-z][a-z0-9_]{0,39}`, values strings, numbers or booleans.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
    /// The language of their pages and mail: `en`, `de`, `fr` or `es` (`de-AT` is `de`).
    #[schema(example = "de")]
    pub locale: Option<String>,
}

impl JsonRequest for UpdateRequest {
    type Body = Self;
    const FIELDS: &'static [&'static str] = &["name", "attributes", "locale"];

    fn from_body(body: Self, _: &HeaderMap) -> Result<Self, Error> {
        Ok(body)
    }
}

/// Change a person's name, attributes or language; answers their data as it now is.
#[utoipa::path(patch, path = "/admin/subscribers/{email}", tag = "admin", security(("admin_token" = ["subscribers:write"])),
    params(("email" = String, Path, description = "The address, any case")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Changed: the person's data", body = PersonData),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 404, description = "No subscriber with this address", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A bad name, attributes (the message names the key) or locale (`field`: `locale`); nothing was changed", body = ErrorBody),
        AdminRefusals,
    ))]
async fn update_subscriber(
    _: Authorized<scope::SubscribersWrite>,
    State(state): State<AppState>,
    Path(email): Path<String>,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> Result<Json<PersonData>, Error> {
    let UpdateRequest { name, attributes, locale } = request;
    Ok(Json(ops::update(&state.db, &email, name.as_deref(), attributes, locale.as_deref()).await?))
}

/// Erase one person and everything tied to them, in one transaction. Where they had
/// unsubscribed, bounced or complained, only a SHA-256 of the lower-cased address stays, so that
/// no import can add them back.
#[utoipa::path(delete, path = "/admin/subscribers/{email}", tag = "admin", security(("admin_token" = ["subscribers:write"])),
    params(("email" = String, Path, description = "The address, any case")),
    responses(
        (status = 204, description = "Erased"),
        (status = 404, description = "No subscriber with this address", body = ErrorBody),
        AdminRefusals,
    ))]
async fn erase_subscriber(
    _: Authorized<scope::SubscribersWrite>,
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> Result<StatusCode, Error> {
    ops::erase(&state.db, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriberSearch {
    /// Part of an address
    q: Option<String>,
    /// pending, confirmed, unsubscribed, bounced or complained
    status: Option<String>,
    /// From 1
    page: Option<i64>,
    /// Set after an erasure, to say it is done
    erased: Option<String>,
}

/// Subscribers: counts, search by address, pages.
#[utoipa::path(get, path = "/admin/ui/subscribers", tag = "console", params(SubscriberSearch), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 422, description = "Unknown status", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn subscribers_page(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<SubscriberSearch>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|_| Error::BadRequest("page must be a whole number.".to_owned()))?;
    let status = parse_status(query.status.as_deref()).map_err(|()| Error::invalid("status", "Unknown status."))?;
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().any(char::is_control) || q.len() > 320) {
        return Err(Error::invalid("q", "Search for part of an address: one line of at most 320 characters.").into());
    }
    let page_no = query.page.unwrap_or(1).clamp(1, 1_000_000);
    let filter = ListFilter { status, status_raw: query.status.unwrap_or_default(), search, page: page_no };
    list_view(&state, &session, &filter, context! { erased => query.erased.is_some() }).await
}

/// What the console's list shows.
struct ListFilter<'a> {
    status: Option<SubscriberStatus>,
    status_raw: String,
    search: Option<&'a str>,
    page: i64,
}

impl ListFilter<'_> {
    /// The first page of everyone, after a form.
    fn first_page() -> Self {
        Self { status: None, status_raw: String::new(), search: None, page: 1 }
    }
}

/// The list page, with what a form adds (its report, its errors, the typed values).
async fn list_view(
    state: &AppState,
    session: &Session,
    filter: &ListFilter<'_>,
    extra: Value,
) -> Result<Response, PageError> {
    const PER_PAGE: i64 = 50;
    let rows =
        subscribers::page(&state.db, filter.status, filter.search, PER_PAGE + 1, (filter.page - 1) * PER_PAGE).await?;
    let more = rows.len() as i64 > PER_PAGE;
    let lists: Vec<Value> = crate::store::lists::all(&state.db)
        .await?
        .into_iter()
        .map(|l| context! { slug => l.slug, name => l.name })
        .collect();
    let rows: Vec<Value> = rows
        .iter()
        .take(PER_PAGE as usize)
        .map(|row| context! { path => pages::person_path(&row.email), ..Value::from_serialize(row) })
        .collect();
    Ok(page(
        state,
        "console/subscribers.html",
        Some(session),
        context! {
            counts => super::console::status_counts(state).await?, rows => rows, q => filter.search.unwrap_or(""),
            // minijinja here has no urlencode filter: the search goes into the page links encoded.
            q_param => url::form_urlencoded::byte_serialize(filter.search.unwrap_or("").as_bytes()).collect::<String>(),
            status => filter.status_raw, page => filter.page, more => more, lists => lists, ..extra
        },
    ))
}
