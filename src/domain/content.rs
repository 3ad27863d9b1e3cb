//! What digests are made of, as the store returns it and mail renders it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Postgres;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use uuid::Uuid;

/// `articles.body_format` (a text column with a CHECK): what a stored body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BodyFormat {
    /// Written here, by an operator.
    Markdown,
    /// HTML that was sanitised before it was stored (feed imports, and HTML articles edited in
    /// the console): rendered as it is, without parsing it again.
    SanitisedHtml,
    /// HTML stored before bodies were sanitised with limited nesting (feed imports until
    /// December 2026): sanitised again at every render.
    Html,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::SanitisedHtml => "sanitised-html",
            Self::Html => "html",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Self::Markdown, Self::SanitisedHtml, Self::Html].into_iter().find(|f| f.as_str() == word)
    }

    pub fn is_html(self) -> bool {
        matches!(self, Self::Html | Self::SanitisedHtml)
    }
}

impl fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// A text column, not a Postgres enum: mapped by hand onto `text`.
impl sqlx::Type<Postgres> for BodyFormat {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for BodyFormat {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let word = <&str as sqlx::Decode<Postgres>>::decode(value)?;
        Self::parse(word).ok_or_else(|| format!("unknown articles.body_format {word:?}").into())
    }
}

impl sqlx::Encode<'_, Postgres> for BodyFormat {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <&str as sqlx::Encode<Postgres>>::encode(self.as_str(), buf)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Article {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub body_format: BodyFormat,
    pub url: Option<String>,
    pub summary: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The digest that already carried it, if any.
    pub digest_id: Option<Uuid>,
}

/// What a digest mail shows whoever receives it: its subject and its articles in order.
#[derive(Debug, Clone)]
pub struct DigestContent {
    /// The digest's id; `None` for a preview of a digest not yet sent.
    pub id: Option<uuid::Uuid>,
    pub subject: String,
    pub articles: Vec<Article>,
    /// The list it goes to: its links leave that list, and its `List-Id` names it. `None` for
    /// content that goes to no list in particular (a preview without one).
    pub list: Option<DigestList>,
}

/// The list a digest goes to, as its mail names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestList {
    pub slug: String,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::BodyFormat;

    #[test]
    fn body_formats_round_trip_through_their_words() {
        for f in [BodyFormat::Markdown, BodyFormat::SanitisedHtml, BodyFormat::Html] {
            assert_eq!(BodyFormat::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        assert_eq!(BodyFormat::parse("rtf"), None);
    }
}
