//! Adding an article an operator wrote, from the CLI or the admin API.

use sqlx::PgPool;
use uuid::Uuid;

use super::OpsError;
use crate::domain::ArticleInput;
use crate::store::articles::{self, NewArticle};

/// Checks the input and stores the article (Markdown); returns its id.
pub async fn add(
    db: &PgPool,
    title: &str,
    body: &str,
    url: Option<&str>,
    summary: Option<&str>,
) -> Result<Uuid, OpsError> {
    let article = ArticleInput::parse(title, body, url, summary)?;
    let id = articles::insert(db, &NewArticle::written(&article))
        .await?
        .ok_or_else(|| OpsError::Internal(anyhow::anyhow!("the article was not stored")))?;
    Ok(id)
}
