//! Article and digest input from operators, checked once.

use url::Url;

/// A field an operator must fix, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

/// Text for one line (a title, a subject): trimmed, not empty, bounded. A line break is refused
/// (someone is trying to add a header line); other control characters are removed.
fn one_line(field: &'static str, input: &str, max_chars: usize) -> Result<String, FieldError> {
    if input.trim().contains(['\r', '\n']) {
        return Err(bad(field, format!("The {field} must be one line.")));
    }
    let cleaned = super::single_line(input);
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        return Err(bad(field, format!("The {field} must not be empty.")));
    }
    if trimmed.chars().count() > max_chars {
        return Err(bad(field, format!("The {field} is longer than {max_chars} characters.")));
    }
    Ok(trimmed.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleInput {
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub summary: Option<String>,
}

/// Bodies are Markdown; a long-read essay is ~100 KB, so this leaves room without inviting abuse.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

impl ArticleInput {
    pub fn parse(title: &str, body: &str, url: Option<&str>, summary: Option<&str>) -> Result<Self, FieldError> {
        let title = one_line("title", title, 300)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(bad("body", format!("The body is larger than {} KiB.", MAX_BODY_BYTES / 1024)));
        }
        // Line feeds and tabs stay; carriage returns (browsers send CRLF) and other control
        // characters go.
        let body = super::multi_line(body);
        if body.trim().is_empty() {
            return Err(bad("body", "The body must not be empty (Markdown text)."));
        }
        let url = match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(raw) => {
                let parsed = Url::parse(raw).map_err(|_| bad("url", format!("{raw:?} is not a URL.")))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(bad("url", "The url must start with http:// or https://."));
                }
                Some(parsed.to_string())
            }
        };
        let summary = match summary.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) if s.chars().count() > 1000 => {
                return Err(bad("summary", "The summary is longer than 1000 characters."));
            }
            Some(s) => Some(super::multi_line(s)),
        };
        Ok(Self { title, body, url, summary })
    }
}

pub fn parse_subject(input: &str) -> Result<String, FieldError> {
    one_line("subject", input, 200)
}

/// `Idempotency-Key`: what clients send is usually a UUID; anything printable and short will do.
pub fn parse_idempotency_key(input: &str) -> Result<String, FieldError> {
    let key = input.trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad("Idempotency-Key", "The Idempotency-Key header must be 1 to 200 visible ASCII characters."));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_checked_field_by_field() {
        let ok = ArticleInput::parse("  Hello  ", "Body", Some("https://example.com/a"), Some(" ")).unwrap();
        assert_eq!(ok.title, "Hello");
        assert_eq!(ok.summary, None);
        assert_eq!(ArticleInput::parse("", "b", None, None).unwrap_err().field, "title");
        assert_eq!(ArticleInput::parse("a\r\nBcc: x", "b", None, None).unwrap_err().field, "title");
        let coloured = ArticleInput::parse("\u{1b}[31mRed\u{7}", "a\r\nb\u{1b}", None, Some("s\u{9b}1m")).unwrap();
        assert_eq!((coloured.title.as_str(), coloured.body.as_str()), ("[31mRed", "a\nb"));
        assert_eq!(coloured.summary.as_deref(), Some("s1m"));
        assert_eq!(ArticleInput::parse("\u{1b}\u{7}", "b", None, None).unwrap_err().field, "title");
        assert_eq!(ArticleInput::parse("t", " ", None, None).unwrap_err().field, "body");
        assert_eq!(ArticleInput::parse("t", "b", Some("javascript:alert(1)"), None).unwrap_err().field, "url");
        assert_eq!(ArticleInput::parse("t", "b", Some("not a url"), None).unwrap_err().field, "url");
    }

    #[test]
    fn subjects_and_keys() {
        assert!(parse_subject("Weekly news").is_ok());
        assert!(parse_subject("a\nb").is_err());
        assert!(parse_idempotency_key("0b1c-22").is_ok());
        assert!(parse_idempotency_key("has space").is_err());
    }
}
