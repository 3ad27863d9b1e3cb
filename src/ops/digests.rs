//! Operator actions on digests, shared by the CLI and the admin API: choose the articles, name
//! the subject, queue the send, render a preview.

use sqlx::PgPool;
use uuid::Uuid;

use super::OpsError;
use crate::domain::{Article, DigestContent, parse_subject};
use crate::mail::{Composer, DigestView, RenderedEmail};
use crate::store::articles;
use crate::store::digests::{self, Created};

/// The given articles, or by default every article not yet in a digest.
pub async fn choose_articles(db: &PgPool, ids: Option<&[Uuid]>) -> Result<Vec<Article>, OpsError> {
    let chosen = match ids {
        Some([]) => {
            return Err(OpsError::invalid("article_ids", "Name at least one article, or leave article_ids out."));
        }
        Some(ids) => articles::by_ids(db, ids)
            .await?
            .map_err(|missing| OpsError::invalid("article_ids", format!("There is no article with id {missing}.")))?,
        None => articles::unsent(db).await?,
    };
    if chosen.is_empty() {
        return Err(OpsError::invalid("article_ids", "There are no new articles to send. Add an article first."));
    }
    Ok(chosen)
}

/// "Newsletter: First title" or "Newsletter: First title, and 2 more".
pub fn default_subject(newsletter: &str, articles: &[Article]) -> String {
    let first = articles.first().map_or("", |a| a.title.as_str());
    let subject = match articles.len() {
        0 | 1 => format!("{newsletter}: {first}"),
        n => format!("{newsletter}: {first}, and {} more", n - 1),
    };
    // Titles are cleaned on the way in; this also covers rows stored before that.
    crate::domain::single_line(&subject).chars().take(200).collect()
}

pub async fn send(
    db: &PgPool,
    newsletter: &str,
    subject: Option<&str>,
    ids: Option<&[Uuid]>,
    idempotency_key: Option<&str>,
) -> Result<Created, OpsError> {
    if let Some(key) = idempotency_key {
        // A retried request returns the digest it made the first time, whatever else it says.
        if let Some(existing) = digests::by_idempotency_key(db, key).await? {
            return Ok(existing);
        }
    }
    let chosen = choose_articles(db, ids).await?;
    let subject = match subject {
        Some(s) => parse_subject(s)?,
        None => default_subject(newsletter, &chosen),
    };
    let ids: Vec<Uuid> = chosen.iter().map(|a| a.id).collect();
    Ok(digests::create(db, &subject, &ids, idempotency_key).await?)
}

/// The next digest as it will be mailed, to a recipient called "Reader".
pub async fn preview(
    db: &PgPool,
    composer: &Composer,
    subject: Option<&str>,
    ids: Option<&[Uuid]>,
) -> Result<RenderedEmail, OpsError> {
    let chosen = choose_articles(db, ids).await?;
    let subject = match subject {
        Some(s) => parse_subject(s)?,
        None => default_subject(&composer.newsletter, &chosen),
    };
    let view = DigestView::render(DigestContent { id: None, subject, articles: chosen }).await?;
    composer.preview_digest(&view).map_err(|e| OpsError::Internal(e.into()))
}
