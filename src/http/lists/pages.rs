//! The console's list pages: every list with its counts and a create form
//! (`/admin/ui/lists`), one list's edit form and recent digests (`/admin/ui/lists/{slug}`), and
//! its removal with a confirmation step. Everything goes through `ops::lists`, as the CLI and the
//! API do.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::console::{CsrfOnly, page};
use crate::http::error::{Error, PageError};
use crate::http::session::{CsrfForm, Session};
use crate::ops::OpsError;
use crate::ops::lists::{self as ops, ListInput};

/// The console's list form: creating (with `slug`) or editing. A checkbox left unticked is
/// false, as browsers send nothing for it.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct ListForm {
    /// The session's CSRF token.
    pub csrf: String,
    /// Only when creating: `[a-z0-9][a-z0-9-]{0,39}`.
    pub slug: String,
    pub name: String,
    pub description: String,
    /// `on`: offered on the signup and preference pages.
    pub public: String,
    /// `on`: joining needs the confirmation mail's link.
    pub double_opt_in: String,
    /// Cron in `digests.timezone`; empty: no automatic digests.
    pub schedule: String,
}

impl ListForm {
    fn input(&self) -> ListInput {
        ListInput {
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            public: Some(!self.public.is_empty()),
            double_opt_in: Some(!self.double_opt_in.is_empty()),
            schedule: Some(self.schedule.clone()),
        }
    }

    fn typed(&self) -> Value {
        context! {
            slug => self.slug, name => self.name, description => self.description,
            public => !self.public.is_empty(), double_opt_in => !self.double_opt_in.is_empty(),
            schedule => self.schedule,
        }
    }
}

/// What the page after a form says happened (`?saved=1`, `?removed=1`); anything else is ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Done {
    saved: Option<String>,
    removed: Option<String>,
}

fn done(query: Result<Query<Done>, axum::extract::rejection::QueryRejection>) -> Done {
    query.map(|Query(q)| q).unwrap_or_default()
}

fn zone(state: &AppState) -> String {
    state.settings.timezone().name().to_owned()
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// What to fix in a form, as the page shows it next to the field (422), or a refusal (409).
fn form_refusal(e: OpsError) -> Result<(StatusCode, String, &'static str), PageError> {
    match e {
        OpsError::Invalid { field, message } => Ok((StatusCode::UNPROCESSABLE_ENTITY, message, field)),
        OpsError::Conflict(message) => Ok((StatusCode::CONFLICT, message, "")),
        other => Err(Error::from(other).into()),
    }
}

async fn lists_view(state: &AppState, session: &Session, extra: Value) -> Result<Response, PageError> {
    let lists = ops::overview(&state.db).await?;
    Ok(page(state, "console/lists.html", Some(session), context! { lists => lists, ..extra }))
}

/// Every list: members by status, who a digest reaches, articles waiting, schedule; a create form.
#[utoipa::path(get, path = "/admin/ui/lists", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn lists_page(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    lists_view(&state, &session, context! { removed => done(query).removed.is_some() }).await
}

/// Create a list; to its page, or the lists again with what to fix.
#[utoipa::path(post, path = "/admin/ui/lists", tag = "console", request_body(content = ListForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Created: to the list's page (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 409, description = "A list with this slug exists: the lists again, saying so", content_type = "text/html", body = String), (status = 422, description = "A field to fix: the lists again, with the form as typed", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn create_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<ListForm>,
) -> Result<Response, PageError> {
    match ops::add(&state.db, form.slug.trim(), &form.input(), &zone(&state)).await {
        Ok(list) => {
            tracing::info!(list = %list.slug, "list created from the console");
            Ok(Redirect::to(&format!("/admin/ui/lists/{}", list.slug)).into_response())
        }
        Err(e) => {
            let (status, message, field) = form_refusal(e)?;
            let extra = context! { create => form.typed(), create_error => message, create_field => field };
            Ok(with_status(lists_view(&state, &session, extra).await?, status))
        }
    }
}

async fn list_view(state: &AppState, session: &Session, slug: &str, extra: Value) -> Result<Response, PageError> {
    let (list, digests) = ops::detail(&state.db, slug).await.map_err(Error::from)?;
    Ok(page(state, "console/list.html", Some(session), context! { list => list, digests => digests, ..extra }))
}

/// One list: its counts, the edit form, its recent digests, the way to remove it.
#[utoipa::path(get, path = "/admin/ui/lists/{slug}", tag = "console", params(("slug" = String, Path, description = "The list's slug")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 404, description = "No such list", content_type = "text/html", body = String), (status = 422, description = "Not a slug", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn list_page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    list_view(&state, &session, &slug, context! { saved => done(query).saved.is_some() }).await
}

/// Change a list; its page again, saying so or with what to fix.
#[utoipa::path(post, path = "/admin/ui/lists/{slug}", tag = "console", params(("slug" = String, Path, description = "The list's slug")), request_body(content = ListForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Saved: to the list's page (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such list", content_type = "text/html", body = String), (status = 422, description = "A field to fix: the page again, with the form as typed", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn edit_form(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<ListForm>,
) -> Result<Response, PageError> {
    match ops::edit(&state.db, &slug, &form.input(), &zone(&state)).await {
        Ok(list) => {
            tracing::info!(list = %list.slug, "list changed from the console");
            Ok(Redirect::to(&format!("/admin/ui/lists/{}?saved=1", list.slug)).into_response())
        }
        Err(e) => {
            let (status, message, field) = form_refusal(e)?;
            let extra = context! { edit => form.typed(), edit_error => message, edit_field => field };
            Ok(with_status(list_view(&state, &session, &slug, extra).await?, status))
        }
    }
}

/// The confirmation step before a list's removal.
#[utoipa::path(get, path = "/admin/ui/lists/{slug}/remove", tag = "console", params(("slug" = String, Path, description = "The list's slug")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 404, description = "No such list", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn remove_page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    list_view(&state, &session, &slug, context! { confirm_remove => true }).await
}

/// Remove a list and its memberships; to the lists. Refused (409, on the list's page) for the
/// default list, while a digest to it is scheduled, and once digests were sent to it.
#[utoipa::path(post, path = "/admin/ui/lists/{slug}/remove", tag = "console", params(("slug" = String, Path, description = "The list's slug")), request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Removed: to the lists (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such list", content_type = "text/html", body = String), (status = 409, description = "The default list, a scheduled digest, or digests sent: the list's page, saying why", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
pub async fn remove_form(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match ops::remove(&state.db, &slug).await {
        Ok(()) => {
            tracing::info!(list = %slug, "list removed from the console");
            Ok(Redirect::to("/admin/ui/lists?removed=1").into_response())
        }
        Err(OpsError::Conflict(message)) => {
            let response = list_view(&state, &session, &slug, context! { remove_error => message }).await?;
            Ok(with_status(response, StatusCode::CONFLICT))
        }
        Err(e) => Err(Error::from(e).into()),
    }
}
