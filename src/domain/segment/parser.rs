//! Recursive descent over the tokens, with the type checks of each `FIELD OP VALUE`:
//!
//! ```text
//! expr   = and ("or" and)*
//! and    = unary ("and" unary)*
//! unary  = "not" unary | "(" expr ")" | FIELD check
//! check  = CMP value | "contains" TEXT | "starts_with" TEXT | "in" "[" value ("," value)* "]" | "exists"
//! ```
//!
//! Only `not` and `(` recurse, and each counts against [`Segment::MAX_DEPTH`] before recursing.

use super::lexer::{self, Tok};
use super::{Check, Cmp, DateValue, Expr, Field, Segment, SegmentError, Test, Value};
use crate::domain::SubscriberStatus;
use crate::domain::attributes::is_attribute_key;

pub(super) fn parse(text: &str) -> Result<Expr, SegmentError> {
    let tokens = lexer::tokens(text)?;
    let mut p = Parser { tokens, next: 0 };
    if matches!(p.peek(), Tok::End) {
        return Err(SegmentError::at(
            0,
            "The segment is empty: expected a condition, such as attributes.plan = \"pro\"",
        ));
    }
    let expr = p.or(0)?;
    match p.peek() {
        Tok::End => Ok(expr),
        Tok::Close => Err(p.error("This ) has no ( to close")),
        _ => Err(p.error("Expected and, or, or the end of the segment")),
    }
}

const SUBSCRIBER_WORDS: &str = "pending, confirmed, unsubscribed, bounced, complained";
const MEMBERSHIP_WORDS: [&str; 3] = ["pending", "confirmed", "unsubscribed"];
const FIELDS: &str = "email, name, status, created_at, confirmed_at, attributes.KEY or list.SLUG";

