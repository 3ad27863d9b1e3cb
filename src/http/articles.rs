//! Articles: the admin API (`POST`/`GET /admin/articles`) and the console's pages
//! (`/admin/ui/articles`, `/admin/ui/articles/{id}`): add with a Markdown preview, edit until
//! the article has gone out in a digest.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::auth::{Authorized, scope};
use super::console::page;
use super::error::{AdminRefusals, Error, ErrorBody, PageError};
use super::input::{JsonBody, JsonRequest};
use super::session::{CsrfForm, Session};
use crate::domain::ArticleInput;
use crate::domain::BodyFormat;
use crate::store::articles::{self, Article, NewArticle};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_article, list_articles))
        .layer(super::admin_body_limit())
        .routes(routes!(articles_page, article_form))
        .routes(routes!(edit_article_page, edit_article_form))
}

/// A new article.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ArticleRequest {
    /// One line, up to 300 characters.
    pub title: String,
    /// Markdown; raw HTML is shown as text.
    pub body: String,
    /// http(s) URL the title links to.
    pub url: Option<String>,
    pub summary: Option<String>,
}

impl JsonRequest for ArticleRequest {
    type Body = Self;
    const FIELDS: &'static [&'static str] = &["title", "body", "url", "summary"];

    fn from_body(body: Self, _: &axum::http::HeaderMap) -> Result<Self, Error> {
        Ok(body)
    }
}

#[derive(Serialize, ToSchema)]
pub struct ArticleCreated {
    pub id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleList {
    pub articles: Vec<Article>,
}

/// Add an article (Markdown body).
#[utoipa::path(post, path = "/admin/articles", tag = "admin", security(("admin_token" = ["articles:write"])),
    request_body = ArticleRequest,
    responses(
        (status = 201, description = "Added", body = ArticleCreated),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field to fix", body = ErrorBody),
        AdminRefusals,
    ))]
async fn add_article(
    _: Authorized<scope::ArticlesWrite>,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ArticleRequest>,
) -> Result<(StatusCode, Json<ArticleCreated>), Error> {
    let article =
        ArticleInput::parse(&request.title, &request.body, request.url.as_deref(), request.summary.as_deref())?;
    let id = articles::insert(&state.db, &NewArticle::written(&article))
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("article insert returned no id")))?;
    tracing::info!(article = %id, "article added");
    Ok((StatusCode::CREATED, Json(ArticleCreated { id })))
}

/// Articles, newest first.
#[utoipa::path(get, path = "/admin/articles", tag = "admin", security(("admin_token" = ["articles:write"])),
    responses((status = 200, description = "Articles", body = ArticleList),
        AdminRefusals,
    ))]
async fn list_articles(
    _: Authorized<scope::ArticlesWrite>,
    State(state): State<AppState>,
) -> Result<Json<ArticleList>, Error> {
    Ok(Json(ArticleList { articles: articles::list(&state.db, 500).await? }))
}

/// The console's article form: "Preview" renders the Markdown below the form; "Save" stores it.
#[derive(Clone, Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct ArticleForm {
    /// The session's CSRF token.
    pub csrf: String,
    pub title: String,
    /// Markdown (or, for an article imported from a feed, sanitised HTML).
    pub body: String,
    pub url: String,
    pub summary: String,
    /// `preview` or `save`
    pub action: Option<String>,
}

impl ArticleForm {
    /// What the person typed, to show the form again.
    fn typed(&self) -> Value {
        context! { title => self.title, body => self.body, url => self.url, summary => self.summary }
    }

    fn saving(&self) -> bool {
        self.action.as_deref() == Some("save")
    }
}

/// Articles and the form to add one.
#[utoipa::path(get, path = "/admin/ui/articles", tag = "console", responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn articles_page(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    articles_view(&state, &session, context! {}).await
}

async fn articles_view(state: &AppState, session: &Session, extra: Value) -> Result<Response, PageError> {
    let list = articles::list(&state.db, 200).await?;
    Ok(page(state, "console/articles.html", Some(session), context! { articles => list, ..extra }))
}

