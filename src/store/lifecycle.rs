//! Lifecycle mails: the welcome after confirming and the one reminder to confirm, queued as
//! deliveries like every other mail.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Queues the welcome mail in the caller's (the confirming) transaction.
pub async fn queue_welcome(tx: &mut PgConnection, subscriber: Uuid) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO deliveries (kind, subscriber_id) VALUES ('welcome', $1)", subscriber)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Queues the reminder for every pending subscriber whose latest confirmation mail went out at
/// least `after_secs` before `now`, whose link in it still works (sent less than `ttl_secs`,
/// `subscriptions.token_ttl_hours`, before `now`; links are signed and have no row to look at),
/// who has no confirmation mail waiting and has had no reminder, and whose address
/// has room in the daily cap on confirmation mails (`cap`, the same count signups keep on the
/// row, which the reminder joins). `reminded_at` is set in the same statement, so there is
/// never a second; rows another worker is updating are skipped (`SKIP LOCKED`) and looked at
/// again on the next pass. Returns how many were queued.
pub async fn queue_reminders(
    db: &PgPool,
    now: DateTime<Utc>,
    after_secs: f64,
    ttl_secs: f64,
    cap: i64,
) -> sqlx::Result<u64> {
    let queued = sqlx::query!(
        r#"
        WITH params AS (SELECT $1::timestamptz AS now, make_interval(secs => $2::float8) AS after,
                               make_interval(secs => $4::float8) AS ttl),
        due AS (
            SELECT s.id FROM subscribers s, params p
            WHERE s.status = 'pending' AND s.reminded_at IS NULL
              AND s.created_at <= p.now - p.after
              AND EXISTS (SELECT 1 FROM deliveries d
                          WHERE d.subscriber_id = s.id AND d.kind = 'confirmation'
                            AND d.status = 'sent' AND d.sent_at > p.now - p.ttl)
              AND NOT EXISTS (SELECT 1 FROM deliveries d
                              WHERE d.subscriber_id = s.id AND d.kind = 'confirmation'
                                AND (d.status = 'pending' OR d.sent_at > p.now - p.after))
              AND (SELECT count(*) FROM unnest(s.confirmation_mails_at) m WHERE m > p.now - interval '1 day') < $3::bigint
            ORDER BY s.created_at
            LIMIT 1000
            FOR UPDATE OF s SKIP LOCKED
        ), marked AS (
            UPDATE subscribers s
            SET reminded_at = $1::timestamptz,
                confirmation_mails_at =
                    ARRAY(SELECT m FROM unnest(s.confirmation_mails_at) m WHERE m > $1::timestamptz - interval '1 day') || $1::timestamptz
            FROM due WHERE s.id = due.id
            RETURNING s.id
        )
        INSERT INTO deliveries (kind, subscriber_id) SELECT 'reminder', id FROM marked
        "#,
        now,
        after_secs,
        cap,
        ttl_secs,
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(queued)
}
