//! API keys: [`ApiKey`], the secret a script sends as its bearer token, and [`KeyName`], what an
//! operator calls it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::TokenHash;

/// Every key starts with this, so a key pasted into the wrong place (a log, a repository) is
/// recognisable to a secret scanner, and so the admin token is never looked up as a key.
pub const KEY_PREFIX: &str = "bsk_";
const KEY_BYTES: usize = 32;
/// 32 bytes in unpadded base64url.
const KEY_CHARS: usize = 43;

/// A new key: `bsk_` and 256 bits from the OS RNG in base64url. It is shown once, when created;
/// only its [`TokenHash`] is stored (a plain SHA-256 is enough: there is nothing to guess in 256
/// random bits, so a slow KDF would only slow every request).
pub struct ApiKey(SecretString);

impl ApiKey {
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)).into()))
    }

    pub fn hash(&self) -> TokenHash {
        hash(self.0.expose_secret())
    }

    /// The key itself, to show the operator the one time it exists in the clear.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The hash to look a presented bearer token up by, if it has the shape of a key; anything
    /// else (the admin token, a typo) is not worth a query.
    pub fn presented_hash(presented: &str) -> Option<TokenHash> {
        let encoded = presented.strip_prefix(KEY_PREFIX)?;
        let well_formed =
            encoded.len() == KEY_CHARS && URL_SAFE_NO_PAD.decode(encoded).is_ok_and(|bytes| bytes.len() == KEY_BYTES);
        well_formed.then(|| hash(presented))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

fn hash(key: &str) -> TokenHash {
    TokenHash(Sha256::digest(key.as_bytes()).into())
}

/// A key's name: 1 to 40 of `a-z`, `0-9`, `_` and `-`, starting with a letter or digit, so it is
/// safe in a URL path, a shell and a log line as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key name is 1 to 40 characters of a-z, 0-9, _ and -, starting with a letter or digit (not {0:?})")]
pub struct KeyNameError(pub String);

impl KeyName {
    pub const MAX_CHARS: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, KeyNameError> {
        let name = raw.trim();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if first_ok && name.len() <= Self::MAX_CHARS && name.chars().all(allowed) {
            Ok(Self(name.to_owned()))
        } else {
            // Shown back to the operator: cut, so a pasted essay does not fill the screen.
            Err(KeyNameError(name.chars().take(Self::MAX_CHARS + 10).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_have_the_prefix_and_are_found_by_their_hash() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert!(a.expose().starts_with("bsk_"));
        assert_eq!(a.expose().len(), KEY_PREFIX.len() + KEY_CHARS);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(ApiKey::presented_hash(a.expose()), Some(a.hash()));
        assert_eq!(format!("{a:?}"), "ApiKey(***)");
    }

    #[test]
    fn only_the_shape_of_a_key_is_looked_up() {
        let key = ApiKey::generate().unwrap();
        assert_eq!(ApiKey::presented_hash(&key.expose()[..key.expose().len() - 1]), None);
        assert_eq!(ApiKey::presented_hash(&key.expose()[KEY_PREFIX.len()..]), None);
        assert_eq!(ApiKey::presented_hash("bsk_"), None);
        assert_eq!(ApiKey::presented_hash("test-admin-token"), None);
    }

    #[test]
    fn names_are_short_lowercase_words() {
        for good in ["importer", "a", "ci-2026", "x_y", "0day", &"a".repeat(40)] {
            assert_eq!(KeyName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", " ", "Importer", "-lead", "_lead", "has space", "a/b", "ü", &"a".repeat(41), "a\nb"] {
            assert!(KeyName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(KeyName::parse("Bad").unwrap_err().to_string().contains("\"Bad\""));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(input in ".{0,100}") {
            let _ = KeyName::parse(&input);
            let _ = ApiKey::presented_hash(&input);
        }
    }
}
