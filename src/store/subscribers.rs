//! Subscribers and their consent trail.

use std::net::IpAddr;

use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{SubscriberEmail, SubscriberName, SubscriberStatus};

/// Where a consent event came from: what the law and a careful operator want on record.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "consent_action", rename_all = "lowercase")]
pub enum ConsentAction {
    Signup,
    Confirm,
    Unsubscribe,
}

/// What a signup did, for the log line; the response never depends on it.
#[derive(Debug)]
pub struct Signup {
    pub subscriber_id: Uuid,
    pub status: SubscriberStatus,
    pub queued: bool,
}

/// A whole signup in one statement, so it costs one round trip and is atomic without an explicit
/// transaction: create the subscriber or find the existing one (case-insensitively), record the
/// consent event, and queue a confirmation mail when the subscriber is pending, unless one is
/// already waiting or the address had `cap` in the last day.
///
/// Someone who unsubscribed (or bounced, or complained) starts over as pending and must confirm again; a
/// confirmed subscriber is left as they are.
///
/// The cap holds however many signups for one address arrive at once: the times of the day's
/// mails live on the subscriber row (`confirmation_mails_at`), and the upsert reads and extends
/// them under the row lock, on the newest version of the row, where a count of deliveries would
/// read the statement's snapshot and miss the mails that simultaneous signups just queued. The
/// row remembers which request queued the latest mail, so the statement knows whether it did.
/// "Unless one is already waiting" still reads the snapshot: a burst may queue a second or third
/// mail, never more than the cap.
pub async fn signup(
    conn: &mut PgConnection,
    email: &SubscriberEmail,
    name: Option<&SubscriberName>,
    origin: &Origin,
    cap: u32,
) -> sqlx::Result<Signup> {
    let user_agent = origin.user_agent.as_deref().map(|ua| truncate(ua, 512));
    let row = sqlx::query!(
        r#"
        WITH subscriber AS (
            INSERT INTO subscribers (id, email, name, confirmation_mails_at, confirmation_queued_by)
            VALUES ($1, $2, $3,
                    CASE WHEN $6::bigint > 0 THEN ARRAY[now()] ELSE '{}' END,
                    CASE WHEN $6 > 0 THEN $1::uuid END)
            ON CONFLICT (lower(email)) DO UPDATE SET
                name = CASE WHEN subscribers.status = 'confirmed' THEN subscribers.name
                            ELSE coalesce(EXCLUDED.name, subscribers.name) END,
                status = CASE WHEN subscribers.status IN ('unsubscribed', 'bounced', 'complained')
                              THEN 'pending'::subscriber_status ELSE subscribers.status END,
                updated_at = now(),
                -- The same condition twice (SET cannot name another new value): the subscriber
                -- is or becomes pending, had fewer than the cap in the last day, and no mail is
                -- waiting (through the subscriber's own index, not the queue's).
                confirmation_mails_at = CASE
                    WHEN subscribers.status IN ('pending', 'unsubscribed', 'bounced', 'complained')
                     AND (SELECT count(*) FROM unnest(subscribers.confirmation_mails_at) t
                          WHERE t > now() - interval '1 day') < $6
                     AND NOT EXISTS (SELECT 1 FROM deliveries d
                                     WHERE d.subscriber_id = subscribers.id AND d.kind = 'confirmation'
                                       AND d.status = 'pending')
                    THEN ARRAY(SELECT t FROM unnest(subscribers.confirmation_mails_at) t
                               WHERE t > now() - interval '1 day') || now()
                    ELSE subscribers.confirmation_mails_at END,
                confirmation_queued_by = CASE
                    WHEN subscribers.status IN ('pending', 'unsubscribed', 'bounced', 'complained')
                     AND (SELECT count(*) FROM unnest(subscribers.confirmation_mails_at) t
                          WHERE t > now() - interval '1 day') < $6
                     AND NOT EXISTS (SELECT 1 FROM deliveries d
                                     WHERE d.subscriber_id = subscribers.id AND d.kind = 'confirmation'
                                       AND d.status = 'pending')
                    THEN EXCLUDED.id END
            RETURNING id, status, coalesce(confirmation_queued_by = $1, false) AS queued
        ),
        consent AS (
            INSERT INTO consent_events (subscriber_id, action, ip, user_agent)
            SELECT id, 'signup', $4, $5 FROM subscriber
        ),
        queued AS (
            INSERT INTO deliveries (kind, subscriber_id)
            SELECT 'confirmation', s.id FROM subscriber s WHERE s.queued
            RETURNING id
        )
        SELECT s.id AS "id!", s.status AS "status!: SubscriberStatus", EXISTS (SELECT 1 FROM queued) AS "queued!"
        FROM subscriber s
        "#,
        Uuid::new_v4(),
        email.as_str(),
        name.map(SubscriberName::as_str),
        origin.ip.map(IpNetwork::from),
        user_agent,
        i64::from(cap),
    )
    .fetch_one(conn)
    .await?;
    Ok(Signup { subscriber_id: row.id, status: row.status, queued: row.queued })
}

