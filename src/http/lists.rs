//! Lists: the admin API (`GET`/`POST /admin/lists`, `GET`/`PATCH`/`DELETE /admin/lists/{slug}`)
//! and the console's list pages (`pages`, under `/admin/ui/lists`).

mod pages;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Authorized, scope};
use super::error::{AdminRefusals, Error, ErrorBody};
use super::input::{JsonBody, JsonRequest};
use crate::ops::lists::{self as ops, ListInput};
use crate::store::lists::{List, ListWithCounts};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(all_lists, add_list))
        .routes(routes!(one_list, edit_list, remove_list))
        .layer(super::admin_body_limit())
        .routes(routes!(pages::lists_page, pages::create_form))
        .routes(routes!(pages::list_page, pages::edit_form))
        .routes(routes!(pages::remove_page, pages::remove_form))
}

/// A new list (`slug` and `name` required), or the fields of a list to change.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct ListRequest {
    /// `[a-z0-9][a-z0-9-]{0,39}`; used in links, forms and List-Id. Only when creating.
    #[schema(example = "weekly")]
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Offered on the signup and preference pages (default true).
    pub public: Option<bool>,
    /// Joining needs the confirmation mail's link (default true).
    pub double_opt_in: Option<bool>,
    /// Cron, in `digests.timezone` (e.g. `0 9 * * MON`); `""` stops automatic digests.
    pub schedule: Option<String>,
}

impl JsonRequest for ListRequest {
    type Body = Self;
    const FIELDS: &'static [&'static str] = &["slug", "name", "description", "public", "double_opt_in", "schedule"];

    fn expected(field: &'static str) -> String {
        match field {
            "public" | "double_opt_in" => format!("The field \"{field}\" must be true or false."),
            _ => format!("The field \"{field}\" must be text."),
        }
    }

    fn from_body(body: Self, _: &HeaderMap) -> Result<Self, Error> {
        Ok(body)
    }
}

impl ListRequest {
    fn input(self) -> ListInput {
        ListInput {
            name: self.name,
            description: self.description,
            public: self.public,
            double_opt_in: self.double_opt_in,
            schedule: self.schedule,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ListsBody {
    pub lists: Vec<ListWithCounts>,
}

/// Every list, with its member counts.
#[utoipa::path(get, path = "/admin/lists", tag = "admin", security(("admin_token" = ["lists:read"])),
    responses((status = 200, description = "The lists", body = ListsBody), AdminRefusals))]
async fn all_lists(_: Authorized<scope::ListsRead>, State(state): State<AppState>) -> Result<Json<ListsBody>, Error> {
    Ok(Json(ListsBody { lists: ops::all_with_counts(&state.db).await? }))
}

/// Create a list.
#[utoipa::path(post, path = "/admin/lists", tag = "admin", security(("admin_token" = ["lists:write"])),
    request_body = ListRequest,
    responses(
        (status = 201, description = "Created", body = List),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 409, description = "A list with this slug exists", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field to fix (slug, name, description, schedule)", body = ErrorBody),
        AdminRefusals,
    ))]
async fn add_list(
    _: Authorized<scope::ListsWrite>,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ListRequest>,
) -> Result<(StatusCode, Json<List>), Error> {
    let slug = request.slug.clone().unwrap_or_default();
    let zone = state.settings.timezone().name().to_owned();
    let list = ops::add(&state.db, &slug, &request.input(), &zone).await?;
    tracing::info!(list = %list.slug, "list created");
    Ok((StatusCode::CREATED, Json(list)))
}

/// One list, with its member counts.
#[utoipa::path(get, path = "/admin/lists/{slug}", tag = "admin", security(("admin_token" = ["lists:read"])),
    params(("slug" = String, Path, description = "The list's slug")),
    responses(
        (status = 200, description = "The list", body = ListWithCounts),
        (status = 404, description = "No such list (or not a slug)", body = ErrorBody),
        AdminRefusals,
    ))]
async fn one_list(
    _: Authorized<scope::ListsRead>,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<ListWithCounts>, Error> {
    Ok(Json(ops::show(&state.db, &slug).await?))
}

/// Change a list; fields left out stay as they are (the slug cannot change).
#[utoipa::path(patch, path = "/admin/lists/{slug}", tag = "admin", security(("admin_token" = ["lists:write"])),
    params(("slug" = String, Path, description = "The list's slug")),
    request_body = ListRequest,
    responses(
        (status = 200, description = "Changed", body = List),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field to fix", body = ErrorBody),
        AdminRefusals,
    ))]
async fn edit_list(
    _: Authorized<scope::ListsWrite>,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    JsonBody(request): JsonBody<ListRequest>,
) -> Result<Json<List>, Error> {
    if request.slug.as_deref().is_some_and(|s| s != slug) {
        return Err(Error::invalid("slug", "A list's slug cannot change; create a new list instead."));
    }
    let zone = state.settings.timezone().name().to_owned();
    let list = ops::edit(&state.db, &slug, &request.input(), &zone).await?;
    tracing::info!(list = %list.slug, "list changed");
    Ok(Json(list))
}

/// Remove a list and its memberships: refused (409) for the default list, while a digest to it
/// is scheduled, and once digests were sent to it (make it private instead).
#[utoipa::path(delete, path = "/admin/lists/{slug}", tag = "admin", security(("admin_token" = ["lists:write"])),
    params(("slug" = String, Path, description = "The list's slug")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The default list, a scheduled digest, or digests sent", body = ErrorBody),
        AdminRefusals,
    ))]
async fn remove_list(
    _: Authorized<scope::ListsWrite>,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<StatusCode, Error> {
    ops::remove(&state.db, &slug).await?;
    tracing::info!(list = %slug, "list removed");
    Ok(StatusCode::NO_CONTENT)
}
