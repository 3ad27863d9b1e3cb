//! Lists and memberships. A list is addressed by its slug everywhere outside the database; rows
//! refer to it by a small integer id, which keeps the membership table narrow at a million rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{ListSlug, MembershipStatus};

/// A list as the operator sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct List {
    #[serde(skip)]
    pub id: i32,
    #[schema(value_type = String, example = "weekly")]
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Offered on the signup page and the preference page.
    pub public: bool,
    /// Joining needs the confirmation mail's link.
    pub double_opt_in: bool,
    /// Cron, in `digests.timezone`.
    pub schedule: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A list with how many members stand where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ListWithCounts {
    #[serde(flatten)]
    pub list: List,
    /// Members by membership status (`pending`, `confirmed`, `unsubscribed`).
    pub members: MemberCounts,
    /// Confirmed members whose address is in good standing: who a digest to this list reaches.
    pub reachable: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MemberCounts {
    pub pending: i64,
    pub confirmed: i64,
    pub unsubscribed: i64,
}

/// What a new list or an edit says; `None` leaves a field as it is (edit) or takes the default.
#[derive(Debug, Clone, Default)]
pub struct ListFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub public: Option<bool>,
    pub double_opt_in: Option<bool>,
    /// `Some(None)` clears the schedule.
    pub schedule: Option<Option<String>>,
}

pub async fn all(db: &PgPool) -> sqlx::Result<Vec<List>> {
    sqlx::query_as!(
        List,
        "SELECT id, slug, name, description, public, double_opt_in, schedule, created_at
         FROM lists ORDER BY id",
    )
    .fetch_all(db)
    .await
}

pub async fn by_slug<'e>(db: impl sqlx::PgExecutor<'e>, slug: &ListSlug) -> sqlx::Result<Option<List>> {
    sqlx::query_as!(
        List,
        "SELECT id, slug, name, description, public, double_opt_in, schedule, created_at
         FROM lists WHERE slug = $1",
        slug.as_str(),
    )
    .fetch_optional(db)
    .await
}

pub async fn by_id<'e>(db: impl sqlx::PgExecutor<'e>, id: i32) -> sqlx::Result<Option<List>> {
    sqlx::query_as!(
        List,
        "SELECT id, slug, name, description, public, double_opt_in, schedule, created_at
         FROM lists WHERE id = $1",
        id,
    )
    .fetch_optional(db)
    .await
}

/// The lists these slugs name, in the order given; `Err` is the first slug that names none.
pub async fn by_slugs(db: &PgPool, slugs: &[ListSlug]) -> sqlx::Result<Result<Vec<List>, ListSlug>> {
    let wanted: Vec<&str> = slugs.iter().map(ListSlug::as_str).collect();
    let found = sqlx::query_as!(
        List,
        "SELECT id, slug, name, description, public, double_opt_in, schedule, created_at
         FROM lists WHERE slug = ANY($1)",
        &wanted as &[&str],
    )
    .fetch_all(db)
    .await?;
    let mut ordered = Vec::with_capacity(slugs.len());
    for slug in slugs {
        match found.iter().find(|l| l.slug == slug.as_str()) {
            Some(list) => ordered.push(list.clone()),
            None => return Ok(Err(slug.clone())),
        }
    }
    Ok(Ok(ordered))
}

/// Member counts of one list, and how many a digest would reach now.
pub async fn counts(db: &PgPool, list: &List) -> sqlx::Result<ListWithCounts> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE m.status = 'pending') AS "pending!",
                  count(*) FILTER (WHERE m.status = 'confirmed') AS "confirmed!",
                  count(*) FILTER (WHERE m.status = 'unsubscribed') AS "unsubscribed!",
                  count(*) FILTER (WHERE m.status = 'confirmed' AND s.status = 'confirmed') AS "reachable!"
           FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
           WHERE m.list_id = $1"#,
        list.id,
    )
    .fetch_one(db)
    .await?;
    Ok(ListWithCounts {
        list: list.clone(),
        members: MemberCounts { pending: row.pending, confirmed: row.confirmed, unsubscribed: row.unsubscribed },
        reachable: row.reachable,
    })
}

