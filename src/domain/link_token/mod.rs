//! The tokens in confirmation and unsubscribe links: signed, so that they need no row.
//!
//! A link token is base64url (no padding) of
//!
//! ```text
//! format (1) = 2 | key id (1) | purpose (1) | hidden subscriber id (16) | expires, Unix seconds (u32 BE)
//!   | confirm version (u32 BE, confirm tokens only) | HMAC-SHA256 tag (32) over everything before it
//! ```
//!
//! 55 bytes (74 characters) for an unsubscribe or preferences token, 59 (79) for a confirmation.
//! The purpose byte says what the link may do: 1 confirm, 2 unsubscribe, 3 open the preference
//! page (`/preferences`). Each is refused where another is expected, so a link never does more
//! than the mail it came in offered. The MAC key is
//! the operator's secret (`tokens.keys`), never in the database: a dump of the database holds no
//! usable link, and no one can make one without the key (a forgery has to guess 256 bits).
//! Whether a confirmation token is still good (subscriber pending, version current) is the
//! database's to say; see `store::tokens`.
//!
//! Subscriber ids are UUIDv7: their first 48 bits are the signup time to the millisecond, and
//! the rest holds a counter that orders ids made in the same millisecond. So that a link tells
//! nothing but its expiry, the id is hidden by a keyed permutation of all 16 bytes (four Feistel
//! rounds with HMAC-SHA256 as the round function, under a key derived from the same secret with
//! its own label): without the key it looks random and unordered, with it it comes back exactly.
//! Format 1, from the release before, carried the id in clear; its links are still honoured
//! until they expire (a year at most), and nothing makes them any more.
//!
//! Tokens mailed by earlier releases still are 43 characters of random base64url whose SHA-256
//! is in `subscription_tokens`; [`TokenKeys::check`] tells them apart by length.

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

/// Subscriber id hidden; what [`TokenKeys::sign`] makes.
const FORMAT: u8 = 2;
/// Subscriber id in clear: only verified, until the last of these links expires.
const FORMAT_CLEAR_ID: u8 = 1;
const TAG_BYTES: usize = 32;
/// format, key id, purpose, subscriber, expiry.
const HEAD_BYTES: usize = 1 + 1 + 1 + 16 + 4;
const UNSUBSCRIBE_BYTES: usize = HEAD_BYTES + TAG_BYTES;
const CONFIRM_BYTES: usize = HEAD_BYTES + 4 + TAG_BYTES;
/// The longest token we make (a confirmation's), in characters; anything longer is refused unread.
const MAX_CHARS: usize = 79;
/// Rounds of the Feistel network hiding the subscriber id: four make a strong pseudo-random
/// permutation (Luby–Rackoff).
const HIDING_ROUNDS: u8 = 4;
/// A key must decode to at least this many bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Confirm,
    Unsubscribe,
    /// The preference page: see and change one's lists and name, download or erase one's data.
    Preferences,
}