struct Parser {
    tokens: Vec<(usize, Tok)>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.next).map_or(&Tok::End, |(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).or(self.tokens.last()).map_or(0, |(p, _)| *p)
    }

    fn bump(&mut self) -> (usize, Tok) {
        let at = self.position();
        let tok = self.tokens.get(self.next).map_or(Tok::End, |(_, t)| t.clone());
        self.next += 1;
        (at, tok)
    }

    fn error(&self, message: impl Into<String>) -> SegmentError {
        SegmentError::at(self.position(), message)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self, depth: usize) -> Result<Expr, SegmentError> {
        let mut items = vec![self.and(depth)?];
        while self.keyword("or") {
            self.bump();
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Any(items) })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, SegmentError> {
        let mut items = vec![self.unary(depth)?];
        while self.keyword("and") {
            self.bump();
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::All(items) })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, SegmentError> {
        let nests = self.keyword("not") || matches!(self.peek(), Tok::Open);
        if nests && depth >= Segment::MAX_DEPTH {
            return Err(self.error(format!("Parentheses and not can be nested at most {} deep", Segment::MAX_DEPTH)));
        }
        if self.keyword("not") {
            self.bump();
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if matches!(self.peek(), Tok::Open) {
            self.bump();
            let inner = self.or(depth + 1)?;
            if !matches!(self.peek(), Tok::Close) {
                return Err(self.error("Expected ) to close the parenthesis, or and/or to go on"));
            }
            self.bump();
            return Ok(inner);
        }
        self.test().map(Expr::Test)
    }

    fn test(&mut self) -> Result<Test, SegmentError> {
        let (position, tok) = self.bump();
        let Tok::Word(word) = tok else {
            return Err(SegmentError::at(position, format!("Expected a field ({FIELDS}) or ( or not")));
        };
        let field = field(&word)
            .ok_or_else(|| SegmentError::at(position, format!("Unknown field {word:?}: expected {FIELDS}")))?;
        let check = self.check(&field)?;
        Ok(Test { field, check, position })
    }

    fn check(&mut self, field: &Field) -> Result<Check, SegmentError> {
        let at = self.position();
        let name = field.describe();
        let check = match self.bump().1 {
            Tok::Cmp(cmp) => {
                let (vat, value) = self.value()?;
                check_value(field, Some(cmp), &value, vat)?;
                Check::Compare(cmp, value)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("contains") || w.eq_ignore_ascii_case("starts_with") => {
                let (vat, value) = self.value()?;
                let Value::Text(s) = value else {
                    return Err(SegmentError::at(vat, format!("{w} takes a \"string\"")));
                };
                if !is_text(field) {
                    return Err(SegmentError::at(
                        at,
                        format!("{w} works on text (email, name, attributes.KEY), not on {name}"),
                    ));
                }
                if w.eq_ignore_ascii_case("contains") { Check::Contains(s) } else { Check::StartsWith(s) }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => {
                if !matches!(self.bump().1, Tok::OpenList) {
                    return Err(SegmentError::at(
                        self.position().min(at + 2),
                        "Expected [ after in, as in status in [\"pending\", \"confirmed\"]",
                    ));
                }
                let mut values = Vec::new();
                loop {
                    let (vat, value) = self.value()?;
                    check_value(field, None, &value, vat)?;
                    values.push(value);
                    match self.bump() {
                        (_, Tok::Comma) => continue,
                        (_, Tok::CloseList) => break,
                        (p, _) => return Err(SegmentError::at(p, "Expected , or ] in the list of values")),
                    }
                }
                Check::In(values)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("exists") => {
                if !matches!(field, Field::Attribute(_) | Field::List(_) | Field::Name | Field::ConfirmedAt) {
                    return Err(SegmentError::at(
                        at,
                        format!("exists works on attributes.KEY, list.SLUG, name and confirmed_at, not on {name}"),
                    ));
                }
                Check::Exists
            }
            _ => {
                return Err(SegmentError::at(
                    at,
                    format!(
                        "Expected an operator after {name}: =, !=, <, <=, >, >=, contains, starts_with, in [..] or exists"
                    ),
                ));
            }
        };
        Ok(check)
    }

    fn value(&mut self) -> Result<(usize, Value), SegmentError> {
        let (at, tok) = self.bump();
        let value = match tok {
            Tok::Text(s) => Value::Text(s),
            Tok::Number(n) => Value::Number(n),
            Tok::Date(d) => Value::Date(DateValue::On(d)),
            Tok::DaysAgo(n) => Value::Date(DateValue::DaysAgo(n)),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Word(w) => {
                return Err(SegmentError::at(
                    at,
                    format!("Expected a value: put text in double quotes, as in \"{w}\""),
                ));
            }
            _ => {
                return Err(SegmentError::at(
                    at,
                    "Expected a value: a \"string\", a number, true/false, a date (2026-01-31) or a relative date (-30d)",
                ));
            }
        };
        Ok((at, value))
    }
}

fn field(word: &str) -> Option<Field> {
    Some(match word {
        "email" => Field::Email,
        "name" => Field::Name,
        "status" => Field::Status,
        "created_at" => Field::CreatedAt,
        "confirmed_at" => Field::ConfirmedAt,
        _ => {
            if let Some(key) = word.strip_prefix("attributes.") {
                return is_attribute_key(key).then(|| Field::Attribute(key.to_owned()));
            }
            let slug = word.strip_prefix("list.")?;
            return is_slug(slug).then(|| Field::List(slug.to_owned()));
        }
    })
}

/// The rule of `lists.slug` (`^[a-z0-9][a-z0-9-]{0,39}$`).
fn is_slug(slug: &str) -> bool {
    let mut bytes = slug.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && slug.len() <= 40
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

fn is_text(field: &Field) -> bool {
    matches!(field, Field::Email | Field::Name | Field::Attribute(_))
}

/// Whether `value` may be compared with `field` by `cmp` (`None`: a member of `in [..]`).
fn check_value(field: &Field, cmp: Option<Cmp>, value: &Value, at: usize) -> Result<(), SegmentError> {
    let name = field.describe();
    let ordering = cmp.is_some_and(Cmp::is_ordering);
    let symbol = cmp.map_or("in", Cmp::symbol);
    let fail = |m: String| Err(SegmentError::at(at, m));
    match (field, value) {
        (Field::Email | Field::Name, Value::Text(_)) => Ok(()),
        (Field::Email | Field::Name, _) => fail(format!("{name} compares with a \"string\"")),
        (Field::Status, Value::Text(_)) if ordering => fail(format!("status takes = , != or in, not {symbol}")),
        (Field::Status, Value::Text(s)) if is_status_word(s) => Ok(()),
        (Field::Status, _) => fail(format!("status is one of \"{}\"", SUBSCRIBER_WORDS.replace(", ", "\", \""))),
        (Field::CreatedAt | Field::ConfirmedAt, Value::Date(_)) => Ok(()),
        (Field::CreatedAt | Field::ConfirmedAt, _) => {
            fail(format!("{name} compares with a date (2026-01-31) or a relative date (-30d)"))
        }
        (Field::Attribute(_), Value::Text(_) | Value::Number(_)) => Ok(()),
        (Field::Attribute(_), Value::Bool(_)) if !ordering => Ok(()),
        (Field::Attribute(_), Value::Bool(_)) => fail(format!("true/false takes = , != or in, not {symbol}")),
        (Field::Attribute(_), Value::Date(_)) => {
            fail(format!("{name} compares with a \"string\", a number or true/false (write a date as \"2026-01-31\")"))
        }
        (Field::List(_), Value::Text(_)) if ordering => {
            fail(format!("{name} takes =, != , in or exists, not {symbol}"))
        }
        (Field::List(_), Value::Text(s)) if MEMBERSHIP_WORDS.contains(&s.as_str()) => Ok(()),
        (Field::List(_), _) => fail(format!("{name} is one of \"pending\", \"confirmed\", \"unsubscribed\"")),
    }
}

fn is_status_word(word: &str) -> bool {
    use SubscriberStatus::*;
    [Pending, Confirmed, Unsubscribed, Bounced, Complained].iter().any(|s| s.as_str() == word)
}
