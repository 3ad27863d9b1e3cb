//! Articles: what digests are made of.

use sqlx::PgPool;
use uuid::Uuid;

pub use crate::domain::Article;
use crate::domain::BodyFormat;

pub struct NewArticle<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub url: Option<&'a str>,
    pub summary: Option<&'a str>,
    pub source_id: Option<&'a str>,
    pub body_format: BodyFormat,
}

impl<'a> NewArticle<'a> {
    /// An article an operator wrote (Markdown), from input already checked.
    pub fn written(input: &'a crate::domain::ArticleInput) -> Self {
        Self {
            title: &input.title,
            body: &input.body,
            url: input.url.as_deref(),
            summary: input.summary.as_deref(),
            source_id: None,
            body_format: BodyFormat::Markdown,
        }
    }
}

/// Returns the new id, or `None` when an article with the same `source_id` exists already.
pub async fn insert(db: &PgPool, article: &NewArticle<'_>) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "INSERT INTO articles (id, title, body, url, summary, source_id, body_format) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (source_id) DO NOTHING
         RETURNING id",
        Uuid::new_v4(),
        article.title,
        article.body,
        article.url,
        article.summary,
        article.source_id,
        article.body_format.as_str(),
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Article>> {
    sqlx::query_as!(
        Article,
        r#"SELECT a.id, a.title, a.body, a.body_format AS "body_format: BodyFormat", a.url, a.summary, a.created_at,
                  (SELECT da.digest_id FROM digest_articles da WHERE da.article_id = a.id LIMIT 1) AS digest_id
           FROM articles a ORDER BY a.created_at DESC, a.id LIMIT $1"#,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Articles not yet in a digest to `list`, oldest first: the default content of the list's next
/// digest (each list gets every article once, whatever the other lists were sent).
pub async fn unsent<'e>(db: impl sqlx::PgExecutor<'e>, list: i32) -> sqlx::Result<Vec<Article>> {
    sqlx::query_as!(
        Article,
        r#"SELECT a.id, a.title, a.body, a.body_format AS "body_format: BodyFormat", a.url, a.summary, a.created_at, NULL::uuid AS digest_id
           FROM articles a
           WHERE NOT EXISTS (SELECT 1 FROM digest_articles da JOIN digests d ON d.id = da.digest_id
                             WHERE da.article_id = a.id AND d.list_id = $1)
           ORDER BY a.created_at, a.id"#,
        list,
    )
    .fetch_all(db)
    .await
}

/// The given articles in the given order; `Err` names the first id that does not exist.
pub async fn by_ids(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<Result<Vec<Article>, Uuid>> {
    let found = sqlx::query_as!(
        Article,
        r#"SELECT a.id, a.title, a.body, a.body_format AS "body_format: BodyFormat", a.url, a.summary, a.created_at, NULL::uuid AS digest_id
           FROM articles a WHERE a.id = ANY($1)"#,
        ids,
    )
    .fetch_all(db)
    .await?;
    let mut ordered: Vec<Article> = Vec::with_capacity(ids.len());
    for id in ids {
        // Naming an article twice puts it in the digest once.
        if ordered.iter().any(|a| a.id == *id) {
            continue;
        }
        match found.iter().find(|a| a.id == *id) {
            Some(a) => ordered.push(a.clone()),
            None => return Ok(Err(*id)),
        }
    }
    Ok(Ok(ordered))
}

pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Article>> {
    sqlx::query_as!(
        Article,
        r#"SELECT a.id, a.title, a.body, a.body_format AS "body_format: BodyFormat", a.url, a.summary, a.created_at,
                  (SELECT da.digest_id FROM digest_articles da WHERE da.article_id = a.id LIMIT 1) AS digest_id
           FROM articles a WHERE a.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// Changes an article that no digest has carried yet; returns false otherwise (what was mailed
/// stays as it was mailed).
pub async fn update(db: &PgPool, id: Uuid, article: &NewArticle<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE articles SET title = $2, body = $3, url = $4, summary = $5, body_format = $6
         WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM digest_articles WHERE article_id = $1)",
        id,
        article.title,
        article.body,
        article.url,
        article.summary,
        article.body_format.as_str(),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