impl TokenPurpose {
    fn byte(self) -> u8 {
        match self {
            Self::Confirm => 1,
            Self::Unsubscribe => 2,
            Self::Preferences => 3,
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

    pub fn preferences(subscriber: Uuid, expires_at: DateTime<Utc>) -> Self {
        Self { subscriber, purpose: TokenPurpose::Preferences, expires_at, version: None }
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
    /// The round function's key for hiding subscriber ids.
    hiding: HmacSha256,
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
        bytes.extend_from_slice(&key.hide(claims.subscriber));
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
        let (format, purpose) = match (bytes.first(), bytes.get(2), bytes.len()) {
            (Some(&f @ (FORMAT | FORMAT_CLEAR_ID)), Some(1), CONFIRM_BYTES) => (f, TokenPurpose::Confirm),
            (Some(&f @ (FORMAT | FORMAT_CLEAR_ID)), Some(2), UNSUBSCRIBE_BYTES) => (f, TokenPurpose::Unsubscribe),
            // Made only since format 2: a preferences link never carried its subscriber in clear.
            (Some(&FORMAT), Some(3), UNSUBSCRIBE_BYTES) => (FORMAT, TokenPurpose::Preferences),
            _ => return None,
        };
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let id = signed[1];
        // Ids are one byte, derived from the key: two keys may share one, so try each that has it.
        let key = self.keys.iter().filter(|k| k.id == id).find(|k| {
            let mut mac = k.mac.clone();
            mac.update(signed);
            mac.verify_slice(tag).is_ok()
        })?;
        let subscriber: [u8; 16] = signed[3..19].try_into().ok()?;
        let subscriber = match format {
            FORMAT => key.reveal(subscriber),
            _ => Uuid::from_bytes(subscriber),
        };
        let expires = u32::from_be_bytes(signed[19..23].try_into().ok()?);
        let expires_at = DateTime::from_timestamp(i64::from(expires), 0)?;
        let version = match purpose {
            TokenPurpose::Confirm => Some(i32::from_be_bytes(signed[23..27].try_into().ok()?)),
            TokenPurpose::Unsubscribe | TokenPurpose::Preferences => None,
        };
        Some(LinkToken::Signed(Claims { subscriber, purpose, expires_at, version }))
    }
}

impl SigningKey {
    /// The MAC key, the hiding key and the id all come from the secret through SHA-256 with their
    /// own labels, so the id (which every token shows) says nothing about the keys, nor one key
    /// about the other.
    fn derive(raw: &[u8]) -> Self {
        let derived = |label: &[u8]| -> [u8; 32] {
            let mut hasher = Sha256::new();
            hasher.update(label);
            hasher.update(raw);
            hasher.finalize().into()
        };
        let id = derived(b"broadsheet link token key id v1\0")[0];
        // HMAC takes a key of any length.
        let hmac = |key: [u8; 32]| {
            HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
        };
        Self {
            id,
            mac: hmac(derived(b"broadsheet link token mac v1\0")),
            hiding: hmac(derived(b"broadsheet link token subscriber hiding v2\0")),
        }
    }

    /// The subscriber id through a keyed permutation: a Feistel network over its two halves.
    fn hide(&self, subscriber: Uuid) -> [u8; 16] {
        let (mut left, mut right) = halves(*subscriber.as_bytes());
        for round in 0..HIDING_ROUNDS {
            let mixed = xor(left, self.round(round, &right));
            (left, right) = (right, mixed);
        }
        joined(left, right)
    }

    /// [`SigningKey::hide`] undone: the rounds backwards.
    fn reveal(&self, hidden: [u8; 16]) -> Uuid {
        let (mut left, mut right) = halves(hidden);
        for round in (0..HIDING_ROUNDS).rev() {
            let unmixed = xor(right, self.round(round, &left));
            (left, right) = (unmixed, left);
        }
        Uuid::from_bytes(joined(left, right))
    }

    fn round(&self, round: u8, half: &[u8; 8]) -> [u8; 8] {
        let mut mac = self.hiding.clone();
        mac.update(&[round]);
        mac.update(half);
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out[..8]);
        first
    }
}

fn halves(bytes: [u8; 16]) -> ([u8; 8], [u8; 8]) {
    let (mut left, mut right) = ([0u8; 8], [0u8; 8]);
    left.copy_from_slice(&bytes[..8]);
    right.copy_from_slice(&bytes[8..]);
    (left, right)
}

fn joined(left: [u8; 8], right: [u8; 8]) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&left);
    bytes[8..].copy_from_slice(&right);
    bytes
}

fn xor(a: [u8; 8], b: [u8; 8]) -> [u8; 8] {
    std::array::from_fn(|i| a[i] ^ b[i])
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

mod stamp;

pub use stamp::{Stamp, StampPurpose};

#[cfg(test)]
mod tests;
