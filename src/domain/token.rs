use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// 32 bytes in unpadded base64url.
const TOKEN_CHARS: usize = 43;

/// A secret shown to a user as base64url: 256 bits from the OS RNG (console sessions, CSRF,
/// idempotency keys, and the links mailed before signed links), of which only the [`TokenHash`]
/// is ever stored; or a signed link token ([`super::TokenKeys::sign`]), which is stored nowhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// SHA-256 of a token's bytes, the only form that reaches the database. A plain hash (no salt,
/// no slow KDF) is right here: the input has 256 bits of entropy, so there is nothing to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("This link is not valid. Please use the whole link from the email.")]
pub struct MalformedToken;

impl Token {
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts exactly what [`Token::generate`] produces, nothing looser.
    pub fn parse(input: &str) -> Result<Self, MalformedToken> {
        let input = input.trim();
        if input.len() != TOKEN_CHARS {
            return Err(MalformedToken);
        }
        match URL_SAFE_NO_PAD.decode(input) {
            Ok(bytes) if bytes.len() == TOKEN_BYTES => Ok(Self(input.to_owned())),
            _ => Err(MalformedToken),
        }
    }

    /// A signed link token (see [`super::TokenKeys::sign`]), carried like a random one.
    pub(super) fn from_link(text: String) -> Self {
        Self(text)
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The plaintext, for building a link in a mail. Nothing else should need it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(Token::parse(a.expose()).unwrap(), a);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "Token(***)");
    }

    #[test]
    fn refuses_truncated_or_padded_tokens() {
        let t = Token::generate().unwrap();
        assert!(Token::parse(&t.expose()[1..]).is_err());
        assert!(Token::parse(&format!("{}=", t.expose())).is_err());
        assert!(Token::parse("").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in ".{0,100}") {
            let _ = Token::parse(&input);
        }
    }
}
