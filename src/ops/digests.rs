//! Operator actions on digests, shared by the CLI and the admin API: choose the articles, name
//! the subject, queue the send, render a preview.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{OpsError, lists};
use crate::domain::{Article, DigestContent, parse_subject};
use crate::mail::{Composer, DigestView, RenderedEmail};
use crate::store::articles;
use crate::store::digests::{self, Cancelled, Created};

/// The given articles, or by default every article not yet in a digest to `list`.
pub async fn choose_articles(db: &PgPool, list: i32, ids: Option<&[Uuid]>) -> Result<Vec<Article>, OpsError> {
    let chosen = match ids {
        Some([]) => {
            return Err(OpsError::invalid("article_ids", "Name at least one article, or leave article_ids out."));
        }
        Some(ids) => articles::by_ids(db, ids)
            .await?
            .map_err(|missing| OpsError::invalid("article_ids", format!("There is no article with id {missing}.")))?,
        None => articles::unsent(db, list).await?,
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

/// Queues a digest to a list (`default` when `list` is `None`), narrowed by a `segment`
/// expression when one is given (see docs/segments.md), now, or (with `send_at`)
/// schedules it: then it goes to those confirmed when a worker starts it. A `send_at` in the past
/// starts at the worker's next look.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &PgPool,
    newsletter: &str,
    list: Option<&str>,
    segment: Option<&str>,
    subject: Option<&str>,
    ids: Option<&[Uuid]>,
    idempotency_key: Option<&str>,
    send_at: Option<DateTime<Utc>>,
) -> Result<Created, OpsError> {
    if let Some(key) = idempotency_key {
        // A retried request returns the digest it made the first time, whatever else it says.
        if let Some(existing) = digests::by_idempotency_key(db, key).await? {
            return Ok(existing);
        }
    }
    // The segment first: a mistake in it is the likeliest, and says where it is.
    let segment = super::segments::parse(segment)?;
    if let Some(segment) = &segment {
        super::segments::resolve(db, segment).await?;
    }
    let list = lists::target(db, "list", list).await?;
    let chosen = choose_articles(db, list.id, ids).await?;
    let subject = match subject {
        Some(s) => parse_subject(s)?,
        None => default_subject(newsletter, &chosen),
    };
    let ids: Vec<Uuid> = chosen.iter().map(|a| a.id).collect();
    Ok(digests::create(db, list.id, segment.as_ref(), &subject, &ids, idempotency_key, send_at).await?)
}

/// How far ahead a digest may be scheduled. Further is a typo (a year 20266), not a plan, and a
/// time past 9999 could not even be written back in RFC 3339.
pub const MAX_SEND_AHEAD_YEARS: i64 = 5;

/// Parses an RFC 3339 time (`2026-12-07T09:00:00+01:00`), as `send_at` and `--at` take it: from
/// the year 2000 (a time in the past starts at once) to [`MAX_SEND_AHEAD_YEARS`] from `now`.
pub fn parse_send_at(field: &'static str, raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, OpsError> {
    let at = DateTime::parse_from_rfc3339(raw.trim()).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        OpsError::invalid(field, format!("{field} must be a time in RFC 3339 form, such as 2026-12-07T09:00:00+01:00."))
    })?;
    // 2000-01-01T00:00:00Z: before that is no date anyone means.
    const EARLIEST: i64 = 946_684_800;
    let latest = now + chrono::Duration::days(366 * MAX_SEND_AHEAD_YEARS);
    if at.timestamp() < EARLIEST || at > latest {
        return Err(OpsError::invalid(
            field,
            format!(
                "{field} must lie between the year 2000 and {MAX_SEND_AHEAD_YEARS} years from now (before {}).",
                latest.format("%Y-%m-%d")
            ),
        ));
    }
    Ok(at)
}

/// Cancels a scheduled digest; its articles go back to the next digest.
pub async fn cancel(db: &PgPool, id: Uuid) -> Result<(), OpsError> {
    match digests::cancel(db, id).await? {
        Cancelled::Cancelled | Cancelled::AlreadyCancelled => Ok(()),
        Cancelled::Started => {
            Err(OpsError::Conflict(format!("Digest {id} has already started; it cannot be cancelled.")))
        }
        Cancelled::NotFound => Err(OpsError::NotFound(format!("There is no digest {id}."))),
    }
}

/// What one tick of `digests.schedule` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Another worker (or an earlier pass) handled this tick.
    AlreadyHandled,
    /// No article was waiting: no digest.
    NothingNew,
    Sent(Created),
}

/// Handles one tick of a list's schedule exactly once however many workers call it: the tick's
/// row (primary key: the list and its time) and the digest of the waiting articles are written
/// in one transaction, so a worker that dies half-way leaves the tick to the next.
pub async fn run_tick(db: &PgPool, newsletter: &str, list: i32, tick: DateTime<Utc>) -> Result<Tick, OpsError> {
    let mut tx = db.begin().await?;
    if !digests::claim_tick(&mut tx, list, tick).await? {
        return Ok(Tick::AlreadyHandled);
    }
    let waiting = articles::unsent(&mut *tx, list).await?;
    if waiting.is_empty() {
        tx.commit().await?;
        return Ok(Tick::NothingNew);
    }
    let subject = default_subject(newsletter, &waiting);
    let ids: Vec<Uuid> = waiting.iter().map(|a| a.id).collect();
    let created = digests::create_in(&mut tx, list, None, &subject, &ids, None, None).await?;
    digests::tick_sent(&mut tx, list, tick, created.id).await?;
    tx.commit().await?;
    Ok(Tick::Sent(created))
}

/// The next digest as it will be mailed, to a recipient called "Reader".
pub async fn preview(
    db: &PgPool,
    composer: &Composer,
    list: Option<&str>,
    subject: Option<&str>,
    ids: Option<&[Uuid]>,
) -> Result<RenderedEmail, OpsError> {
    let list = lists::target(db, "list", list).await?;
    let chosen = choose_articles(db, list.id, ids).await?;
    let subject = match subject {
        Some(s) => parse_subject(s)?,
        None => default_subject(&composer.newsletter, &chosen),
    };
    let view = DigestView::render(DigestContent {
        id: None,
        subject,
        articles: chosen,
        list: Some(crate::domain::DigestList { slug: list.slug.clone(), name: list.name.clone() }),
    })
    .await?;
    composer.preview_digest(&view).map_err(|e| OpsError::Internal(e.into()))
}
