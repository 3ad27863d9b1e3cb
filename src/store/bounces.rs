//! Bounces and complaints: each one recorded against its subscriber, and the subscriber's status
//! changed where it says the address must not be mailed again.

use sqlx::PgPool;
use uuid::Uuid;

/// Who a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub subscriber_id: Uuid,
    /// The message the report names (by its VERP tag or its Message-ID).
    pub delivery_id: Option<i64>,
}

/// The subscriber a delivery went to.
pub async fn target_of_delivery(db: &PgPool, delivery_id: i64) -> sqlx::Result<Option<Target>> {
    let subscriber = sqlx::query_scalar!("SELECT subscriber_id FROM deliveries WHERE id = $1", delivery_id)
        .fetch_optional(db)
        .await?;
    Ok(subscriber.map(|subscriber_id| Target { subscriber_id, delivery_id: Some(delivery_id) }))
}

/// The subscriber a delivery went to, if the delivery was sent with this `Message-ID`: a report
/// that quotes it is about that message (the id is random, so only its reader can quote it).
pub async fn target_of_message(db: &PgPool, delivery_id: i64, message_id: &str) -> sqlx::Result<Option<Target>> {
    let subscriber = sqlx::query_scalar!(
        "SELECT subscriber_id FROM deliveries WHERE id = $1 AND message_id = $2",
        delivery_id,
        message_id
    )
    .fetch_optional(db)
    .await?;
    Ok(subscriber.map(|subscriber_id| Target { subscriber_id, delivery_id: Some(delivery_id) }))
}

/// The subscriber with this address, for a report that names only its recipient: taken only
/// from an authenticated provider webhook, never from a mail anyone can send.
pub async fn target_of_address(db: &PgPool, email: &str) -> sqlx::Result<Option<Target>> {
    let subscriber = sqlx::query_scalar!("SELECT id FROM subscribers WHERE lower(email) = lower($1)", email)
        .fetch_optional(db)
        .await?;
    Ok(subscriber.map(|subscriber_id| Target { subscriber_id, delivery_id: None }))
}

/// A permanent failure: recorded, and a pending or confirmed subscriber becomes `bounced`.
/// Returns whether the status changed.
pub async fn hard(db: &PgPool, target: Target, status: &str, diagnostic: Option<&str>) -> sqlx::Result<bool> {
    let changed = sqlx::query_scalar!(
        r#"WITH recorded AS (
               INSERT INTO bounces (subscriber_id, delivery_id, kind, status, diagnostic, source)
               VALUES ($1, $2, 'hard', $3, $4, 'report')
           ),
           changed AS (
               UPDATE subscribers SET status = 'bounced', updated_at = now()
               WHERE id = $1 AND status IN ('pending', 'confirmed')
               RETURNING id, email, name, status
           ),
           events AS (
               INSERT INTO webhook_messages (endpoint_id, type, data)
               SELECT e.id, 'subscriber.bounced', jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name,
                                                                     'status', c.status, 'kind', 'hard', 'source', 'report')
               FROM changed c JOIN webhook_endpoints e ON e.enabled AND 'subscriber.bounced' = ANY(e.events)
           )
           SELECT count(*) AS "n!" FROM changed"#,
        target.subscriber_id,
        target.delivery_id,
        status,
        diagnostic,
    )
    .fetch_one(db)
    .await?;
    Ok(changed > 0)
}

/// A transient failure: recorded; `limit` of them within `window_days` make the subscriber
/// `bounced`. Returns whether the status changed.
pub async fn soft(
    db: &PgPool,
    target: Target,
    status: &str,
    diagnostic: Option<&str>,
    limit: i64,
    window_days: f64,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    // Serialises reports about one subscriber, so two arriving together count each other.
    sqlx::query!("SELECT id FROM subscribers WHERE id = $1 FOR UPDATE", target.subscriber_id)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO bounces (subscriber_id, delivery_id, kind, status, diagnostic, source)
         VALUES ($1, $2, 'soft', $3, $4, 'report')",
        target.subscriber_id,
        target.delivery_id,
        status,
        diagnostic,
    )
    .execute(&mut *tx)
    .await?;
    let changed = sqlx::query_scalar!(
        r#"WITH changed AS (
               UPDATE subscribers SET status = 'bounced', updated_at = now()
               WHERE id = $1 AND status IN ('pending', 'confirmed')
                 AND (SELECT count(*) FROM bounces
                      WHERE subscriber_id = $1 AND kind = 'soft'
                        AND at > now() - make_interval(secs => $3::float8 * 86400)) >= $2
               RETURNING id, email, name, status
           ),
           events AS (
               INSERT INTO webhook_messages (endpoint_id, type, data)
               SELECT e.id, 'subscriber.bounced', jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name,
                                                                     'status', c.status, 'kind', 'soft', 'source', 'report')
               FROM changed c JOIN webhook_endpoints e ON e.enabled AND 'subscriber.bounced' = ANY(e.events)
           )
           SELECT count(*) AS "n!" FROM changed"#,
        target.subscriber_id,
        limit,
        window_days,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(changed > 0)
}

/// A complaint ("this is spam"): recorded, and the subscriber becomes `complained` whatever they
/// were, so no mail goes to them again. Returns whether the status changed.
pub async fn complaint(db: &PgPool, target: Target, feedback_type: &str) -> sqlx::Result<bool> {
    let changed = sqlx::query_scalar!(
        r#"WITH recorded AS (
               INSERT INTO bounces (subscriber_id, delivery_id, kind, status, source)
               VALUES ($1, $2, 'complaint', $3, 'report')
           ),
           changed AS (
               UPDATE subscribers SET status = 'complained', updated_at = now()
               WHERE id = $1 AND status <> 'complained'
               RETURNING id, email, name, status
           ),
           events AS (
               INSERT INTO webhook_messages (endpoint_id, type, data)
               SELECT e.id, 'subscriber.complained', jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name,
                                                                        'status', c.status, 'feedback_type', $3::text)
               FROM changed c JOIN webhook_endpoints e ON e.enabled AND 'subscriber.complained' = ANY(e.events)
           )
           SELECT count(*) AS "n!" FROM changed"#,
        target.subscriber_id,
        target.delivery_id,
        feedback_type,
    )
    .fetch_one(db)
    .await?;
    Ok(changed > 0)
}

/// One recorded decision, for the subscriber's page and the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BounceRecord {
    pub kind: String,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
    pub source: String,
    pub delivery_id: Option<i64>,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub async fn of_subscriber(db: &PgPool, subscriber_id: Uuid) -> sqlx::Result<Vec<BounceRecord>> {
    sqlx::query_as!(
        BounceRecord,
        r#"SELECT kind::text AS "kind!", status, diagnostic, source, delivery_id, at
           FROM bounces WHERE subscriber_id = $1 ORDER BY at DESC, id DESC"#,
        subscriber_id,
    )
    .fetch_all(db)
    .await
}
