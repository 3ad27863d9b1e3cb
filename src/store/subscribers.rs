//! Subscribers and their consent trail.
//!
//! The signup statement itself lives in `store::signups`.

use std::net::IpAddr;

use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Attributes, SubscriberEmail, SubscriberName, SubscriberStatus};

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
    /// Came in with an imported list.
    Import,
    /// An operator added the address by hand.
    Added,
    /// Joined a list from the preference page (with the list).
    Join,
    /// Left one list, not everything (with the list).
    Leave,
}

/// Where an operator's action came from, kept with the consent record it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, utoipa::ToSchema)]
#[sqlx(type_name = "consent_interface", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    Cli,
    Api,
    Console,
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

/// A `join` or `leave` of one list, named in the record.
pub async fn record_list_consent(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    action: ConsentAction,
    lists: &[(i32, String)],
    origin: &Origin,
) -> sqlx::Result<()> {
    if lists.is_empty() {
        return Ok(());
    }
    let user_agent = origin.user_agent.as_deref().map(|ua| truncate(ua, 512));
    let (ids, slugs): (Vec<i32>, Vec<String>) = lists.iter().cloned().unzip();
    sqlx::query!(
        "INSERT INTO consent_events (subscriber_id, action, ip, user_agent, list_id, list_slug)
         SELECT $1, $2, $3, $4, l.id, l.slug FROM unnest($5::int4[], $6::text[]) AS l (id, slug)",
        subscriber_id,
        action as ConsentAction,
        origin.ip.map(IpNetwork::from),
        user_agent,
        &ids,
        &slugs,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes a subscriber's name (`None` clears it); false when there is no such subscriber.
pub async fn set_name(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    name: Option<&SubscriberName>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE subscribers SET name = $2, updated_at = now() WHERE id = $1 AND name IS DISTINCT FROM $2",
        subscriber_id,
        name.map(SubscriberName::as_str),
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = $1) AS "exists!""#, subscriber_id)
        .fetch_one(conn)
        .await
}

/// pending → confirmed. Returns false when the subscriber was not pending (already confirmed,
/// or unsubscribed since the mail went out).
pub async fn confirm(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query_scalar!(
        r#"WITH changed AS (
               UPDATE subscribers SET status = 'confirmed', confirmed_at = now(), updated_at = now()
               WHERE id = $1 AND status = 'pending'
               RETURNING id, email, name, status
           ),
           events AS (
               INSERT INTO webhook_messages (endpoint_id, type, data)
               SELECT e.id, 'subscriber.confirmed',
                      jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name, 'status', c.status)
               FROM changed c JOIN webhook_endpoints e ON e.enabled AND 'subscriber.confirmed' = ANY(e.events)
           )
           SELECT count(*) AS "n!" FROM changed"#,
        subscriber_id,
    )
    .fetch_one(conn)
    .await?;
    Ok(done == 1)
}

/// Idempotent. `None` when there is no such subscriber (a signed link outlives an erasure); else whether
/// this changed their status.
pub(super) async fn unsubscribe_if_exists(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<Option<bool>> {
    let row = sqlx::query!(
        r#"WITH changed AS (
               UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = now(), updated_at = now()
               WHERE id = $1 AND status IN ('pending', 'confirmed')
               RETURNING id, email, name, status),
           events AS (
               INSERT INTO webhook_messages (endpoint_id, type, data)
               SELECT e.id, 'subscriber.unsubscribed',
                      jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name, 'status', c.status)
               FROM changed c JOIN webhook_endpoints e ON e.enabled AND 'subscriber.unsubscribed' = ANY(e.events))
           SELECT EXISTS (SELECT 1 FROM changed) AS "changed!",
                  EXISTS (SELECT 1 FROM subscribers WHERE id = $1) AS "exists!""#,
        subscriber_id,
    )
    .fetch_one(conn)
    .await?;
    Ok(row.exists.then_some(row.changed))
}

