//! Segment text into tokens, each with the byte offset it starts at (what an error points to).

use chrono::NaiveDate;

use super::{Cmp, SegmentError};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A field name or a keyword (`and`, `contains`, `true` …): letters first, then letters,
    /// digits, `_`, `.` and `-` (list slugs have dashes).
    Word(String),
    Text(String),
    Number(f64),
    Date(NaiveDate),
    DaysAgo(u32),
    Cmp(Cmp),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
    End,
}

/// How far back a relative date may reach: a century is no typo, more is.
pub(super) const MAX_DAYS_AGO: u32 = 36_500;

pub(super) fn tokens(text: &str) -> Result<Vec<(usize, Tok)>, SegmentError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => one(&mut i, Tok::Open),
            b')' => one(&mut i, Tok::Close),
            b'[' => one(&mut i, Tok::OpenList),
            b']' => one(&mut i, Tok::CloseList),
            b',' => one(&mut i, Tok::Comma),
            b'=' => one(&mut i, Tok::Cmp(Cmp::Eq)),
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Cmp(Cmp::Ne)
            }
            b'<' | b'>' => {
                let eq = bytes.get(i + 1) == Some(&b'=');
                i += 1 + usize::from(eq);
                Tok::Cmp(match (c, eq) {
                    (b'<', false) => Cmp::Lt,
                    (b'<', true) => Cmp::Le,
                    (_, false) => Cmp::Gt,
                    (_, true) => Cmp::Ge,
                })
            }
            b'"' => text_literal(text, &mut i)?,
            b'0'..=b'9' => number_or_date(text, &mut i)?,
            b'-' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => number_or_date(text, &mut i)?,
            b'a'..=b'z' | b'A'..=b'Z' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'-')) {
                    i += 1;
                }
                Tok::Word(text[start..i].to_owned())
            }
            _ => {
                let shown = text[i..].chars().next().unwrap_or(' ');
                return Err(SegmentError::at(
                    start,
                    format!("Unexpected character {shown:?}: expected a field, an operator, a value or a parenthesis"),
                ));
            }
        };
        out.push((start, tok));
    }
    out.push((text.len(), Tok::End));
    Ok(out)
}

fn one(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

/// `"…"` with `\"` and `\\` as the only escapes. A NUL cannot be stored or compared in Postgres
/// text, so it is refused here rather than failing in the database.
fn text_literal(text: &str, i: &mut usize) -> Result<Tok, SegmentError> {
    let start = *i;
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((offset, c)) = chars.next() {
        let at = start + 1 + offset;
        match c {
            '"' => {
                *i = at + 1;
                return Ok(Tok::Text(out));
            }
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                _ => return Err(SegmentError::at(at, "Expected \\\" or \\\\ after a backslash in a string")),
            },
            '\0' => return Err(SegmentError::at(at, "A string cannot contain a NUL character")),
            c => out.push(c),
        }
    }
    Err(SegmentError::at(start, "This string has no closing double quote"))
}

/// `12`, `-3.5`, `2026-01-31` or `-30d`: one run of digits, letters, `.`, `-` and `+`, read whole
/// and then classified, so `2026-01-3x` is one bad value rather than a number and a stray word.
fn number_or_date(text: &str, i: &mut usize) -> Result<Tok, SegmentError> {
    let start = *i;
    let bytes = text.as_bytes();
    *i += 1;
    while *i < bytes.len() && (bytes[*i].is_ascii_alphanumeric() || matches!(bytes[*i], b'.' | b'-' | b'+')) {
        *i += 1;
    }
    let word = &text[start..*i];
    if let Some(days) = word.strip_prefix('-').and_then(|w| w.strip_suffix('d')) {
        if !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()) {
            return match days.parse::<u32>() {
                Ok(n) if n <= MAX_DAYS_AGO => Ok(Tok::DaysAgo(n)),
                _ => Err(SegmentError::at(start, format!("A relative date reaches back at most {MAX_DAYS_AGO} days"))),
            };
        }
    }
    if word.len() == 10 && word.as_bytes()[4] == b'-' && word.as_bytes()[7] == b'-' {
        return NaiveDate::parse_from_str(word, "%Y-%m-%d").map(Tok::Date).map_err(|_| {
            SegmentError::at(start, format!("{word} is not a date (expected YYYY-MM-DD, such as 2026-01-31)"))
        });
    }
    let looks_numeric = word.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    match word.parse::<f64>() {
        Ok(n) if looks_numeric && n.is_finite() => Ok(Tok::Number(n)),
        _ => Err(SegmentError::at(
            start,
            format!(
                "{word:?} is not a value: expected a number (12, -3.5), a date (2026-01-31) or a relative date (-30d)"
            ),
        )),
    }
}
