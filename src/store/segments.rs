//! Segments as SQL: a parsed [`Segment`] compiled into a predicate over `subscribers s`, every
//! value (attribute keys included) a bind parameter, and the two statements that use it: the
//! count for a preview and the chunks of a digest to a list.
//!
//! Each test is wrapped in `coalesce(…, false)`, so a missing attribute or a NULL `name` makes a
//! test false, never unknown: `not attributes.plan = "pro"` then also takes those without a plan,
//! as a person reading it expects (SQL's three-valued `NOT` would drop them).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::chunks::CHUNK;
use crate::domain::Segment;
use crate::domain::segment::{Check, Cmp, DateValue, Expr, Field, Test, Value};

/// A segment ready to compile: its list slugs resolved to ids, its relative dates to days.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    segment: &'a Segment,
    lists: HashMap<String, i32>,
    today: NaiveDate,
    unknown: Option<UnknownList>,
}

/// A `list.SLUG` naming no list, and where in the expression it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownList {
    pub slug: String,
    pub position: usize,
}

/// Looks up the lists `segment` names. Relative dates count from today (UTC). A list named
/// that does not exist is reported by [`Resolved::unknown`]; compiled, a test on it matches
/// nobody (a list removed between a digest's scheduling and its start).
pub async fn resolve<'a, 'e>(db: impl sqlx::PgExecutor<'e>, segment: &'a Segment) -> sqlx::Result<Resolved<'a>> {
    let named = segment.list_slugs();
    let mut lists = HashMap::new();
    let mut unknown = None;
    if !named.is_empty() {
        let slugs: Vec<String> = named.iter().map(|(s, _)| (*s).to_owned()).collect();
        let rows = sqlx::query!("SELECT slug, id FROM lists WHERE slug = ANY($1)", &slugs).fetch_all(db).await?;
        lists.extend(rows.into_iter().map(|r| (r.slug, r.id)));
        unknown = named
            .iter()
            .find(|(s, _)| !lists.contains_key(*s))
            .map(|(slug, position)| UnknownList { slug: (*slug).to_owned(), position: *position });
    }
    Ok(Resolved { segment, lists, today: Utc::now().date_naive(), unknown })
}