pub async fn status(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<Option<SubscriberStatus>> {
    sqlx::query_scalar!(r#"SELECT status AS "status: SubscriberStatus" FROM subscribers WHERE id = $1"#, subscriber_id)
        .fetch_optional(conn)
        .await
}

pub(super) fn truncate(s: &str, max: usize) -> &str {
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

/// What adding one address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New {
        id: Uuid,
        status: SubscriberStatus,
    },
    /// A subscriber with this address (any case) exists; nothing changed.
    Exists,
    /// The address was erased after it unsubscribed, bounced or complained.
    Suppressed,
}

/// One address by an operator, by the import's rules: never over an existing subscriber or a
/// suppressed address; a pending one gets a confirmation mail in the same statement. The new
/// subscriber joins `lists` with their status (pending or confirmed).
#[allow(clippy::too_many_arguments)]
pub async fn add_one(
    conn: &mut PgConnection,
    email: &SubscriberEmail,
    name: Option<&SubscriberName>,
    status: SubscriberStatus,
    note: Option<&str>,
    interface: Interface,
    lists: &[i32],
    attributes: Option<&Attributes>,
) -> sqlx::Result<Added> {
    let row = sqlx::query!(
        r#"
        WITH suppressed AS (
            SELECT 1 FROM suppressions WHERE hash = sha256(convert_to(lower($2::text), 'UTF8'))
        ),
        inserted AS (
            INSERT INTO subscribers (id, email, name, status, confirmed_at, confirmation_mails_at, confirmation_queued_by,
                                     attributes)
            SELECT $1::uuid, $2::text, $3::text, $4::subscriber_status,
                   CASE WHEN $4 = 'confirmed'::subscriber_status THEN now() END,
                   CASE WHEN $4 = 'pending'::subscriber_status THEN ARRAY[now()] ELSE '{}' END,
                   CASE WHEN $4 = 'pending'::subscriber_status THEN $1::uuid END,
                   coalesce($8::text::jsonb, '{}')
            WHERE NOT EXISTS (SELECT 1 FROM suppressed)
            ON CONFLICT (lower(email)) DO NOTHING
            RETURNING id, email, name, status
        ),
        consent AS (
            INSERT INTO consent_events (subscriber_id, action, note, interface)
            SELECT id, 'added', $5::text, $6::consent_interface FROM inserted
        ),
        events AS (
            INSERT INTO webhook_messages (endpoint_id, type, data)
            SELECT e.id, 'subscriber.created',
                   jsonb_build_object('id', i.id, 'email', i.email, 'name', i.name, 'status', i.status)
            FROM inserted i JOIN webhook_endpoints e ON e.enabled AND 'subscriber.created' = ANY(e.events)
        ),
        queued AS (
            INSERT INTO deliveries (kind, subscriber_id)
            SELECT 'confirmation', id FROM inserted WHERE status = 'pending'
        ),
        joined AS (
            INSERT INTO memberships (list_id, subscriber_id, status)
            SELECT l, i.id, CASE WHEN i.status = 'confirmed' THEN 'confirmed' ELSE 'pending' END::membership_status
            FROM inserted i, unnest($7::int4[]) AS l
        )
        SELECT (SELECT id FROM inserted) AS "id?", EXISTS (SELECT 1 FROM suppressed) AS "suppressed!"
        "#,
        Uuid::now_v7(),
        email.as_str(),
        name.map(SubscriberName::as_str),
        status as SubscriberStatus,
        note,
        interface as Interface,
        lists,
        attributes.map(Attributes::to_json),
    )
    .fetch_one(conn)
    .await?;
    Ok(match (row.id, row.suppressed) {
        (Some(id), _) => Added::New { id, status },
        (None, true) => Added::Suppressed,
        (None, false) => Added::Exists,
    })
}

/// A subscriber as the person's data shows them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriberDetail {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub unsubscribed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The language of their pages and mail (`en`, `de`, `fr`, `es`); `null`: the configured
    /// default (`subscriptions.default_locale`), for those added by the operator or imported.
    #[schema(example = "de")]
    pub locale: Option<String>,
}

pub async fn by_email(conn: &mut PgConnection, email: &str) -> sqlx::Result<Option<SubscriberDetail>> {
    sqlx::query_as!(
        SubscriberDetail,
        r#"SELECT id, email, name, status AS "status: SubscriberStatus", created_at, updated_at, confirmed_at,
                  unsubscribed_at, locale
           FROM subscribers WHERE lower(email) = lower($1)"#,
        email,
    )
    .fetch_optional(conn)
    .await
}

pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<SubscriberDetail>> {
    sqlx::query_as!(
        SubscriberDetail,
        r#"SELECT id, email, name, status AS "status: SubscriberStatus", created_at, updated_at, confirmed_at,
                  unsubscribed_at, locale
           FROM subscribers WHERE id = $1"#,
        id,
    )
    .fetch_optional(conn)
    .await
}

