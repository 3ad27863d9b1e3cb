//! Digests: the admin API (`POST /admin/digests`, `GET /admin/digests/{id}`,
//! `GET /admin/digests/preview`) and the console's pages (`/admin/ui/digests`: the next digest's
//! preview, send with a confirmation step, progress, "retry failed").

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::auth::{Authorized, scope};
use super::console::page;
use super::error::{AdminRefusals, Error, ErrorBody, PageError};
use super::input::{JsonBody, JsonRequest};
use super::session::{CsrfForm, Session};
use crate::domain::{Token, parse_idempotency_key};
use crate::ops::OpsError;
use crate::store::digests::{self, Created, Progress};
use crate::store::lists::ListWithCounts;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_digest))
        .routes(routes!(preview_digest))
        .routes(routes!(digest_status, cancel_digest))
        .layer(super::admin_body_limit())
        .routes(routes!(digests_page, digest_form))
        .routes(routes!(digest_page))
        .routes(routes!(retry_failed))
}

/// A digest to queue; an empty body takes every default.
#[derive(Serialize, ToSchema)]
pub struct DigestRequest {
    /// The list it goes to (its confirmed members whose address is confirmed). Default: `default`.
    pub list: Option<String>,
    /// Narrows the list to the members this expression matches, e.g.
    /// `attributes.plan = "pro" and confirmed_at < -30d` (docs/segments.md; at most 4 KiB). A
    /// mistake is a 422 with `position`. Default: the whole list.
    pub segment: Option<String>,
    /// Default: "Newsletter: first title, and N more".
    pub subject: Option<String>,
    /// Default: every article not yet in a digest.
    pub article_ids: Option<Vec<Uuid>>,
    /// When to start it (RFC 3339, e.g. `2026-12-07T09:00:00+01:00`): until then it is
    /// `scheduled`, and it goes to those confirmed when it starts. From the year 2000 (a past
    /// time starts at once) to 5 years ahead. Default: now.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// From the `Idempotency-Key` header (documented as a parameter).
    #[schema(ignore)]
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// [`DigestRequest`] as the JSON says it; `send_at` is checked against the clock after.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DigestBody {
    list: Option<String>,
    segment: Option<String>,
    subject: Option<String>,
    article_ids: Option<Vec<Uuid>>,
    send_at: Option<String>,
}

impl JsonRequest for DigestRequest {
    type Body = DigestBody;
    const FIELDS: &'static [&'static str] = &["list", "segment", "subject", "article_ids", "send_at"];
    const EMPTY_IS_DEFAULT: bool = true;

    fn expected(field: &'static str) -> String {
        match field {
            "article_ids" => "article_ids must be a list of article ids (UUIDs).".to_owned(),
            _ => format!("The field \"{field}\" must be text."),
        }
    }

    fn from_body(body: DigestBody, headers: &HeaderMap) -> Result<Self, Error> {
        let idempotency_key = match headers.get("idempotency-key") {
            None => None,
            Some(v) => Some(parse_idempotency_key(v.to_str().unwrap_or("\u{0}"))?),
        };
        let send_at = match body.send_at {
            None => None,
            Some(raw) => Some(crate::ops::digests::parse_send_at("send_at", &raw, chrono::Utc::now())?),
        };
        Ok(Self {
            list: body.list,
            segment: body.segment,
            subject: body.subject,
            article_ids: body.article_ids,
            send_at,
            idempotency_key,
        })
    }
}

/// Queue a digest for every confirmed subscriber (or schedule it with `send_at`); the worker sends it.
#[utoipa::path(post, path = "/admin/digests", tag = "admin", security(("admin_token" = ["digests:write"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key returns the same digest")),
    request_body = DigestRequest,
    responses(
        (status = 202, description = "Queued, or scheduled", body = Created),
        (status = 400, description = "Not valid JSON, or a bad Idempotency-Key", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "No articles to send, an unknown article or list, a bad send_at, or a segment to fix (with `position`)", body = ErrorBody),
        AdminRefusals,
    ))]
async fn send_digest(
    _: Authorized<scope::DigestsWrite>,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<DigestRequest>,
) -> Result<(StatusCode, Json<Created>), Error> {
    let created = crate::ops::digests::send(
        &state.db,
        &state.newsletter,
        request.list.as_deref(),
        request.segment.as_deref(),
        request.subject.as_deref(),
        request.article_ids.as_deref(),
        request.idempotency_key.as_deref(),
        request.send_at,
    )
    .await?;
    if created.new {
        tracing::info!(digest = %created.id, recipients = created.recipients, status = %created.status, "digest queued");
        state.wake.notify_one();
    }
    Ok((StatusCode::ACCEPTED, Json(created)))
}

/// Cancel a scheduled digest; its articles go back to the next digest.
#[utoipa::path(delete, path = "/admin/digests/{id}", tag = "admin", security(("admin_token" = ["digests:write"])),
    params(("id" = String, Path, description = "The digest id")),
    responses(
        (status = 204, description = "Cancelled (or cancelled before)"),
        (status = 404, description = "No such digest", body = ErrorBody),
        (status = 409, description = "It has started: too late to cancel", body = ErrorBody),
        AdminRefusals,
    ))]