impl Resolved<'_> {
    /// The first list the segment names that does not exist.
    pub fn unknown(&self) -> Option<&UnknownList> {
        self.unknown.as_ref()
    }

    /// With another "today" (tests of relative dates).
    pub fn on(mut self, today: NaiveDate) -> Self {
        self.today = today;
        self
    }

    /// Appends the predicate, parenthesised, to `qb`.
    pub fn push(&self, qb: &mut QueryBuilder<'_, Postgres>) {
        self.expr(qb, self.segment.expr());
    }

    fn expr(&self, qb: &mut QueryBuilder<'_, Postgres>, expr: &Expr) {
        match expr {
            Expr::All(items) | Expr::Any(items) => {
                let joiner = if matches!(expr, Expr::All(_)) { " AND " } else { " OR " };
                qb.push("(");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        qb.push(joiner);
                    }
                    self.expr(qb, item);
                }
                qb.push(")");
            }
            Expr::Not(inner) => {
                qb.push("(NOT ");
                self.expr(qb, inner);
                qb.push(")");
            }
            Expr::Test(test) => {
                qb.push("coalesce(");
                self.test(qb, test);
                qb.push(", false)");
            }
        }
    }

    fn test(&self, qb: &mut QueryBuilder<'_, Postgres>, test: &Test) {
        match &test.check {
            Check::Compare(Cmp::Ne, value) => {
                // `!=` is `not =` in the two-valued sense (see the module's comment).
                qb.push("NOT coalesce(");
                self.compare(qb, &test.field, Cmp::Eq, value);
                qb.push(", false)");
            }
            Check::Compare(cmp, value) => self.compare(qb, &test.field, *cmp, value),
            Check::In(values) => {
                qb.push("(false");
                for value in values {
                    qb.push(" OR coalesce(");
                    self.compare(qb, &test.field, Cmp::Eq, value);
                    qb.push(", false)");
                }
                qb.push(")");
            }
            Check::Contains(text) => self.like(qb, &test.field, format!("%{}%", escape_like(text))),
            Check::StartsWith(text) => self.like(qb, &test.field, format!("{}%", escape_like(text))),
            Check::Exists => match &test.field {
                Field::Attribute(key) => {
                    qb.push("s.attributes ? ").push_bind(key.clone());
                }
                Field::List(slug) => self.membership(qb, slug, None),
                Field::Name => {
                    qb.push("s.name <> ''");
                }
                Field::ConfirmedAt => {
                    qb.push("s.confirmed_at IS NOT NULL");
                }
                // The parser allows exists on nothing else.
                _ => {
                    qb.push("false");
                }
            },
        }
    }

    /// `cmp` is never `Ne` here: [`Self::test`] turns it into `NOT =`.
    fn compare(&self, qb: &mut QueryBuilder<'_, Postgres>, field: &Field, cmp: Cmp, value: &Value) {
        let op = cmp.symbol();
        match (field, value) {
            // Addresses are unique whatever their case (`lower(email)`), so equality ignores it.
            (Field::Email, Value::Text(t)) if cmp == Cmp::Eq => {
                qb.push("lower(s.email) = lower(").push_bind(t.clone()).push(")");
            }
            (Field::Email, Value::Text(t)) => {
                qb.push("s.email ").push(op).push(" ").push_bind(t.clone());
            }
            (Field::Name, Value::Text(t)) => {
                qb.push("s.name ").push(op).push(" ").push_bind(t.clone());
            }
            (Field::Status, Value::Text(t)) => {
                qb.push("s.status::text = ").push_bind(t.clone());
            }
            (Field::CreatedAt | Field::ConfirmedAt, Value::Date(d)) => {
                let column = if *field == Field::CreatedAt { "s.created_at" } else { "s.confirmed_at" };
                self.date(qb, column, cmp, *d);
            }
            (Field::Attribute(key), value) => attribute(qb, key, cmp, value),
            (Field::List(slug), Value::Text(t)) => self.membership(qb, slug, Some(t)),
            // The parser lets no other pairing through.
            _ => {
                qb.push("false");
            }
        }
    }

    /// A date names a whole day (UTC): `< d` is before it starts, `<= d` before it ends, `= d`
    /// within it.
    fn date(&self, qb: &mut QueryBuilder<'_, Postgres>, column: &str, cmp: Cmp, value: DateValue) {
        let start = value.day(self.today).and_time(NaiveTime::MIN).and_utc();
        let end = start + chrono::Duration::days(1);
        match cmp {
            Cmp::Lt => qb.push(column).push(" < ").push_bind(start),
            Cmp::Le => qb.push(column).push(" < ").push_bind(end),
            Cmp::Gt => qb.push(column).push(" >= ").push_bind(end),
            Cmp::Ge => qb.push(column).push(" >= ").push_bind(start),
            Cmp::Eq | Cmp::Ne => {
                qb.push("(").push(column).push(" >= ").push_bind(start);
                qb.push(" AND ").push(column).push(" < ").push_bind(end).push(")")
            }
        };
    }

    fn like(&self, qb: &mut QueryBuilder<'_, Postgres>, field: &Field, pattern: String) {
        match field {
            Field::Email => qb.push("s.email ILIKE ").push_bind(pattern).push(r" ESCAPE '\'"),
            Field::Name => qb.push("s.name ILIKE ").push_bind(pattern).push(r" ESCAPE '\'"),
            Field::Attribute(key) => qb
                .push("(jsonb_typeof(s.attributes -> ")
                .push_bind(key.clone())
                .push(") = 'string' AND s.attributes ->> ")
                .push_bind(key.clone())
                .push(" ILIKE ")
                .push_bind(pattern)
                .push(r" ESCAPE '\')"),
            _ => qb.push("false"),
        };
    }

    /// A membership of the list (with the status, when one is given), by primary key.
    fn membership(&self, qb: &mut QueryBuilder<'_, Postgres>, slug: &str, status: Option<&str>) {
        let list = self.lists.get(slug).copied().unwrap_or(-1);
        qb.push("EXISTS (SELECT 1 FROM memberships sm WHERE sm.list_id = ")
            .push_bind(list)
            .push(" AND sm.subscriber_id = s.id");
        if let Some(status) = status {
            qb.push(" AND sm.status::text = ").push_bind(status.to_owned());
        }
        qb.push(")");
    }
}