/// Preview or save a new article.
#[utoipa::path(post, path = "/admin/ui/articles", tag = "console", request_body(content = ArticleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn article_form(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<ArticleForm>,
) -> Result<Response, PageError> {
    let typed = form.typed();
    match ArticleInput::parse(&form.title, &form.body, Some(&form.url), Some(&form.summary)) {
        Err(e) => {
            articles_view(&state, &session, context! { form => typed, error => e.message, field => e.field }).await
        }
        Ok(article) if form.saving() => {
            articles::insert(&state.db, &NewArticle::written(&article)).await?;
            Ok(Redirect::to("/admin/ui/articles").into_response())
        }
        Ok(article) => {
            let preview = Value::from_safe_string(render_off_thread(false, article.body).await?);
            articles_view(&state, &session, context! { form => typed, preview => preview }).await
        }
    }
}

/// An article body as preview HTML, on a blocking thread (Markdown and the HTML sanitiser are CPU
/// work on up to 512 KiB).
async fn render_off_thread(html: bool, body: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        if html { crate::content::html_to_html(&body) } else { crate::content::markdown_to_html(&body) }
    })
    .await
    .map_err(|e| Error::Internal(e.into()))
}

/// The `{id}` of a console article page; one that cannot be an id is a page not found.
struct ArticleId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ArticleId {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || PageError(Error::NotFound("There is no such article.".to_owned()));
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        Uuid::parse_str(&raw).map(Self).map_err(|_| not_found())
    }
}

async fn existing(state: &AppState, id: Uuid) -> Result<Article, Error> {
    articles::get(&state.db, id).await?.ok_or_else(|| Error::NotFound("There is no such article.".to_owned()))
}

/// Edit an article not yet mailed.
#[utoipa::path(get, path = "/admin/ui/articles/{id}", tag = "console", params(("id" = String, Path, description = "Article id")), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn edit_article_page(
    State(state): State<AppState>,
    session: Session,
    ArticleId(id): ArticleId,
) -> Result<Response, PageError> {
    let article = existing(&state, id).await?;
    let typed = context! { title => article.title, body => article.body, url => article.url.unwrap_or_default(), summary => article.summary.unwrap_or_default() };
    Ok(page(
        &state,
        "console/article.html",
        Some(&session),
        context! { id => id, form => typed, sent => article.digest_id.is_some(), html => article.body_format.is_html() },
    ))
}

/// Preview or save changes to an article.
#[utoipa::path(post, path = "/admin/ui/articles/{id}", tag = "console", params(("id" = String, Path, description = "Article id")), request_body(content = ArticleForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The page", content_type = "text/html", body = String), (status = 303, description = "Not signed in: to /admin/login (or, after a form, to the next page)"), (status = 400, description = "A form without the session's CSRF token, or unreadable", content_type = "text/html", body = String), (status = 404, description = "No such item", content_type = "text/html", body = String), (status = 503, description = "The database is unreachable", content_type = "text/html", body = String)))]
async fn edit_article_form(
    State(state): State<AppState>,
    session: Session,
    ArticleId(id): ArticleId,
    CsrfForm(form): CsrfForm<ArticleForm>,
) -> Result<Response, PageError> {
    let existing = existing(&state, id).await?;
    let typed = form.typed();
    let sent = existing.digest_id.is_some();
    let html = existing.body_format.is_html();
    let view = |extra: Value| {
        page(
            &state,
            "console/article.html",
            Some(&session),
            context! { id => id, form => typed.clone(), sent => sent, html => html, ..extra },
        )
    };
    let parsed = match ArticleInput::parse(&form.title, &form.body, Some(&form.url), Some(&form.summary)) {
        Ok(article) => article,
        Err(e) => return Ok(view(context! { error => e.message, field => e.field })),
    };
    if !form.saving() {
        let preview = render_off_thread(html, parsed.body.clone()).await?;
        return Ok(view(context! { preview => Value::from_safe_string(preview) }));
    }
    // HTML is stored sanitised, so that rendering can use it as it is.
    let (body, format) = if html {
        let raw = parsed.body.clone();
        let clean = tokio::task::spawn_blocking(move || crate::content::sanitize_html(&raw))
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        (clean, BodyFormat::SanitisedHtml)
    } else {
        (parsed.body.clone(), BodyFormat::Markdown)
    };
    let update = NewArticle {
        title: &parsed.title,
        body: &body,
        url: parsed.url.as_deref(),
        summary: parsed.summary.as_deref(),
        source_id: None,
        body_format: format,
    };
    if !articles::update(&state.db, id, &update).await? {
        return Ok(view(context! { error => "This article has gone out in a digest and can no longer be changed." }));
    }
    Ok(Redirect::to("/admin/ui/articles").into_response())
}
