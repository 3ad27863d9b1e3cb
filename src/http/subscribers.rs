//! Subscribers: the admin API (`GET /admin/subscribers`) and the console's page
//! (`/admin/ui/subscribers`: counts by status, search by address, pages of 50).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::AdminAuth;
use super::console::page;
use super::error::{Error, ErrorBody, PageError};
use super::session::Session;
use crate::domain::SubscriberStatus;
use crate::store::subscribers::{self, SubscriberRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscribers))
        .layer(super::admin_body_limit())
        .routes(routes!(subscribers_page))
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
#[utoipa::path(get, path = "/admin/subscribers", tag = "admin", security(("admin_token" = [])),
    params(SubscriberQuery),
    responses(
        (status = 200, description = "A page of subscribers", body = SubscriberPage),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "An unknown status", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many wrong admin tokens from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
async fn list_subscribers(
    _: AdminAuth,
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

/// Subscribers by status, for the console's pages.
pub async fn status_counts(state: &AppState) -> Result<Value, Error> {
    let counts: Vec<Value> = subscribers::counts(&state.db)
        .await?
        .into_iter()
        .map(|(status, n)| context! { status => SubscriberStatus::as_str(status), count => n })
        .collect();
    Ok(Value::from(counts))
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
    const PER_PAGE: i64 = 50;
    let rows = subscribers::page(&state.db, status, search, PER_PAGE + 1, (page_no - 1) * PER_PAGE).await?;
    let more = rows.len() as i64 > PER_PAGE;
    let rows: Vec<_> = rows.into_iter().take(PER_PAGE as usize).collect();
    Ok(page(
        "console/subscribers.html",
        Some(&session),
        context! {
            counts => status_counts(&state).await?, rows => rows, q => search.unwrap_or(""),
            status => query.status.unwrap_or_default(), page => page_no, more => more,
        },
    ))
}