/// An attribute against a value, by JSON type: jsonb equality compares numbers as numbers
/// (`2` = `2.0`) and never equals a string to a number; an ordering applies only when the stored
/// value is of the value's type, so `attributes.seats > 3` skips a seats of "many".
fn attribute(qb: &mut QueryBuilder<'_, Postgres>, key: &str, cmp: Cmp, value: &Value) {
    let (json, kind) = match value {
        Value::Text(t) => (serde_json::Value::String(t.clone()), "string"),
        Value::Number(n) => {
            (serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, serde_json::Value::Number), "number")
        }
        Value::Bool(b) => (serde_json::Value::Bool(*b), "boolean"),
        Value::Date(_) => {
            qb.push("false");
            return;
        }
    };
    if cmp == Cmp::Eq {
        qb.push("s.attributes -> ").push_bind(key.to_owned()).push(" = ").push_bind(json.to_string()).push("::jsonb");
    } else {
        qb.push("(jsonb_typeof(s.attributes -> ")
            .push_bind(key.to_owned())
            .push(") = ")
            .push_bind(kind)
            .push(" AND s.attributes -> ")
            .push_bind(key.to_owned())
            .push(" ")
            .push(cmp.symbol())
            .push(" ")
            .push_bind(json.to_string())
            .push("::jsonb)");
    }
}

/// `%`, `_` and the escape character itself match only themselves.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The recipients a digest to `list` (narrowed by `segment`) would have now: members confirmed on
/// the list whose address is confirmed.
pub async fn count(db: &PgPool, list: i32, segment: Option<&Resolved<'_>>) -> sqlx::Result<i64> {
    let mut qb = QueryBuilder::new(
        "SELECT count(*) FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
         WHERE m.list_id = ",
    );
    qb.push_bind(list).push(" AND m.status = 'confirmed' AND s.status = 'confirmed'");
    if let Some(segment) = segment {
        qb.push(" AND ");
        segment.push(&mut qb);
    }
    qb.build_query_scalar().fetch_one(db).await
}

/// Splits the recipients of a digest to `list` narrowed by `segment` into chunks of [`CHUNK`],
/// in the caller's transaction, as [`super::chunks::create`] does for a whole list; returns how
/// many recipients that is. One statement: the predicate is evaluated in the same pass that
/// numbers the members.
pub async fn create_chunks(
    tx: &mut PgConnection,
    digest: Uuid,
    list: i32,
    segment: &Resolved<'_>,
) -> sqlx::Result<i64> {
    let mut qb = QueryBuilder::new(
        "WITH numbered AS (
             SELECT s.id, (row_number() OVER (ORDER BY s.id) - 1) / ",
    );
    qb.push_bind(CHUNK)
        .push(
            " AS chunk
             FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
             WHERE m.list_id = ",
        )
        .push_bind(list)
        .push(" AND m.status = 'confirmed' AND s.status = 'confirmed' AND ");
    segment.push(&mut qb);
    qb.push(
        "),
         chunks AS (
             INSERT INTO digest_chunks (digest_id, recipients, size)
             SELECT ",
    )
    .push_bind(digest)
    .push(
        ", array_agg(id ORDER BY id), count(*)::int FROM numbered GROUP BY chunk ORDER BY chunk
             RETURNING size
         )
         SELECT coalesce(sum(size), 0)::int8 FROM chunks",
    );
    qb.build_query_scalar().fetch_one(tx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> String {
        let segment = Segment::parse(text).unwrap();
        let resolved = Resolved {
            segment: &segment,
            lists: HashMap::from([("weekly".to_owned(), 7)]),
            today: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            unknown: None,
        };
        let mut qb = QueryBuilder::new("");
        resolved.push(&mut qb);
        qb.sql().to_owned()
    }

    #[test]
    fn operator_text_never_reaches_the_sql() {
        let s = sql(r#"attributes.plan = "'; DROP TABLE subscribers; --" or name contains "%_\\""#);
        assert!(!s.contains("DROP"), "{s}");
        assert!(!s.contains("plan"), "{s}");
        assert_eq!(s.matches('$').count(), 3, "{s}");
    }

    #[test]
    fn shapes() {
        assert_eq!(
            sql(r#"not list.weekly = "confirmed""#),
            "(NOT coalesce(EXISTS (SELECT 1 FROM memberships sm WHERE sm.list_id = $1 AND sm.subscriber_id = s.id AND sm.status::text = $2), false))"
        );
        assert_eq!(
            sql("attributes.n > 2"),
            "coalesce((jsonb_typeof(s.attributes -> $1) = $2 AND s.attributes -> $3 > $4::jsonb), false)"
        );
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
