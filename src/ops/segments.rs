//! Segments for the operator (the count behind a preview, a digest's recipients): an expression
//! parsed once, its lists looked up, errors that say where.

use sqlx::PgPool;

use super::OpsError;
use crate::domain::Segment;
use crate::store::segments::{self, Resolved};

/// An optional expression: absent or blank is no segment (the whole list).
pub fn parse(text: Option<&str>) -> Result<Option<Segment>, OpsError> {
    match text {
        Some(t) if !t.trim().is_empty() => Ok(Some(Segment::parse(t)?)),
        _ => Ok(None),
    }
}

/// The segment's lists looked up; an unknown one is an error pointing at it.
pub async fn resolve<'a>(db: &PgPool, segment: &'a Segment) -> Result<Resolved<'a>, OpsError> {
    let resolved = segments::resolve(db, segment).await?;
    match resolved.unknown() {
        Some(unknown) => Err(OpsError::InvalidAt {
            field: "segment",
            message: format!(
                "There is no list {:?}: list.{} names no list (at position {}).",
                unknown.slug, unknown.slug, unknown.position
            ),
            position: unknown.position,
        }),
        None => Ok(resolved),
    }
}

/// How many a digest to `list` (`default` when none) narrowed by `segment` would reach now.
pub async fn count(db: &PgPool, list: Option<&str>, segment: Option<&str>) -> Result<i64, OpsError> {
    let segment = parse(segment)?;
    let list = super::lists::target(db, "list", list).await?.id;
    let resolved = match &segment {
        Some(s) => Some(resolve(db, s).await?),
        None => None,
    };
    Ok(segments::count(db, list, resolved.as_ref()).await?)
}
