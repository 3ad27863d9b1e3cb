//! Segments: a small, typed filter language over a subscriber's fields, attributes, list
//! memberships and dates (`attributes.plan = "pro" and confirmed_at < -30d and not
//! list.weekly = "confirmed"`). Parsed and type-checked once here into a [`Segment`]; the store
//! compiles that into parameterised SQL, so no text of the operator's ever becomes SQL.
//! The language is described for users in docs/segments.md.

mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::NaiveDate;

/// A parsed, type-checked segment expression, with the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    text: String,
    expr: Expr,
}

/// Where an expression went wrong (a byte offset into it) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct SegmentError {
    pub position: usize,
    pub message: String,
}

impl SegmentError {
    pub(crate) fn at(position: usize, message: impl Into<String>) -> Self {
        Self { position, message: message.into() }
    }
}

impl Segment {
    /// Longer than this is not an expression someone wrote (and a 100 kB one is refused before
    /// it is read at all).
    pub const MAX_BYTES: usize = 4 * 1024;
    /// Parentheses and `not`s nested deeper than this are refused as the parser reaches them,
    /// so recursion stays shallow whatever the input.
    pub const MAX_DEPTH: usize = 32;

    pub fn parse(text: &str) -> Result<Self, SegmentError> {
        if text.len() > Self::MAX_BYTES {
            return Err(SegmentError::at(
                Self::MAX_BYTES,
                format!("A segment can be at most {} bytes long; this one is {}", Self::MAX_BYTES, text.len()),
            ));
        }
        let expr = parser::parse(text)?;
        Ok(Self { text: text.to_owned(), expr })
    }

    /// The expression as the operator wrote it (kept with the digest).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The list slugs the expression names, each with where it first appears: the store looks
    /// them up before compiling, and an unknown one is an error pointing there.
    pub fn list_slugs(&self) -> Vec<(&str, usize)> {
        let mut found: Vec<(&str, usize)> = Vec::new();
        let mut stack = vec![&self.expr];
        while let Some(e) = stack.pop() {
            match e {
                Expr::All(items) | Expr::Any(items) => stack.extend(items),
                Expr::Not(inner) => stack.push(inner),
                Expr::Test(Test { field: Field::List(slug), position, .. }) => {
                    match found.iter_mut().find(|(s, _)| s == slug) {
                        Some(seen) => seen.1 = seen.1.min(*position),
                        None => found.push((slug, *position)),
                    }
                }
                Expr::Test(_) => {}
            }
        }
        found.sort_by_key(|&(_, p)| p);
        found
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `and` and `or` chains are held flat (not as a tree one level per operand), so a long chain
/// does not make a deep tree: the depth of an `Expr` is bounded by [`Segment::MAX_DEPTH`].
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
}

/// One `FIELD OP VALUE`, checked: the value has the field's type.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub field: Field,
    pub check: Check,
    /// Where the field starts in the text.
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Email,
    Name,
    /// The address's own standing (`subscriber_status`).
    Status,
    CreatedAt,
    ConfirmedAt,
    /// `attributes.KEY`
    Attribute(String),
    /// `list.SLUG`: the subscriber's membership status on that list.
    List(String),
}

impl Field {
    pub fn describe(&self) -> String {
        match self {
            Self::Email => "email".into(),
            Self::Name => "name".into(),
            Self::Status => "status".into(),
            Self::CreatedAt => "created_at".into(),
            Self::ConfirmedAt => "confirmed_at".into(),
            Self::Attribute(k) => format!("attributes.{k}"),
            Self::List(s) => format!("list.{s}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Compare(Cmp, Value),
    /// Case-insensitive substring, on text only.
    Contains(String),
    /// Case-insensitive prefix, on text only.
    StartsWith(String),
    In(Vec<Value>),
    /// The attribute is set, the subscriber is a member of the list, or the field is not empty.
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    pub fn is_ordering(self) -> bool {
        !matches!(self, Self::Eq | Self::Ne)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
    Date(DateValue),
}

/// A day: `2026-01-31`, or `-30d` (the day 30 days before today, in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateValue {
    On(NaiveDate),
    DaysAgo(u32),
}

impl DateValue {
    /// The day this names, `today` being the current UTC date.
    pub fn day(self, today: NaiveDate) -> NaiveDate {
        match self {
            Self::On(d) => d,
            Self::DaysAgo(n) => today - chrono::Duration::days(i64::from(n)),
        }
    }
}
