//! Event webhooks out: the admin API (`POST`/`GET /admin/webhooks`, `DELETE /admin/webhooks/{id}`)
//! and the console's page (`/admin/ui/webhooks`: endpoints with their last attempts, add, remove).
//! The secret of a new endpoint is in the answer that adds it, and nowhere after.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::auth::{Authorized, scope};
use super::console::{CsrfOnly, page};
use super::error::{AdminRefusals, Error, ErrorBody, PageError};
use super::input::{JsonBody, JsonRequest};
use super::session::{CsrfForm, Session};
use crate::domain::EventType;
use crate::ops::feeds::FetchPolicy;
use crate::ops::webhooks as ops;
use crate::store::webhooks::Endpoint;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_webhook, list_webhooks))
        .routes(routes!(remove_webhook))
        .layer(super::admin_body_limit())
        .routes(routes!(webhooks_page, add_form))
        .routes(routes!(remove_form))
        // A new endpoint's secret is in a response: no cache may keep it.
        .layer(super::no_store())
}

/// A new endpoint.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookRequest {
    /// Where events are POSTed: http(s), a public address unless `webhooks.allow_private`.
    pub url: String,
    /// One or more of `subscriber.created`, `subscriber.confirmed`, `subscriber.unsubscribed`,
    /// `subscriber.bounced`, `subscriber.complained`, `subscriber.erased`, `digest.started`,
    /// `digest.finished`.
    pub events: Vec<String>,
}

impl JsonRequest for WebhookRequest {
    type Body = Self;
    const FIELDS: &'static [&'static str] = &["url", "events"];

    fn expected(field: &'static str) -> String {
        match field {
            "events" => "The field \"events\" must be a list of event names, e.g. [\"subscriber.created\"].".to_owned(),
            _ => format!("The field \"{field}\" must be text."),
        }
    }

    fn from_body(body: Self, _: &axum::http::HeaderMap) -> Result<Self, Error> {
        Ok(body)
    }
}

/// The endpoint added: its id and its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated {
    pub id: Uuid,
    /// `whsec_…`: verifies `webhook-signature` (Standard Webhooks). Not shown again.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Endpoint>,
}

fn policy(state: &AppState) -> FetchPolicy {
    FetchPolicy::for_webhooks(state.settings.webhooks.allow_private)
}

/// Add an event webhook endpoint.
#[utoipa::path(post, path = "/admin/webhooks", tag = "admin", security(("admin_token" = ["webhooks:write"])),
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "Added; the secret is shown this once", body = WebhookCreated),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field to fix: a URL that is not http(s) or is an internal address, an unknown event", body = ErrorBody),
        AdminRefusals,
    ))]
async fn add_webhook(
    _: Authorized<scope::WebhooksWrite>,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookCreated>), Error> {
    let events = request.events.iter().map(String::as_str);
    let added = ops::add(&state.db, &request.url, events, policy(&state)).await?;
    Ok((StatusCode::CREATED, Json(WebhookCreated { id: added.id, secret: added.secret.expose().to_owned() })))
}

/// Event webhook endpoints (without their secrets).
#[utoipa::path(get, path = "/admin/webhooks", tag = "admin", security(("admin_token" = ["webhooks:write"])),
    responses((status = 200, description = "Endpoints", body = WebhookList), AdminRefusals))]
async fn list_webhooks(
    _: Authorized<scope::WebhooksWrite>,
    State(state): State<AppState>,
) -> Result<Json<WebhookList>, Error> {
    Ok(Json(WebhookList { webhooks: ops::list(&state.db).await? }))
}

/// Remove an endpoint and the messages still queued for it.
#[utoipa::path(delete, path = "/admin/webhooks/{id}", tag = "admin", security(("admin_token" = ["webhooks:write"])),
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        AdminRefusals,
    ))]
async fn remove_webhook(
    _: Authorized<scope::WebhooksWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    ops::remove(&state.db, &id).await.map_err(|e| match e {
        // Any id that names no endpoint is a 404, whether or not it is a UUID.
        crate::ops::OpsError::Invalid { .. } => Error::NotFound("There is no such webhook endpoint.".to_owned()),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The console's form to add an endpoint.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct WebhookForm {
    /// The session's CSRF token.
    pub csrf: String,
    pub url: String,
    /// Comma-separated event names.
    pub events: String,
}

/// Endpoints with their last attempts, and the form to add one.
#[utoipa::path(get, path = "/admin/ui/webhooks", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn webhooks_page(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    webhooks_view(&state, &session, context! {}).await
}

async fn webhooks_view(state: &AppState, session: &Session, extra: Value) -> Result<Response, PageError> {
    let endpoints = ops::list(&state.db).await?;
    let attempts = ops::attempts(&state.db).await?;
    let endpoints: Vec<Value> = endpoints
        .into_iter()
        .map(|e| {
            let mine: Vec<_> = attempts.iter().filter(|a| a.endpoint_id == e.id).cloned().collect();
            context! { endpoint => e, attempts => mine }
        })
        .collect();
    let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
    Ok(page(state, "console/webhooks.html", Some(session), context! { endpoints, known, ..extra }))
}

/// Add an endpoint; the page shows its secret this once.
#[utoipa::path(post, path = "/admin/ui/webhooks", tag = "console", request_body(content = WebhookForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page, with the new secret or what to fix", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn add_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<WebhookForm>,
) -> Result<Response, PageError> {
    match ops::add(&state.db, &form.url, [form.events.as_str()], policy(&state)).await {
        Ok(added) => {
            let created = context! { id => added.id, secret => added.secret.expose() };
            webhooks_view(&state, &session, context! { created }).await
        }
        Err(crate::ops::OpsError::Invalid { field, message }) => {
            let typed = context! { url => form.url, events => form.events };
            webhooks_view(&state, &session, context! { form => typed, error => message, field => field }).await
        }
        Err(e) => Err(Error::from(e).into()),
    }
}

/// Remove an endpoint.
#[utoipa::path(post, path = "/admin/ui/webhooks/{id}/remove", tag = "console", params(("id" = String, Path, description = "The endpoint id")), request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Removed (or already gone): back to the page, or not signed in: to /admin/login"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn remove_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match ops::remove(&state.db, &id).await {
        Ok(()) | Err(crate::ops::OpsError::NotFound(_) | crate::ops::OpsError::Invalid { .. }) => {}
        Err(e) => return Err(Error::from(e).into()),
    }
    Ok(Redirect::to("/admin/ui/webhooks").into_response())
}
