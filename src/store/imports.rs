//! A subscriber import in Postgres: the checked rows are streamed with `COPY` into a staging table
//! that lives only as long as the transaction, then one set-based statement adds the new ones.
//! The caller holds the transaction, so an import is applied whole or not at all.

use sqlx::PgConnection;
use sqlx::postgres::PgCopyIn;

use super::subscribers::Interface;

/// Creates the staging table (dropped at commit or rollback) and opens the `COPY` into it. The
/// rows are CSV: line, email, name, created_at (RFC 3339), status; empty fields are NULL.
pub async fn stage(conn: &mut PgConnection) -> sqlx::Result<PgCopyIn<&mut PgConnection>> {
    // Shadows the permanent, always empty `import_rows` (which exists so that the statements
    // below are checked at compile time): temporary tables come first in the search path.
    sqlx::query!("CREATE TEMP TABLE import_rows (LIKE public.import_rows) ON COMMIT DROP").execute(&mut *conn).await?;
    conn.copy_in_raw("COPY import_rows (line, email, name, created_at, status) FROM STDIN (FORMAT csv)").await
}

/// What an import did. `skipped` counts rows not added and not already subscribed as they
/// are: addresses that unsubscribed, bounced or complained, erased addresses on the suppression
/// list, and repeats of an address earlier in the same file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub imported: i64,
    pub existing: i64,
    pub skipped: i64,
}

/// Adds the staged addresses that are neither subscribers (in any status, any case) nor
/// suppressed, in one statement: the subscriber, a consent record of kind `import`, and, for
/// each new pending subscriber, a confirmation mail in the queue (counted against the
/// address's daily cap like a signup's).
///
/// A row's status is `confirmed` when `confirmed` is set and the file says nothing else;
/// `pending` without it; a row the file marks `pending`, `unsubscribed`, `bounced` or
/// `complained` keeps that word, so an exported list comes back as it was and never causes mail
/// to someone who left.
pub async fn apply(
    conn: &mut PgConnection,
    confirmed: bool,
    note: Option<&str>,
    interface: Interface,
) -> sqlx::Result<Applied> {
    // The planner knows nothing of a table filled a moment ago.
    sqlx::query!("ANALYZE import_rows").execute(&mut *conn).await?;
    let row = sqlx::query!(
        r#"
        WITH candidates AS (
            SELECT DISTINCT ON (lower(email)) line, email, name, created_at, status
            FROM import_rows ORDER BY lower(email), line
        ),
        fresh AS (
            SELECT gen_random_uuid() AS id, c.email, c.name, c.created_at,
                   CASE WHEN c.status IS NULL OR c.status = 'confirmed'
                        THEN CASE WHEN $1 THEN 'confirmed' ELSE 'pending' END::subscriber_status
                        ELSE c.status END AS status
            FROM candidates c
            WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE lower(s.email) = lower(c.email))
              AND NOT EXISTS (SELECT 1 FROM suppressions x
                              WHERE x.hash = sha256(convert_to(lower(c.email), 'UTF8')))
        ),
        inserted AS (
            INSERT INTO subscribers (id, email, name, status, created_at, confirmed_at, unsubscribed_at,
                                     confirmation_mails_at, confirmation_queued_by)
            SELECT id, email, name, status, coalesce(created_at, now()),
                   CASE WHEN status = 'confirmed' THEN now() END,
                   CASE WHEN status = 'unsubscribed' THEN now() END,
                   CASE WHEN status = 'pending' THEN ARRAY[now()] ELSE '{}' END,
                   CASE WHEN status = 'pending' THEN id END
            FROM fresh
            ON CONFLICT (lower(email)) DO NOTHING
            RETURNING id, status
        ),
        consent AS (
            INSERT INTO consent_events (subscriber_id, action, note, interface)
            SELECT id, 'import', $2::text, $3::consent_interface FROM inserted
        ),
        queued AS (
            INSERT INTO deliveries (kind, subscriber_id)
            SELECT 'confirmation', id FROM inserted WHERE status = 'pending'
        )
        SELECT (SELECT count(*) FROM inserted) AS "imported!",
               (SELECT count(*) FROM candidates c JOIN subscribers s ON lower(s.email) = lower(c.email)
                WHERE s.status IN ('pending', 'confirmed')) AS "existing!",
               (SELECT count(*) FROM import_rows) AS "staged!"
        "#,
        confirmed,
        note,
        interface as Interface,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Applied { imported: row.imported, existing: row.existing, skipped: row.staged - row.imported - row.existing })
}
