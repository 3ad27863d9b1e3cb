//! What an API key may do: one [`Scope`] per kind of admin route, and [`Scopes`], the set a key
//! holds. The names are the same in the API, the CLI, the console and the database.

use std::collections::BTreeSet;
use std::fmt;

/// One kind of admin action. Reads and writes are separate so that a script that only reads
/// (a dashboard) or only adds (an importer) holds nothing more.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "subscribers:read")]
    SubscribersRead,
    #[serde(rename = "subscribers:write")]
    SubscribersWrite,
    #[serde(rename = "lists:read")]
    ListsRead,
    #[serde(rename = "lists:write")]
    ListsWrite,
    #[serde(rename = "articles:write")]
    ArticlesWrite,
    #[serde(rename = "digests:read")]
    DigestsRead,
    #[serde(rename = "digests:write")]
    DigestsWrite,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "inbound:write")]
    InboundWrite,
    #[serde(rename = "keys:write")]
    KeysWrite,
}

/// A scope name that is not one of [`Scope::ALL`], named in the message with the list to pick from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope {0:?}; the scopes are {list}", list = Scope::names())]
    Unknown(String),
    #[error("give at least one scope; the scopes are {list}", list = Scope::names())]
    Empty,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::SubscribersRead,
        Scope::SubscribersWrite,
        Scope::ListsRead,
        Scope::ListsWrite,
        Scope::ArticlesWrite,
        Scope::DigestsRead,
        Scope::DigestsWrite,
        Scope::WebhooksWrite,
        Scope::InboundWrite,
        Scope::KeysWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubscribersRead => "subscribers:read",
            Self::SubscribersWrite => "subscribers:write",
            Self::ListsRead => "lists:read",
            Self::ListsWrite => "lists:write",
            Self::ArticlesWrite => "articles:write",
            Self::DigestsRead => "digests:read",
            Self::DigestsWrite => "digests:write",
            Self::WebhooksWrite => "webhooks:write",
            Self::InboundWrite => "inbound:write",
            Self::KeysWrite => "keys:write",
        }
    }

    /// Exactly a name [`Scope::as_str`] gives (surrounding spaces aside): `Subscribers:Read` is
    /// refused rather than guessed at, so what is stored is what the docs list.
    pub fn parse(name: &str) -> Result<Self, ScopeError> {
        let name = name.trim();
        Self::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| ScopeError::Unknown(name.to_owned()))
    }

    fn names() -> String {
        Self::ALL.map(Scope::as_str).join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a credential holds: at least one for a key, every one for `admin.token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// What `admin.token` holds.
    pub fn all() -> Self {
        Self(Scope::ALL.into_iter().collect())
    }

    /// Names as an operator gives them; repeats are kept once, an empty list is refused.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let set =
            names.into_iter().filter(|n| !n.trim().is_empty()).map(Scope::parse).collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(set))
    }

    /// `subscribers:read,subscribers:write`, as the CLI takes them.
    pub fn parse_list(list: &str) -> Result<Self, ScopeError> {
        Self::parse(list.split(','))
    }

    /// Names as stored. A name this version does not know (written by a later one) grants
    /// nothing rather than failing the request.
    pub fn from_stored(names: &[String]) -> Self {
        Self(names.iter().filter_map(|n| Scope::parse(n).ok()).collect())
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The names, in [`Scope::ALL`]'s order, as stored and shown.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_scope_parses_from_its_name_and_serializes_as_it() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
    }

    #[test]
    fn unknown_scopes_are_named_in_the_error() {
        let e = Scopes::parse_list("subscribers:read,subscribers:delete").unwrap_err();
        assert_eq!(e, ScopeError::Unknown("subscribers:delete".to_owned()));
        assert!(e.to_string().contains("\"subscribers:delete\""), "{e}");
        assert!(e.to_string().contains("keys:write"), "{e}");
        assert!(Scope::parse("Subscribers:Read").is_err());
        assert_eq!(Scopes::parse_list(" , "), Err(ScopeError::Empty));
    }

    #[test]
    fn lists_keep_each_scope_once_in_a_fixed_order() {
        let scopes = Scopes::parse_list("digests:read, subscribers:write,digests:read").unwrap();
        assert_eq!(scopes.to_string(), "subscribers:write,digests:read");
        assert!(scopes.contains(Scope::DigestsRead));
        assert!(!scopes.contains(Scope::KeysWrite));
        assert_eq!(Scopes::from_stored(&["keys:write".into(), "from:the-future".into()]).names(), ["keys:write"]);
        assert_eq!(Scopes::all().iter().count(), Scope::ALL.len());
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in ".{0,200}") {
            let _ = Scopes::parse_list(&input);
        }
    }
}
