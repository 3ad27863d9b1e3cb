//! API keys: the admin API (`POST`/`GET /admin/keys`, `DELETE /admin/keys/{name}`) and the
//! console's page (`/admin/ui/keys`): create (the key is shown once), list, revoke. Every route
//! here needs `keys:write`, reads included: a key that can list keys learns what else exists.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Authorized, scope};
use super::console::{CsrfOnly, page};
use super::error::{AdminRefusals, Error, ErrorBody, PageError};
use super::input::{JsonBody, JsonRequest};
use super::session::{CsrfForm, Session};
use crate::domain::{Scope, Scopes};
use crate::ops::OpsError;
use crate::ops::keys::{self as ops, CreatedKey};
use crate::store::api_keys::KeyRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(keys_page, create_form))
        .routes(routes!(revoke_form))
        // A new key is in the answer: no cache may keep it.
        .layer(super::no_store())
}

/// The request, its scopes parsed.
pub struct NewKey {
    name: String,
    scopes: Scopes,
}

/// A new API key, as sent: scopes as plain names, so that an unknown one is refused naming it.
#[derive(Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// 1 to 40 of a-z, 0-9, `_` and `-`, starting with a letter or digit; unique among live keys.
    name: String,
    /// At least one scope.
    #[schema(value_type = Vec<Scope>)]
    scopes: Vec<String>,
}

impl JsonRequest for NewKey {
    type Body = CreateKeyRequest;
    const FIELDS: &'static [&'static str] = &["name", "scopes"];

    fn expected(field: &'static str) -> String {
        match field {
            "scopes" => "The field \"scopes\" must be a list of scope names, e.g. [\"subscribers:read\"].".to_owned(),
            _ => format!("The field \"{field}\" must be text."),
        }
    }

    fn from_body(body: CreateKeyRequest, _: &HeaderMap) -> Result<Self, Error> {
        let scopes = Scopes::parse(body.scopes.iter().map(String::as_str))
            .map_err(|e| Error::invalid("scopes", e.to_string()))?;
        Ok(Self { name: body.name, scopes })
    }
}

/// A key just created: `key` is shown this once and stored only as its SHA-256.
#[derive(Serialize, ToSchema)]
pub struct KeyCreated {
    pub name: String,
    /// `bsk_…`: send it as `Authorization: Bearer <key>`.
    pub key: String,
    #[schema(value_type = Vec<Scope>)]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<CreatedKey> for KeyCreated {
    fn from(created: CreatedKey) -> Self {
        Self {
            key: created.key.expose().to_owned(),
            name: created.row.name,
            scopes: created.row.scopes,
            created_at: created.row.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    /// Live keys by name, then revoked ones.
    pub keys: Vec<KeyRow>,
}

/// Create an API key holding the given scopes. The key is in this answer and nowhere else.
/// A key may grant only scopes it holds itself (else 403 naming the first it lacks).
#[utoipa::path(post, path = "/admin/keys", tag = "admin", security(("admin_token" = ["keys:write"])),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created; the key is shown this once", body = KeyCreated),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 409, description = "A live key already has this name", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A bad name, or an unknown or missing scope", body = ErrorBody),
        AdminRefusals,
    ))]
async fn create_key(
    auth: Authorized<scope::KeysWrite>,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<KeyCreated>), Error> {
    auth.may_grant(&request.scopes)?;
    let created = ops::create(&state.db, &request.name, &request.scopes).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Every API key: name, scopes, when created, last used (to the minute) and revoked.
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("admin_token" = ["keys:write"])),
    responses((status = 200, description = "The keys, never their secrets", body = KeyList), AdminRefusals))]
async fn list_keys(_: Authorized<scope::KeysWrite>, State(state): State<AppState>) -> Result<Json<KeyList>, Error> {
    Ok(Json(KeyList { keys: ops::list(&state.db).await? }))
}

/// Revoke the live key of this name: from now on it gets 401. It stays listed, as revoked, and
/// its name may be given to a new key.
#[utoipa::path(delete, path = "/admin/keys/{name}", tag = "admin", security(("admin_token" = ["keys:write"])),
    params(("name" = String, Path, description = "The key's name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No live key has this name", body = ErrorBody),
        (status = 422, description = "Not a key name", body = ErrorBody),
        AdminRefusals,
    ))]
async fn revoke_key(
    _: Authorized<scope::KeysWrite>,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, Error> {
    ops::revoke(&state.db, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The console's form to create a key: a name and a checkbox per scope, each named after its
/// scope (`subscribers:read=on`).
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct KeyForm {
    /// The session's CSRF token.
    pub csrf: String,
    pub name: String,
    /// The ticked scopes' checkboxes, each `on`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub ticked: HashMap<String, String>,
}

impl KeyForm {
    fn scopes(&self) -> Vec<&'static str> {
        Scope::ALL.iter().map(|s| s.as_str()).filter(|name| self.ticked.contains_key(*name)).collect()
    }
}

/// API keys: the list, and the form to create one.
#[utoipa::path(get, path = "/admin/ui/keys", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn keys_page(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    keys_view(&state, &session, context! {}).await
}

async fn keys_view(state: &AppState, session: &Session, extra: Value) -> Result<Response, PageError> {
    let keys = ops::list(&state.db).await.map_err(Error::from)?;
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    Ok(page(state, "console/keys.html", Some(session), context! { keys => keys, scopes => scopes, ..extra }))
}

/// Create a key: the page again, showing the new key once (or what to fix).
#[utoipa::path(post, path = "/admin/ui/keys", tag = "console", request_body(content = KeyForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page, with the new key or what to fix", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn create_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<KeyForm>,
) -> Result<Response, PageError> {
    let ticked = form.scopes();
    let typed = context! { name => form.name.trim(), scopes => ticked.clone() };
    let refused = |message: String| context! { form => typed.clone(), error => message };
    let scopes = match Scopes::parse(ticked.iter().copied()) {
        Ok(scopes) => scopes,
        Err(e) => return keys_view(&state, &session, refused(e.to_string())).await,
    };
    match ops::create(&state.db, &form.name, &scopes).await {
        Ok(created) => {
            let created = KeyCreated::from(created);
            keys_view(&state, &session, context! { created => created }).await
        }
        Err(OpsError::Invalid { message, .. } | OpsError::Conflict(message)) => {
            keys_view(&state, &session, refused(message)).await
        }
        Err(e) => Err(Error::from(e).into()),
    }
}

/// Revoke a key, then back to the list.
#[utoipa::path(post, path = "/admin/ui/keys/{name}/revoke", tag = "console", params(("name" = String, Path, description = "The key's name")), request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Revoked: to the list (or not signed in: to /admin/login)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No live key has this name", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn revoke_form(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    ops::revoke(&state.db, &name).await.map_err(|e| match e {
        // A name that cannot be a key's is a key that does not exist, for a page.
        OpsError::Invalid { .. } => Error::NotFound("There is no such key.".to_owned()),
        other => other.into(),
    })?;
    Ok(Redirect::to("/admin/ui/keys").into_response())
}
