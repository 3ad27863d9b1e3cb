//! Segments: the admin API's count of a segment's recipients (`GET /admin/segments/count`), the
//! preview before a digest is sent to it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Authorized, scope};
use super::error::{AdminRefusals, Error, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(count_segment))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountQuery {
    /// The list's slug (default: `default`)
    list: Option<String>,
    /// A segment expression, e.g. `attributes.plan = "pro" and confirmed_at < -30d` (see
    /// docs/segments.md); none: the whole list
    segment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentCount {
    /// Members confirmed on the list, with a confirmed address, that the segment matches: who a
    /// digest sent now would reach.
    pub recipients: i64,
}

/// How many a digest to this list and segment would reach now.
#[utoipa::path(get, path = "/admin/segments/count", tag = "admin", security(("admin_token" = ["subscribers:read"])),
    params(CountQuery),
    responses(
        (status = 200, description = "The count", body = SegmentCount),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "An unknown list, or a segment to fix: `position` is the byte offset where it goes wrong", body = ErrorBody),
        AdminRefusals,
    ))]
async fn count_segment(
    _: Authorized<scope::SubscribersRead>,
    State(state): State<AppState>,
    query: Result<Query<CountQuery>, QueryRejection>,
) -> Result<Json<SegmentCount>, Error> {
    let Query(query) = query.map_err(|_| Error::BadRequest("The query string could not be read.".to_owned()))?;
    let list = query.list.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let recipients = crate::ops::segments::count(&state.db, list, query.segment.as_deref()).await?;
    Ok(Json(SegmentCount { recipients }))
}