async fn cancel_digest(
    _: Authorized<scope::DigestsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound(format!("There is no digest {id:?}.")))?;
    crate::ops::digests::cancel(&state.db, id).await?;
    tracing::info!(digest = %id, "scheduled digest cancelled");
    Ok(StatusCode::NO_CONTENT)
}

/// A digest's progress.
#[utoipa::path(get, path = "/admin/digests/{id}", tag = "admin", security(("admin_token" = ["digests:read"])),
    params(("id" = String, Path, description = "The digest id")),
    responses(
        (status = 200, description = "Counts", body = Progress),
        (status = 404, description = "No such digest", body = ErrorBody),
        AdminRefusals,
    ))]
async fn digest_status(
    _: Authorized<scope::DigestsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Progress>, Error> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound(format!("There is no digest {id:?}.")))?;
    let progress =
        digests::progress(&state.db, id).await?.ok_or_else(|| Error::NotFound(format!("There is no digest {id}.")))?;
    Ok(Json(progress))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Comma-separated article ids (default: not yet sent)
    articles: Option<String>,
    /// Subject to show
    subject: Option<String>,
    /// html (default) or text
    format: Option<String>,
}

/// The next digest as it will be mailed.
#[utoipa::path(get, path = "/admin/digests/preview", tag = "admin", security(("admin_token" = ["digests:read"])),
    params(PreviewQuery),
    responses(
        (status = 200, description = "The rendered mail", content_type = "text/html", body = String),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 422, description = "No articles, or a bad article id", body = ErrorBody),
        AdminRefusals,
    ))]
async fn preview_digest(
    _: Authorized<scope::DigestsRead>,
    State(state): State<AppState>,
    query: Result<Query<PreviewQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|e| Error::BadRequest(format!("Bad query string: {e}")))?;
    let ids = match query.articles.as_deref() {
        None | Some("") => None,
        Some(list) => Some(
            list.split(',')
                .map(|s| Uuid::parse_str(s.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| Error::invalid("articles", "articles must be a comma-separated list of article ids."))?,
        ),
    };
    let rendered =
        crate::ops::digests::preview(&state.db, &state.composer, None, query.subject.as_deref(), ids.as_deref())
            .await?;
    Ok(match query.format.as_deref() {
        Some("text") => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], rendered.text).into_response(),
        // The preview is mail HTML: it needs its inline styles, and nothing in it runs.
        _ => (
            [(header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:")],
            Html(rendered.html),
        )
            .into_response(),
    })
}

/// The console's digest page: which list the next digest is for (default `default`).
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct DigestsPageQuery {
    /// The list whose next digest to preview (its slug)
    list: Option<String>,
    /// A segment of that list (see docs/segments.md); the page shows how many it reaches
    segment: Option<String>,
}

/// Who a digest to the chosen list (and segment, if one was typed) reaches, for the page: the
/// count, or the segment's error with where it is. Only the database failing is an error here.
async fn reach(state: &AppState, chosen: &ListWithCounts, segment: Option<&str>) -> Result<(i64, Value), Error> {
    match segment {
        None => Ok((chosen.reachable, Value::from(()))),
        Some(text) => match crate::ops::segments::count(&state.db, Some(&chosen.list.slug), Some(text)).await {
            Ok(n) => Ok((n, Value::from(()))),
            Err(OpsError::InvalidAt { message, position, .. }) => {
                Ok((0, Value::from(format!("{message} (at character {})", position + 1))))
            }
            Err(OpsError::Invalid { message, .. }) => Ok((0, Value::from(message))),
            Err(e) => Err(e.into()),
        },
    }
}

/// The lists to choose from, and the one chosen with who a digest to it reaches (`Invalid` on
/// `list` for a slug that names none).
async fn chosen_list(state: &AppState, slug: Option<&str>) -> Result<(Vec<Value>, ListWithCounts), Error> {
    let slug = slug.map(str::trim).filter(|s| !s.is_empty());
    let list = crate::ops::lists::target(&state.db, "list", slug).await?;
    let chosen = crate::ops::lists::show(&state.db, &list.slug).await?;
    let choices = crate::store::lists::all(&state.db)
        .await?
        .into_iter()
        .map(|l| context! { slug => l.slug, name => l.name, selected => l.id == list.id })
        .collect();
    Ok((choices, chosen))
}

