//! Lists and a subscriber's standing on each: the slug that names a list in URLs, forms, CSV and
//! the `List-Id` header, and the membership statuses.

use std::fmt;

/// A list's slug: `[a-z0-9][a-z0-9-]{0,39}`. It goes into URLs, form values, CSV cells and the
/// `List-Id` header (`<slug.host>`), so nothing that needs escaping in any of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListSlug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListSlugError {
    #[error("A list's slug can't be empty.")]
    Empty,
    #[error("A list's slug can be at most 40 characters long.")]
    TooLong,
    #[error(
        "A list's slug may hold only lower-case letters a–z, digits and hyphens, and starts with a letter or digit (such as \"weekly\" or \"product-news\")."
    )]
    Characters,
}

impl ListSlug {
    pub const MAX_CHARS: usize = 40;

    /// The list every Broadsheet has (created by the migration that introduced lists).
    pub fn default_list() -> Self {
        Self("default".to_owned())
    }

    pub fn parse(input: &str) -> Result<Self, ListSlugError> {
        let slug = input.trim();
        if slug.is_empty() {
            return Err(ListSlugError::Empty);
        }
        if slug.len() > Self::MAX_CHARS {
            return Err(ListSlugError::TooLong);
        }
        let mut chars = slug.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(ListSlugError::Characters);
        }
        Ok(Self(slug.to_owned()))
    }

    /// For slugs the database gives back (its CHECK holds the same rule).
    pub fn from_trusted(slug: String) -> Self {
        Self(slug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == "default"
    }
}

impl fmt::Display for ListSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscriber's standing on one list (`memberships.status`). The address has its own status
/// besides (`SubscriberStatus`): leaving everything, a bounce or a complaint hold for every list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "membership_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum MembershipStatus {
    /// Asked to join a double-opt-in list; the confirmation mail's link makes it `confirmed`.
    Pending,
    Confirmed,
    Unsubscribed,
}

impl MembershipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "pending" => Some(Self::Pending),
            "confirmed" => Some(Self::Confirmed),
            "unsubscribed" => Some(Self::Unsubscribed),
            _ => None,
        }
    }
}

impl fmt::Display for MembershipStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_words_with_hyphens() {
        for good in ["default", "weekly", "product-news", "2026", "a", &"x".repeat(40)] {
            assert_eq!(ListSlug::parse(good).map(|s| s.as_str().to_owned()), Ok(good.to_owned()));
        }
        assert_eq!(ListSlug::parse(""), Err(ListSlugError::Empty));
        assert_eq!(ListSlug::parse(&"x".repeat(41)), Err(ListSlugError::TooLong));
        assert_eq!(ListSlug::parse(&"x".repeat(200)), Err(ListSlugError::TooLong));
        for bad in ["Weekly", "my list", "-news", "news_letter", "é", "a/b", "a.b"] {
            assert_eq!(ListSlug::parse(bad), Err(ListSlugError::Characters), "{bad}");
        }
    }
}
