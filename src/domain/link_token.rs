//! The tokens in confirmation and unsubscribe links: signed, so that they need no row.
//!
//! A link token is base64url (no padding) of
//!
//! ```text
//! format (1) = 1 | key id (1) | purpose (1) | subscriber id (16) | expires, Unix seconds (u32 BE)
//!   | confirm version (u32 BE, confirm tokens only) | HMAC-SHA256 tag (32) over everything before it
//! ```
//!
//! 59 bytes (79 characters) for an unsubscribe token, 63 (84) for a confirmation. The MAC key is
//! the operator's secret (`tokens.keys`), never in the database: a dump of the database holds no
//! usable link, and no one can make one without the key (a forgery has to guess 256 bits).
//! Whether a confirmation token is still good (subscriber pending, version current) is the
//! database's to say; see `store::tokens`.
//!
//! Tokens mailed by earlier releases are 43 characters of random base64url whose SHA-256 is in
//! `subscription_tokens`; [`TokenKeys::check`] tells the two apart by length.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{Token, TokenHash};

type HmacSha256 = Hmac<Sha256>;

const FORMAT: u8 = 1;
const TAG_BYTES: usize = 32;
/// format, key id, purpose, subscriber, expiry.
const HEAD_BYTES: usize = 1 + 1 + 1 + 16 + 4;
const UNSUBSCRIBE_BYTES: usize = HEAD_BYTES + TAG_BYTES;
const CONFIRM_BYTES: usize = HEAD_BYTES + 4 + TAG_BYTES;
/// The longest token we could have made, in characters; anything longer is refused unread.
const MAX_CHARS: usize = 86;
/// A key must decode to at least this many bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Confirm,
    Unsubscribe,
}

impl TokenPurpose {
    fn byte(self) -> u8 {
        match self {
            Self::Confirm => 1,
            Self::Unsubscribe => 2,
        }
    }
}

/// What a signed token says. Only [`TokenKeys::check`] makes one from outside input, and only
/// when its tag holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub subscriber: Uuid,
    pub purpose: TokenPurpose,
    /// Whole seconds; a token is good until this instant.
    pub expires_at: DateTime<Utc>,
    /// For a confirmation: the subscriber's `token_version` when the mail was minted.
    pub version: Option<i32>,
}

impl Claims {
    pub fn confirm(subscriber: Uuid, version: i32, expires_at: DateTime<Utc>) -> Self {
        Self { subscriber, purpose: TokenPurpose::Confirm, expires_at, version: Some(version) }
    }

    pub fn unsubscribe(subscriber: Uuid, expires_at: DateTime<Utc>) -> Self {
        Self { subscriber, purpose: TokenPurpose::Unsubscribe, expires_at, version: None }
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// A token from a link, its tag checked, before the database is asked about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkToken {
    /// Signed by one of our keys and intact; its purpose and expiry are for the caller to judge.
    Signed(Claims),
    /// A random token from before signed links: good if its hash is in `subscription_tokens`.
    Stored(TokenHash),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("is empty: give at least one key (e.g. `openssl rand -base64 32`)")]
    Empty,
    #[error("key {0} is not base64 or hex of at least 32 random bytes (generate one with `openssl rand -base64 32`)")]
    TooShort(usize),
    #[error("key {0} does not look random (too few distinct bytes); generate one with `openssl rand -base64 32`")]
    NotRandom(usize),
}

struct SigningKey {
    id: u8,
    mac: HmacSha256,
}

/// The keys links are signed with (`tokens.keys`): the first signs, every one verifies, so a key
/// can be rotated in (put the new one first) and retired later (remove it once the links it
/// signed may expire, a year for unsubscribe links) without breaking the links in inboxes.
pub struct TokenKeys {
    keys: Vec<SigningKey>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKeys({} keys, ids ", self.keys.len())?;
        f.debug_list().entries(self.keys.iter().map(|k| k.id)).finish()?;
        f.write_str(")")
    }
}

