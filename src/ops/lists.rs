//! Operator actions on lists, shared by the CLI, the admin API and the console: create, edit,
//! remove, and the checks every entry point makes the same way.

use serde::Serialize;
use sqlx::PgPool;

use super::OpsError;
use crate::domain::{ListSlug, Schedule, multi_line, single_line};
use crate::store::digests::ListDigest;
use crate::store::lists::{self, List, ListFields, ListWithCounts, Removed};

/// What an operator typed for a new list or an edit, unchecked.
#[derive(Debug, Clone, Default)]
pub struct ListInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub public: Option<bool>,
    pub double_opt_in: Option<bool>,
    /// `Some("")` clears the schedule.
    pub schedule: Option<String>,
}

/// A list named as the thing acted on (a path, a command's argument): a name that cannot be a
/// slug names no list, so it is the same "no such list" as an unknown one.
fn existing_slug(raw: &str) -> Result<ListSlug, OpsError> {
    ListSlug::parse(raw).map_err(|_| {
        let shown: String = raw.chars().filter(|c| !c.is_control()).take(40).collect();
        OpsError::NotFound(format!("There is no list called {shown}."))
    })
}

pub fn parse_slug(raw: &str) -> Result<ListSlug, OpsError> {
    ListSlug::parse(raw).map_err(|e| OpsError::invalid("slug", e.to_string()))
}

/// Checks each field once; `timezone` is `digests.timezone`, in which schedules run.
fn check(input: &ListInput, timezone: &str) -> Result<ListFields, OpsError> {
    let name = match &input.name {
        Some(raw) => {
            let name = single_line(raw);
            if name.is_empty() {
                return Err(OpsError::invalid("name", "A list needs a name, such as \"Weekly digest\"."));
            }
            if name.chars().count() > 200 {
                return Err(OpsError::invalid("name", "A list's name can be at most 200 characters long."));
            }
            Some(name)
        }
        None => None,
    };
    let description = match &input.description {
        Some(raw) => {
            let description = multi_line(raw);
            if description.chars().count() > 2000 {
                return Err(OpsError::invalid("description", "A description can be at most 2,000 characters long."));
            }
            Some(description)
        }
        None => None,
    };
    let schedule = match input.schedule.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(cron) => {
            Schedule::parse(cron, timezone).map_err(|e| OpsError::invalid("schedule", e))?;
            Some(Some(cron.to_owned()))
        }
    };
    Ok(ListFields { name, description, public: input.public, double_opt_in: input.double_opt_in, schedule })
}

pub async fn add(db: &PgPool, slug: &str, input: &ListInput, timezone: &str) -> Result<List, OpsError> {
    let slug = parse_slug(slug)?;
    let fields = check(input, timezone)?;
    let Some(name) = fields.name.clone() else {
        return Err(OpsError::invalid("name", "A list needs a name, such as \"Weekly digest\"."));
    };
    lists::insert(db, &slug, &name, &fields)
        .await?
        .ok_or_else(|| OpsError::Conflict(format!("There is already a list called {slug}.")))
}

pub async fn edit(db: &PgPool, slug: &str, input: &ListInput, timezone: &str) -> Result<List, OpsError> {
    let slug = existing_slug(slug)?;
    let fields = check(input, timezone)?;
    lists::update(db, &slug, &fields).await?.ok_or_else(|| not_found(&slug))
}

pub async fn remove(db: &PgPool, slug: &str) -> Result<(), OpsError> {
    let slug = existing_slug(slug)?;
    if slug.is_default() {
        return Err(OpsError::Conflict("The default list cannot be removed; every Broadsheet has it.".into()));
    }
    match lists::remove(db, &slug).await? {
        Removed::Removed => Ok(()),
        Removed::NotFound => Err(not_found(&slug)),
        Removed::Scheduled => Err(OpsError::Conflict(format!(
            "A digest to {slug} is scheduled; cancel it first (digest cancel ID), then remove the list."
        ))),
        Removed::HasDigests => Err(OpsError::Conflict(format!(
            "Digests were sent to {slug}, and its archive and its members' records name it; make it private instead (lists edit {slug} --private)."
        ))),
    }
}