pub async fn record_consent(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    action: ConsentAction,
    origin: &Origin,
) -> sqlx::Result<()> {
    let user_agent = origin.user_agent.as_deref().map(|ua| truncate(ua, 512));
    sqlx::query!(
        "INSERT INTO consent_events (subscriber_id, action, ip, user_agent) VALUES ($1, $2, $3, $4)",
        subscriber_id,
        action as ConsentAction,
        origin.ip.map(IpNetwork::from),
        user_agent,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// pending → confirmed. Returns false when the subscriber was not pending (already confirmed,
/// or unsubscribed since the mail went out).
pub async fn confirm(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE subscribers SET status = 'confirmed', confirmed_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'pending'",
        subscriber_id,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Unsubscribes whoever an unsubscribe token belongs to, with the consent record, and retires
/// their confirmation links ("this wasn't me"). `None` for an unknown or expired token;
/// `Some(false)` when they had already left.
pub async fn unsubscribe_with_token(
    conn: &mut PgConnection,
    token: &crate::domain::TokenHash,
    origin: &Origin,
) -> sqlx::Result<Option<(Uuid, bool)>> {
    let Some(id) = super::tokens::unsubscribe_subject(&mut *conn, token).await? else {
        return Ok(None);
    };
    let changed = unsubscribe(&mut *conn, id).await?;
    if changed {
        record_consent(&mut *conn, id, ConsentAction::Unsubscribe, origin).await?;
        super::tokens::retire_confirm_tokens(&mut *conn, id).await?;
    }
    Ok(Some((id, changed)))
}

/// Idempotent: returns false when there was nothing to change.
pub async fn unsubscribe(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = now(), updated_at = now()
         WHERE id = $1 AND status IN ('pending', 'confirmed')",
        subscriber_id,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn status(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<Option<SubscriberStatus>> {
    sqlx::query_scalar!(r#"SELECT status AS "status: SubscriberStatus" FROM subscribers WHERE id = $1"#, subscriber_id)
        .fetch_optional(conn)
        .await
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriberRow {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of subscribers, newest first, optionally of one status.
pub async fn page(
    db: &PgPool,
    status: Option<SubscriberStatus>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<SubscriberRow>> {
    // A search is a substring of the address; LIKE's wildcards in it are taken literally.
    let pattern = search.map(|q| format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    sqlx::query_as!(
        SubscriberRow,
        r#"SELECT id, email, name, status AS "status: SubscriberStatus", created_at, confirmed_at
           FROM subscribers
           WHERE ($1::subscriber_status IS NULL OR status = $1)
             AND ($4::text IS NULL OR email ILIKE $4)
           ORDER BY created_at DESC, id
           LIMIT $2 OFFSET $3"#,
        status as Option<SubscriberStatus>,
        limit,
        offset,
        pattern,
    )
    .fetch_all(db)
    .await
}

/// How many subscribers there are in each status (every status present, zero or not).
pub async fn counts(db: &PgPool) -> sqlx::Result<Vec<(SubscriberStatus, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT s.status AS "status!: SubscriberStatus", count(x.id) AS "count!"
           FROM unnest(enum_range(NULL::subscriber_status)) AS s(status)
           LEFT JOIN subscribers x ON x.status = s.status
           GROUP BY s.status ORDER BY s.status"#,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
}