/// Creates a list; `None` when the slug is taken.
pub async fn insert(db: &PgPool, slug: &ListSlug, name: &str, fields: &ListFields) -> sqlx::Result<Option<List>> {
    sqlx::query_as!(
        List,
        "INSERT INTO lists (slug, name, description, public, double_opt_in, schedule)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (slug) DO NOTHING
         RETURNING id, slug, name, description, public, double_opt_in, schedule, created_at",
        slug.as_str(),
        name,
        fields.description.as_deref().unwrap_or(""),
        fields.public.unwrap_or(true),
        fields.double_opt_in.unwrap_or(true),
        fields.schedule.clone().flatten(),
    )
    .fetch_optional(db)
    .await
}

/// Changes what `fields` names; `None` when there is no such list.
pub async fn update(db: &PgPool, slug: &ListSlug, fields: &ListFields) -> sqlx::Result<Option<List>> {
    sqlx::query_as!(
        List,
        "UPDATE lists SET
             name = coalesce($2, name),
             description = coalesce($3, description),
             public = coalesce($4, public),
             double_opt_in = coalesce($5, double_opt_in),
             schedule = CASE WHEN $6 THEN $7 ELSE schedule END,
             updated_at = now()
         WHERE slug = $1
         RETURNING id, slug, name, description, public, double_opt_in, schedule, created_at",
        slug.as_str(),
        fields.name.as_deref(),
        fields.description.as_deref(),
        fields.public,
        fields.double_opt_in,
        fields.schedule.is_some(),
        fields.schedule.clone().flatten(),
    )
    .fetch_optional(db)
    .await
}

/// How removing a list went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Removed,
    NotFound,
    /// A scheduled digest is waiting for it: cancel that first.
    Scheduled,
    /// Digests were sent to it: they keep naming it (the archive, the person's deliveries).
    HasDigests,
}

/// Removes a list and its memberships. The default list stays, and so does a list that has a
/// digest (sent or scheduled): digests name their list for the archive and the records.
pub async fn remove(db: &PgPool, slug: &ListSlug) -> sqlx::Result<Removed> {
    let mut tx = db.begin().await?;
    let Some(list) =
        sqlx::query!("SELECT id FROM lists WHERE slug = $1 FOR UPDATE", slug.as_str()).fetch_optional(&mut *tx).await?
    else {
        return Ok(Removed::NotFound);
    };
    let digests = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE state = 'scheduled') AS "scheduled!", count(*) AS "all!"
           FROM digests WHERE list_id = $1"#,
        list.id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if digests.scheduled > 0 {
        return Ok(Removed::Scheduled);
    }
    if digests.all > 0 {
        return Ok(Removed::HasDigests);
    }
    sqlx::query!("DELETE FROM digest_ticks WHERE list_id = $1", list.id).execute(&mut *tx).await?;
    sqlx::query!("DELETE FROM lists WHERE id = $1", list.id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Removed::Removed)
}

/// A list's schedule, for the scheduler.
pub struct ListSchedule {
    pub id: i32,
    pub schedule: Option<String>,
    pub is_default: bool,
}

/// The lists that may have a schedule: those with one, and the default list (whose schedule may
/// come from `digests.schedule`).
pub async fn scheduled(db: &PgPool) -> sqlx::Result<Vec<ListSchedule>> {
    sqlx::query_as!(
        ListSchedule,
        r#"SELECT id, schedule, slug = 'default' AS "is_default!" FROM lists
           WHERE schedule IS NOT NULL OR slug = 'default' ORDER BY id"#,
    )
    .fetch_all(db)
    .await
}

/// The default list as a signup's choice.
pub async fn default_choice<'e>(db: impl sqlx::PgExecutor<'e>) -> sqlx::Result<super::signups::ListChoice> {
    let row = sqlx::query!("SELECT id, double_opt_in FROM lists WHERE slug = 'default'").fetch_one(db).await?;
    Ok(super::signups::ListChoice { id: row.id, double_opt_in: row.double_opt_in })
}

