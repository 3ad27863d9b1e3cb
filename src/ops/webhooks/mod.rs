//! Event webhooks out, shared by `broadsheet webhooks …`, the admin API and the console: adding
//! an endpoint (its URL checked against the feeds' address rules, its secret made and shown
//! once), listing and removing them; and one signed delivery (`post`), which the worker's webhook
//! chore runs.

pub mod post;

use sqlx::PgPool;
use uuid::Uuid;

use super::OpsError;
use super::feeds::FetchPolicy;
use crate::domain::{EventType, WebhookSecret, WebhookUrl};
use crate::store::webhooks::{self, Attempt, Endpoint};

/// A new endpoint: its id and its secret, which is shown this once.
#[derive(Debug)]
pub struct Added {
    pub id: Uuid,
    pub secret: WebhookSecret,
}

/// Adds an endpoint for `events`. The URL must be http(s); an IP-literal host must be public
/// unless `policy` allows internal addresses (names are checked at every delivery, after DNS).
pub async fn add<'a>(
    db: &PgPool,
    url: &str,
    events: impl IntoIterator<Item = &'a str>,
    policy: FetchPolicy,
) -> Result<Added, OpsError> {
    let url = WebhookUrl::parse(url).map_err(|why| OpsError::invalid("url", why))?;
    policy.check_url(url.url()).map_err(|why| OpsError::invalid("url", why))?;
    let events = EventType::parse_list(events).map_err(|why| OpsError::invalid("events", why))?;
    let events: Vec<String> = events.iter().map(|e| e.as_str().to_owned()).collect();
    let secret = WebhookSecret::generate().map_err(|e| OpsError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    let id = Uuid::now_v7();
    webhooks::insert(db, id, url.as_str(), &events, secret.expose()).await?;
    tracing::info!(endpoint = %id, events = %events.join(","), "webhook endpoint added");
    Ok(Added { id, secret })
}

pub async fn list(db: &PgPool) -> Result<Vec<Endpoint>, OpsError> {
    Ok(webhooks::list(db).await?)
}

/// Each endpoint's last attempts, newest first.
pub async fn attempts(db: &PgPool) -> Result<Vec<Attempt>, OpsError> {
    Ok(webhooks::recent_attempts(db).await?)
}

/// Removes an endpoint and the messages still queued for it.
pub async fn remove(db: &PgPool, id: &str) -> Result<(), OpsError> {
    let id = Uuid::parse_str(id.trim())
        .map_err(|_| OpsError::invalid("id", "an endpoint id is a UUID, as `webhooks list` shows it"))?;
    if webhooks::remove(db, id).await? {
        tracing::info!(endpoint = %id, "webhook endpoint removed");
        Ok(())
    } else {
        Err(OpsError::NotFound(format!("there is no webhook endpoint {id}")))
    }
}