/// One consent record: what was done, when, from where.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ConsentRecord {
    /// signup, confirm, unsubscribe, import, added, join or leave
    pub action: String,
    /// For `join` and `leave`: the list's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    pub interface: Option<Interface>,
}

pub async fn consent_of(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<Vec<ConsentRecord>> {
    sqlx::query_as!(
        ConsentRecord,
        // An imported subscriber's consent is the import's record, kept once per file.
        r#"SELECT action AS "action!", list_slug AS list, at AS "at!", ip, user_agent, note, interface AS "interface: Interface"
           FROM (SELECT action::text, list_slug, at, host(ip) AS ip, user_agent, note, interface, id
                 FROM consent_events WHERE subscriber_id = $1
                 UNION ALL
                 SELECT 'import', NULL, i.at, NULL, NULL, i.note, i.interface, 0
                 FROM subscribers s JOIN imports i ON i.id = s.import_id WHERE s.id = $1) records
           ORDER BY at, id"#,
        subscriber_id,
    )
    .fetch_all(conn)
    .await
}

/// One mail to the subscriber, with the server's last reply; never its tokens.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    pub id: i64,
    /// confirmation or digest
    pub kind: String,
    pub digest_id: Option<Uuid>,
    pub digest_subject: Option<String>,
    /// pending, sent, failed or skipped
    pub status: String,
    pub attempts: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the mail was queued: for a digest, when the digest started (its recipients' rows are
    /// written only with their outcome, so `created_at` is about the send); otherwise `created_at`.
    pub queued_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The SMTP server's last reply to a failed attempt.
    pub last_error: Option<String>,
}

pub async fn deliveries_of(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<Vec<DeliveryRecord>> {
    sqlx::query_as!(
        DeliveryRecord,
        r#"SELECT d.id, d.kind::text AS "kind!", d.digest_id, g.subject AS "digest_subject?",
                  d.status::text AS "status!", d.attempts, d.created_at,
                  coalesce(g.started_at, d.created_at) AS "queued_at!", d.sent_at, d.last_error
           FROM deliveries d LEFT JOIN digests g ON g.id = d.digest_id
           WHERE d.subscriber_id = $1 ORDER BY d.created_at, d.id"#,
        subscriber_id,
    )
    .fetch_all(conn)
    .await
}

/// A row of the export.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The lists they are a pending or confirmed member of, slugs joined by `|` (what an
    /// import's `lists` column reads).
    pub lists: String,
    /// As JSON text.
    pub attributes: String,
}

/// Up to `limit` subscribers (of one status; current members of one list) after the id `after`, in id order: one page of the
/// export. Pages follow the primary key (ids are time-ordered, so this is about the order they
/// were added) rather than `created_at`, which has no index: every signup and import would pay
/// for one. Each page is read on a connection taken and given back at once, so an export read at
/// a slow client's pace holds no connection between pages.
pub async fn export_page(
    db: &PgPool,
    list: Option<i32>,
    status: Option<SubscriberStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ExportRow>> {
    sqlx::query_as!(
        ExportRow,
        r#"SELECT s.id, s.email, s.name, s.status AS "status: SubscriberStatus", s.created_at,
                  coalesce((SELECT string_agg(l.slug, '|' ORDER BY l.slug)
                            FROM memberships m JOIN lists l ON l.id = m.list_id
                            WHERE m.subscriber_id = s.id AND m.status IN ('pending', 'confirmed')), '') AS "lists!",
                  s.attributes::text AS "attributes!"
           FROM subscribers s
           WHERE ($1::subscriber_status IS NULL OR s.status = $1) AND ($2::uuid IS NULL OR s.id > $2)
             AND ($4::int4 IS NULL OR EXISTS (SELECT 1 FROM memberships m
                                              WHERE m.list_id = $4 AND m.subscriber_id = s.id
                                                AND m.status IN ('pending', 'confirmed')))
           ORDER BY s.id LIMIT $3"#,
        status as Option<SubscriberStatus>,
        after,
        limit,
        list,
    )
    .fetch_all(db)
    .await
}

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erased {
    /// Deleted with everything tied to it; `suppressed` when its hash stays behind.
    Done {
        suppressed: bool,
    },
    NotFound,
}

/// The subscriber and everything tied to them (consent records, stored tokens, deliveries, bounces:
/// the foreign keys cascade) go in one transaction. Where they had unsubscribed, bounced or
/// complained, the SHA-256 of the lower-cased address stays in `suppressions`.
pub async fn erase(conn: &mut PgConnection, email: &str) -> sqlx::Result<Erased> {
    erase_one(conn, ErasureKey::Email(email)).await
}

/// Who is to be erased: by address (the operator) or by id (the person, from their preference
/// link, which names them by id).
#[derive(Debug, Clone, Copy)]
pub enum ErasureKey<'a> {
    Email(&'a str),
    Id(Uuid),
}

struct Found {
    id: Uuid,
    status: SubscriberStatus,
}

/// [`erase`], for either key.
pub async fn erase_one(conn: &mut PgConnection, key: ErasureKey<'_>) -> sqlx::Result<Erased> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // Two statements rather than one with an OR, so each keeps its own index.
    let found = match key {
        ErasureKey::Email(email) => sqlx::query_as!(
            Found,
            r#"SELECT id, status AS "status: SubscriberStatus" FROM subscribers WHERE lower(email) = lower($1) FOR UPDATE"#,
            email,
        )
        .fetch_optional(&mut *tx)
        .await?,
        ErasureKey::Id(id) => sqlx::query_as!(
            Found,
            r#"SELECT id, status AS "status: SubscriberStatus" FROM subscribers WHERE id = $1 FOR UPDATE"#,
            id,
        )
        .fetch_optional(&mut *tx)
        .await?,
    };
    let Some(found) = found else {
        return Ok(Erased::NotFound);
    };
    let suppress = matches!(
        found.status,
        SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced | SubscriberStatus::Complained
    );
    if suppress {
        sqlx::query!(
            "INSERT INTO suppressions (hash, reason) SELECT sha256(convert_to(lower(email), 'UTF8')), status
             FROM subscribers WHERE id = $1 ON CONFLICT (hash) DO NOTHING",
            found.id,
        )
        .execute(&mut *tx)
        .await?;
    }
    // `subscriber.erased` names the subscriber by id only: the address is what was erased.
    sqlx::query!(
        "WITH erased AS (DELETE FROM subscribers WHERE id = $1 RETURNING id)
         INSERT INTO webhook_messages (endpoint_id, type, data)
         SELECT e.id, 'subscriber.erased', jsonb_build_object('id', x.id)
         FROM erased x JOIN webhook_endpoints e ON e.enabled AND 'subscriber.erased' = ANY(e.events)",
        found.id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Erased::Done { suppressed: suppress })
}

/// A subscriber's attributes as JSON text (`{}` when none).
pub async fn attributes_of(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar!(r#"SELECT attributes::text AS "attributes!" FROM subscribers WHERE id = $1"#, subscriber_id)
        .fetch_one(conn)
        .await
}

/// Sets the name (when `name` is given; `Some(None)` removes it) and the attributes (when given,
/// as checked JSON text: they replace the old ones) of the subscriber with this address. False
/// when there is none.
pub async fn update_profile(
    db: &PgPool,
    email: &str,
    name: Option<Option<&str>>,
    attributes: Option<&str>,
    locale: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE subscribers
         SET name = CASE WHEN $2 THEN $3 ELSE name END,
             attributes = coalesce($4::text::jsonb, attributes),
             locale = coalesce($5, locale),
             updated_at = now()
         WHERE lower(email) = lower($1)",
        email,
        name.is_some(),
        name.flatten(),
        attributes,
        locale,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A subscriber's stored locale: `None` when there is no such subscriber, `Some(None)` when they
/// have none (the configured default applies).
pub async fn locale_of(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Option<String>>> {
    Ok(sqlx::query!("SELECT locale FROM subscribers WHERE id = $1", id).fetch_optional(db).await?.map(|r| r.locale))
}

/// Sets a subscriber's locale (their own choice, from the preference page).
pub async fn set_locale(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    locale: crate::domain::Locale,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE subscribers SET locale = $2, updated_at = now() WHERE id = $1 AND locale IS DISTINCT FROM $2",
        subscriber_id,
        locale.as_str(),
    )
    .execute(conn)
    .await?;
    Ok(())
}