/// The id of the list every Broadsheet has.
pub async fn default_id<'e>(db: impl sqlx::PgExecutor<'e>) -> sqlx::Result<i32> {
    sqlx::query_scalar!("SELECT id FROM lists WHERE slug = 'default'").fetch_one(db).await
}

/// One membership of a person, for their data and the preference page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Membership {
    #[schema(value_type = String)]
    pub list: String,
    pub name: String,
    pub status: MembershipStatus,
    pub since: DateTime<Utc>,
}

pub async fn memberships_of(conn: &mut PgConnection, subscriber: Uuid) -> sqlx::Result<Vec<Membership>> {
    sqlx::query_as!(
        Membership,
        r#"SELECT l.slug AS list, l.name, m.status AS "status: MembershipStatus", m.updated_at AS since
           FROM memberships m JOIN lists l ON l.id = m.list_id
           WHERE m.subscriber_id = $1 ORDER BY l.id"#,
        subscriber,
    )
    .fetch_all(conn)
    .await
}

/// Sets a person's standing on lists: joins (`pending` or `confirmed`) or leaves
/// (`unsubscribed`). A confirmed membership asked to be pending stays confirmed. Answers the
/// lists whose standing changed, so a change run twice is recorded once.
pub async fn set(
    conn: &mut PgConnection,
    subscriber: Uuid,
    lists: &[i32],
    status: MembershipStatus,
) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar!(
        "INSERT INTO memberships (list_id, subscriber_id, status)
         SELECT l, $2, $3 FROM unnest($1::int4[]) AS l
         ON CONFLICT (list_id, subscriber_id) DO UPDATE SET
             status = CASE WHEN memberships.status = 'confirmed' AND EXCLUDED.status = 'pending'
                           THEN memberships.status ELSE EXCLUDED.status END,
             updated_at = now()
         WHERE memberships.status IS DISTINCT FROM EXCLUDED.status
         RETURNING list_id",
        lists,
        subscriber,
        status as MembershipStatus,
    )
    .fetch_all(conn)
    .await
}

/// Confirms every membership the person asked for and has not confirmed yet: what the
/// confirmation link does besides confirming the address.
pub async fn confirm_pending(conn: &mut PgConnection, subscriber: Uuid) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE memberships SET status = 'confirmed', updated_at = now()
         WHERE subscriber_id = $1 AND status = 'pending'",
        subscriber,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Where a person stands on each list they have a membership of, by list id: what the
/// preference page shows checked.
pub async fn standings(conn: &mut PgConnection, subscriber: Uuid) -> sqlx::Result<Vec<(i32, MembershipStatus)>> {
    let rows = sqlx::query!(
        r#"SELECT list_id, status AS "status: MembershipStatus" FROM memberships WHERE subscriber_id = $1"#,
        subscriber,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.list_id, r.status)).collect())
}

/// Leaves one list: a membership that is pending or confirmed becomes unsubscribed. `None` when
/// the person does not exist (erased since the link was mailed), else whether this changed
/// anything (leaving a list one is not on changes nothing, and writes nothing).
pub async fn leave(conn: &mut PgConnection, subscriber: Uuid, list: i32) -> sqlx::Result<Option<bool>> {
    let row = sqlx::query!(
        r#"WITH changed AS (
               UPDATE memberships SET status = 'unsubscribed', updated_at = now()
               WHERE list_id = $1 AND subscriber_id = $2 AND status <> 'unsubscribed'
               RETURNING 1)
           SELECT EXISTS (SELECT 1 FROM changed) AS "changed!",
                  EXISTS (SELECT 1 FROM subscribers WHERE id = $2) AS "exists!""#,
        list,
        subscriber,
    )
    .fetch_one(conn)
    .await?;
    Ok(row.exists.then_some(row.changed))
}