/// The next digest's preview (for the list chosen, `?list=SLUG`) and the send form.
#[utoipa::path(get, path = "/admin/ui/digests", tag = "console", params(DigestsPageQuery), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A bad query string", content_type = "text/html", body = String), (status = 422, description = "No such list", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn digests_page(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<DigestsPageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| Error::BadRequest(format!("Bad query string: {e}")))?;
    let (choices, chosen) = chosen_list(&state, query.list.as_deref()).await?;
    let segment = query.segment.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (confirmed, segment_error) = reach(&state, &chosen, segment).await?;
    let preview = crate::ops::digests::preview(&state.db, &state.composer, Some(&chosen.list.slug), None, None)
        .await
        .map_err(Error::from);
    let (preview_html, nothing) = match preview {
        Ok(rendered) => (rendered.html, Value::from(())),
        Err(Error::Invalid { message, .. }) => (String::new(), Value::from(message)),
        Err(e) => return Err(e.into()),
    };
    let recent = digests::recent(&state.db, 20).await?;
    Ok(page(
        &state,
        "console/digests.html",
        Some(&session),
        context! { preview_html => preview_html, nothing => nothing, digests => recent, confirmed => confirmed, list => chosen.list, lists => choices, confirm_step => false, segment => segment.unwrap_or(""), segment_error => segment_error },
    ))
}

/// The console's send form: the first press shows "send to N recipients?", the second (with
/// `confirmed=yes` and the key the first made) queues the digest.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct DigestForm {
    /// The session's CSRF token.
    pub csrf: String,
    /// The list it goes to (its slug); default `default`.
    pub list: Option<String>,
    /// A segment of the list (see docs/segments.md); empty: the whole list.
    pub segment: Option<String>,
    pub subject: Option<String>,
    /// `yes` on the send confirmation step
    pub confirmed: Option<String>,
    /// The idempotency key of the confirmation step.
    pub key: Option<String>,
}

/// Send: first the confirmation step, then (confirmed=yes) the digest.
#[utoipa::path(post, path = "/admin/ui/digests", tag = "console", request_body(content = DigestForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 422, description = "Nothing to send, or no such list", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn digest_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<DigestForm>,
) -> Result<Response, PageError> {
    let subject = form.subject.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (choices, chosen) = chosen_list(&state, form.list.as_deref()).await?;
    let segment = form.segment.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (confirmed, segment_error) = reach(&state, &chosen, segment).await?;
    if !segment_error.is_none() {
        // A segment that does not parse never reaches the confirmation step: the page again,
        // with what to fix.
        let recent = digests::recent(&state.db, 20).await?;
        return Ok(page(
            &state,
            "console/digests.html",
            Some(&session),
            context! { preview_html => "", nothing => Value::from(()), digests => recent, confirmed => confirmed, list => chosen.list, lists => choices, confirm_step => false, segment => segment.unwrap_or(""), segment_error => segment_error },
        ));
    }
    if form.confirmed.as_deref() != Some("yes") {
        // A fresh key per confirmation step: pressing "send" twice sends once, while the next
        // digest gets a key of its own.
        let key = Token::generate().map_err(|e| Error::Internal(e.into()))?;
        return Ok(page(
            &state,
            "console/digests.html",
            Some(&session),
            context! { confirm_step => true, confirmed => confirmed, list => chosen.list, segment => segment.unwrap_or(""), subject => subject.unwrap_or(""), key => key.expose(), digests => Vec::<Value>::new(), preview_html => "", nothing => Value::from(()) },
        ));
    }
    // The form's own key makes a double-submitted confirmation harmless.
    let key = match form.key.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => Some(parse_idempotency_key(k).map_err(Error::from)?),
        None => None,
    };
    let created = crate::ops::digests::send(
        &state.db,
        &state.newsletter,
        Some(&chosen.list.slug),
        segment,
        subject,
        None,
        key.as_deref(),
        None,
    )
    .await?;
    if created.new {
        tracing::info!(digest = %created.id, list = %chosen.list.slug, recipients = created.recipients, "digest queued from the console");
        state.wake.notify_one();
    }
    Ok(Redirect::to(&format!("/admin/ui/digests/{}", created.id)).into_response())
}

/// A digest's progress and failures; refreshes itself while sending.
#[utoipa::path(get, path = "/admin/ui/digests/{id}", tag = "console", params(("id" = String, Path, description = "Digest id")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn digest_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = digest_id(&id)?;
    let progress = digests::progress(&state.db, id)
        .await?
        .ok_or_else(|| Error::NotFound("There is no such digest.".to_owned()))?;
    let failures = digests::failures(&state.db, id, 200).await?;
    let done = progress.sent + progress.failed + progress.skipped;
    let percent = if progress.recipients > 0 { done * 100 / progress.recipients } else { 100 };
    Ok(page(
        &state,
        "console/digest.html",
        Some(&session),
        context! { digest => progress, failures => failures, percent => percent },
    ))
}

fn digest_id(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound("There is no such digest.".to_owned()))
}

/// Queue a digest's failed deliveries again.
#[utoipa::path(post, path = "/admin/ui/digests/{id}/retry", tag = "console", params(("id" = String, Path, description = "Digest id")), request_body(content = super::console::CsrfOnly, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn retry_failed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<super::console::CsrfOnly>,
) -> Result<Response, PageError> {
    // The id is checked after the form, as the session and CSRF token come first.
    let id = digest_id(&id)?;
    let n = digests::retry_failed(&state.db, id).await?;
    tracing::info!(digest = %id, deliveries = n, "failed deliveries queued again");
    state.wake.notify_one();
    Ok(Redirect::to(&format!("/admin/ui/digests/{id}")).into_response())
}