impl TokenKeys {
    /// Each secret is base64 (either alphabet, padded or not) or hex of at least
    /// [`MIN_KEY_BYTES`] bytes.
    pub fn new(secrets: &[SecretString]) -> Result<Self, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::Empty);
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(i, secret)| {
                let raw = decode_key(secret.expose_secret()).ok_or(KeyError::TooShort(i + 1))?;
                let mut distinct = [false; 256];
                raw.iter().for_each(|&b| distinct[usize::from(b)] = true);
                // 32 random bytes have about 30 distinct values; fewer than 16 is a pattern.
                if distinct.iter().filter(|&&d| d).count() < 16 {
                    return Err(KeyError::NotRandom(i + 1));
                }
                Ok(SigningKey::derive(&raw))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// A fresh random key, as text [`TokenKeys::new`] accepts.
    pub fn generate_secret() -> Result<SecretString, getrandom::Error> {
        let mut bytes = [0u8; MIN_KEY_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The link token for `claims`, signed with the first key.
    pub fn sign(&self, claims: &Claims) -> Token {
        // `new` refuses an empty list.
        let key = &self.keys[0];
        let mut bytes = Vec::with_capacity(CONFIRM_BYTES);
        bytes.push(FORMAT);
        bytes.push(key.id);
        bytes.push(claims.purpose.byte());
        bytes.extend_from_slice(claims.subscriber.as_bytes());
        // Past 2106 (or before 1970) the expiry saturates; a link cannot outlive the format.
        let expires = u32::try_from(claims.expires_at.timestamp().max(0)).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&expires.to_be_bytes());
        if claims.purpose == TokenPurpose::Confirm {
            bytes.extend_from_slice(&claims.version.unwrap_or(0).to_be_bytes());
        }
        let mut mac = key.mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        Token::from_link(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// What a link's token is, if it is one: a signed token whose tag one of our keys verifies
    /// (in constant time), or a token of the earlier random form. `None` for anything else
    /// (damaged, forged, signed by a retired key), which callers answer exactly like an unknown
    /// token.
    pub fn check(&self, input: &str) -> Option<LinkToken> {
        let input = input.trim();
        if input.len() > MAX_CHARS {
            return None;
        }
        if let Ok(stored) = Token::parse(input) {
            return Some(LinkToken::Stored(stored.hash()));
        }
        let bytes = URL_SAFE_NO_PAD.decode(input).ok()?;
        let purpose = match (bytes.first(), bytes.get(2), bytes.len()) {
            (Some(&FORMAT), Some(1), CONFIRM_BYTES) => TokenPurpose::Confirm,
            (Some(&FORMAT), Some(2), UNSUBSCRIBE_BYTES) => TokenPurpose::Unsubscribe,
            _ => return None,
        };
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let id = signed[1];
        // Ids are one byte, derived from the key: two keys may share one, so try each that has it.
        let verified = self.keys.iter().filter(|k| k.id == id).any(|k| {
            let mut mac = k.mac.clone();
            mac.update(signed);
            mac.verify_slice(tag).is_ok()
        });
        if !verified {
            return None;
        }
        let subscriber = Uuid::from_slice(&signed[3..19]).ok()?;
        let expires = u32::from_be_bytes(signed[19..23].try_into().ok()?);
        let expires_at = DateTime::from_timestamp(i64::from(expires), 0)?;
        let version = match purpose {
            TokenPurpose::Confirm => Some(i32::from_be_bytes(signed[23..27].try_into().ok()?)),
            TokenPurpose::Unsubscribe => None,
        };
        Some(LinkToken::Signed(Claims { subscriber, purpose, expires_at, version }))
    }
}

impl SigningKey {
    /// The MAC key and the id both come from the secret through SHA-256 with their own labels,
    /// so the id (which every token shows) says nothing about the MAC key.
    fn derive(raw: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"broadsheet link token mac v1\0");
        hasher.update(raw);
        let key: [u8; 32] = hasher.finalize().into();
        let mut hasher = Sha256::new();
        hasher.update(b"broadsheet link token key id v1\0");
        hasher.update(raw);
        let id = hasher.finalize()[0];
        // HMAC takes a key of any length.
        let mac = HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self { id, mac }
    }
}

/// Hex first (a hex string is also valid base64, and would decode to different bytes), then
/// base64 in either alphabet, padded or not.
fn decode_key(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let hex = text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let raw = if hex {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?
    } else {
        [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD].iter().find_map(|engine| engine.decode(text).ok())?
    };
    (raw.len() >= MIN_KEY_BYTES).then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(secrets: &[&str]) -> TokenKeys {
        TokenKeys::new(&secrets.iter().map(|s| SecretString::from((*s).to_owned())).collect::<Vec<_>>()).unwrap()
    }

    fn random() -> String {
        TokenKeys::generate_secret().unwrap().expose_secret().to_owned()
    }

    fn later() -> DateTime<Utc> {
        DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).unwrap()
    }

    #[test]
    fn a_signed_token_says_what_was_signed() {
        let k = keys(&[&random()]);
        let id = Uuid::new_v4();
        for claims in [Claims::confirm(id, 7, later()), Claims::unsubscribe(id, later())] {
            let token = k.sign(&claims);
            assert!(token.expose().len() <= MAX_CHARS);
            assert_eq!(k.check(token.expose()), Some(LinkToken::Signed(claims)));
        }
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let k = keys(&[&random()]);
        let token = k.sign(&Claims::confirm(Uuid::new_v4(), 0, later()));
        let bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 1;
            assert_eq!(k.check(&URL_SAFE_NO_PAD.encode(&changed)), None, "byte {i}");
        }
        assert_eq!(k.check(&token.expose()[1..]), None);
        assert_eq!(k.check(&format!("{}A", token.expose())), None);
    }

    #[test]
    fn the_first_key_signs_and_every_key_verifies() {
        let (old, new) = (random(), random());
        let before = keys(&[&old]).sign(&Claims::unsubscribe(Uuid::new_v4(), later()));
        let rotated = keys(&[&new, &old]);
        assert!(rotated.check(before.expose()).is_some(), "an old key still verifies");
        let after = rotated.sign(&Claims::unsubscribe(Uuid::new_v4(), later()));
        assert!(keys(&[&new]).check(after.expose()).is_some(), "the first key signs");
        assert_eq!(keys(&[&new]).check(before.expose()), None, "a retired key's tokens are refused");
    }

    #[test]
    fn old_random_tokens_are_told_apart() {
        let k = keys(&[&random()]);
        let old = Token::generate().unwrap();
        assert_eq!(k.check(old.expose()), Some(LinkToken::Stored(old.hash())));
    }

    #[test]
    fn keys_must_be_long_and_random() {
        let short = |s: &str| TokenKeys::new(&[SecretString::from(s.to_owned())]).unwrap_err();
        assert_eq!(short("secret"), KeyError::TooShort(1));
        assert_eq!(short(&"0".repeat(64)), KeyError::NotRandom(1));
        assert_eq!(short(&"a".repeat(40)), KeyError::TooShort(1), "30 bytes of base64");
        assert!(TokenKeys::new(&[]).is_err());
        let hex: String = (0u8..32).map(|b| format!("{:02x}", b.wrapping_mul(37))).collect();
        keys(&[&hex]);
        keys(&[&STANDARD.encode((0u8..40).collect::<Vec<u8>>())]);
    }

    #[test]
    fn debug_shows_no_key() {
        let secret = random();
        assert!(!format!("{:?}", keys(&[&secret])).contains(&secret));
    }

    proptest! {
        #[test]
        fn check_never_panics(input in ".{0,120}") {
            let _ = keys(&[&URL_SAFE_NO_PAD.encode((0u8..32).collect::<Vec<u8>>())]).check(&input);
        }
    }
}