/// One list with its member counts.
pub async fn show(db: &PgPool, slug: &str) -> Result<ListWithCounts, OpsError> {
    let list = find(db, slug).await?;
    Ok(lists::counts(db, &list).await?)
}

/// Every list with its member counts.
pub async fn all_with_counts(db: &PgPool) -> Result<Vec<ListWithCounts>, OpsError> {
    let mut out = Vec::new();
    for list in lists::all(db).await? {
        out.push(lists::counts(db, &list).await?);
    }
    Ok(out)
}

/// A list as the console shows it: its counts and how many articles wait for its next digest.
#[derive(Debug, Clone, Serialize)]
pub struct ListOverview {
    #[serde(flatten)]
    pub list: ListWithCounts,
    /// Articles not yet in a digest to this list.
    pub unsent_articles: i64,
}

async fn overview_of(db: &PgPool, list: &List) -> Result<ListOverview, OpsError> {
    Ok(ListOverview {
        list: lists::counts(db, list).await?,
        unsent_articles: crate::store::articles::unsent_count(db, list.id).await?,
    })
}

/// Every list with its counts and waiting articles.
pub async fn overview(db: &PgPool) -> Result<Vec<ListOverview>, OpsError> {
    let mut out = Vec::new();
    for list in lists::all(db).await? {
        out.push(overview_of(db, &list).await?);
    }
    Ok(out)
}

/// One list with its counts, waiting articles and its newest digests.
pub async fn detail(db: &PgPool, slug: &str) -> Result<(ListOverview, Vec<ListDigest>), OpsError> {
    let list = find(db, slug).await?;
    let overview = overview_of(db, &list).await?;
    let digests = crate::store::digests::recent_to_list(db, list.id, 20).await?;
    Ok((overview, digests))
}

/// The list a slug names, or a 404-style error naming it (a 422 when the slug cannot be one).
pub async fn find(db: &PgPool, slug: &str) -> Result<List, OpsError> {
    let slug = existing_slug(slug)?;
    lists::by_slug(db, &slug).await?.ok_or_else(|| not_found(&slug))
}

/// The list a digest or an import names (`default` when none), as a 422 on `field` when there is
/// no such list: here the slug is input to another action, not the resource itself.
pub async fn target(db: &PgPool, field: &'static str, slug: Option<&str>) -> Result<List, OpsError> {
    let slug = match slug {
        Some(raw) => ListSlug::parse(raw).map_err(|e| OpsError::invalid(field, e.to_string()))?,
        None => ListSlug::default_list(),
    };
    lists::by_slug(db, &slug)
        .await?
        .ok_or_else(|| OpsError::invalid(field, format!("There is no list called {slug}. See lists list.")))
}

/// Several lists named as input (signup, import, a subscriber's lists): each must exist, and
/// with `public_only` each must be public (a private one is refused as if unknown, so the public
/// form cannot tell private lists exist).
pub async fn targets(
    db: &PgPool,
    field: &'static str,
    slugs: &[String],
    public_only: bool,
) -> Result<Vec<List>, OpsError> {
    let mut parsed = Vec::with_capacity(slugs.len());
    for raw in slugs {
        let slug = ListSlug::parse(raw).map_err(|e| OpsError::invalid(field, e.to_string()))?;
        if !parsed.contains(&slug) {
            parsed.push(slug);
        }
    }
    // Naming none means the list everyone has, even when the operator made it private.
    let named = !parsed.is_empty();
    if !named {
        parsed.push(ListSlug::default_list());
    }
    if parsed.len() > 50 {
        return Err(OpsError::invalid(field, "Choose at most 50 lists at once."));
    }
    let found = lists::by_slugs(db, &parsed).await?.map_err(|missing| unknown(field, &missing))?;
    if public_only
        && named
        && let Some(private) = found.iter().find(|l| !l.public)
    {
        return Err(unknown(field, &ListSlug::from_trusted(private.slug.clone())));
    }
    Ok(found)
}

fn unknown(field: &'static str, slug: &ListSlug) -> OpsError {
    OpsError::invalid(field, format!("There is no list called {slug}."))
}

fn not_found(slug: &ListSlug) -> OpsError {
    OpsError::NotFound(format!("There is no list called {slug}."))
}
