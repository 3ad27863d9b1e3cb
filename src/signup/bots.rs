//! Bot defences on signups (docs/bots.md): the signup form's honeypot and signed token, and an
//! optional proof of work. Each check here is arithmetic on what the request carries and costs
//! no statement: whether a token's nonce was used before is decided by the signup's own
//! statement (`store::signups`), which records it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::domain::{Stamp, StampPurpose, TokenKeys};

/// A form token is good for a day: long enough for a tab left open, short enough that a
/// harvested token is soon worthless (and that its nonce's row can go after that).
pub const FORM_TOKEN_TTL: Duration = Duration::from_secs(FORM_TOKEN_TTL_SECS as u64);
const FORM_TOKEN_TTL_SECS: i64 = 24 * 3600;
/// A challenge is good this long: a browser solves one in well under a second.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(10 * 60);
/// A solution longer than this is refused unread: a counter in decimal needs 10 characters.
const MAX_SOLUTION_CHARS: usize = 64;
/// The honeypot field's name: a plausible field for a bot to fill.
pub const HONEYPOT: &str = "website";

/// Why a signup was refused, as counted in `broadsheet_signups_refused_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The honeypot was filled.
    Honeypot,
    /// A form post without a form token.
    Missing,
    /// A form token none of our keys signed.
    Forged,
    /// Posted sooner than `limits.signup_min_seconds` after the form was served.
    TooFast,
    /// A form token older than a day, or an expired challenge.
    Expired,
    /// A form token or challenge used before.
    Replayed,
    /// A proof of work missing or wrong.
    Pow,
    /// `subscriptions.check_mx`: the address's domain receives no mail.
    NoMx,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Self::Honeypot,
        Self::Missing,
        Self::Forged,
        Self::TooFast,
        Self::Expired,
        Self::Replayed,
        Self::Pow,
        Self::NoMx,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Honeypot => "honeypot",
            Self::Missing => "missing",
            Self::Forged => "forged",
            Self::TooFast => "too_fast",
            Self::Expired => "expired",
            Self::Replayed => "replayed",
            Self::Pow => "pow",
            Self::NoMx => "no_mx",
        }
    }
}

/// A form token for a form served at `served_at`.
pub fn form_token(keys: &TokenKeys, served_at: DateTime<Utc>) -> String {
    keys.stamp(StampPurpose::Form, &Stamp::new(served_at))
}

/// The form's fields judged: the honeypot empty, the token ours, not too fast, not too old.
/// The answer is the token's nonce, which the signup's statement must find unused.
pub fn check_form(
    keys: &TokenKeys,
    token: Option<&str>,
    honeypot: Option<&str>,
    min_seconds: u32,
    now: DateTime<Utc>,
) -> Result<Uuid, Refusal> {
    if honeypot.is_some_and(|h| !h.trim().is_empty()) {
        return Err(Refusal::Honeypot);
    }
    let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or(Refusal::Missing)?;
    let stamp = keys.check_stamp(StampPurpose::Form, token).ok_or(Refusal::Forged)?;
    let age = now.signed_duration_since(stamp.at);
    // Served in the future (another process's clock ahead) counts as too fast, as it should.
    if age < chrono::Duration::seconds(i64::from(min_seconds)) {
        return Err(Refusal::TooFast);
    }
    if age > chrono::Duration::seconds(FORM_TOKEN_TTL_SECS) {
        return Err(Refusal::Expired);
    }
    Ok(stamp.nonce)
}

/// A fresh proof-of-work challenge and when it expires.
pub fn challenge(keys: &TokenKeys, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    // Whole seconds, as the stamp keeps them.
    let expires = now + chrono::Duration::from_std(CHALLENGE_TTL).unwrap_or(chrono::Duration::zero());
    let expires = DateTime::from_timestamp(expires.timestamp(), 0).unwrap_or(expires);
    (keys.stamp(StampPurpose::Challenge, &Stamp::new(expires)), expires)
}

/// A proof of work judged: our challenge, not expired, and SHA-256(challenge ":" solution)
/// starting with `difficulty` zero bits (one hash). The answer is the challenge's nonce, which
/// the signup's statement must find unused. `Expired` for an expired challenge, `Pow` for the
/// rest.
pub fn check_pow(
    keys: &TokenKeys,
    challenge: &str,
    solution: &str,
    difficulty: u8,
    now: DateTime<Utc>,
) -> Result<Uuid, Refusal> {
    let challenge = challenge.trim();
    let solution = solution.trim();
    if solution.is_empty() || solution.len() > MAX_SOLUTION_CHARS {
        return Err(Refusal::Pow);
    }
    let stamp = keys.check_stamp(StampPurpose::Challenge, challenge).ok_or(Refusal::Pow)?;
    if stamp.at <= now {
        return Err(Refusal::Expired);
    }
    if leading_zero_bits(&work(challenge, solution)) < u32::from(difficulty) {
        return Err(Refusal::Pow);
    }
    Ok(stamp.nonce)
}

/// Finds a solution by counting up, as the page's script does; for tests and examples.
pub fn solve(challenge: &str, difficulty: u8) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|s| leading_zero_bits(&work(challenge, s)) >= u32::from(difficulty))
        .unwrap_or_default()
}

fn work(challenge: &str, solution: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(challenge.as_bytes());
    hash.update(b":");
    hash.update(solution.as_bytes());
    hash.finalize().into()
}

fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[TokenKeys::generate_secret().unwrap()]).unwrap()
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[test]
    fn a_form_token_is_good_from_the_wait_until_a_day() {
        let k = keys();
        let now = Utc::now();
        let token = form_token(&k, now - secs(5));
        let nonce = check_form(&k, Some(&token), None, 2, now).unwrap();
        assert_eq!(check_form(&k, Some(&token), Some(""), 2, now), Ok(nonce), "an empty honeypot is fine");
        assert_eq!(check_form(&k, Some(&token), Some("http://spam"), 2, now), Err(Refusal::Honeypot));
        assert_eq!(check_form(&k, Some(&form_token(&k, now)), None, 2, now), Err(Refusal::TooFast));
        assert_eq!(check_form(&k, Some(&form_token(&k, now)), None, 0, now).map(|_| ()), Ok(()));
        let old = form_token(&k, now - secs(24 * 3600 + 1));
        assert_eq!(check_form(&k, Some(&old), None, 2, now), Err(Refusal::Expired));
        assert_eq!(check_form(&k, None, None, 2, now), Err(Refusal::Missing));
        assert_eq!(check_form(&k, Some(" "), None, 2, now), Err(Refusal::Missing));
        assert_eq!(check_form(&keys(), Some(&token), None, 2, now), Err(Refusal::Forged));
        let (challenge, _) = challenge(&k, now);
        assert_eq!(
            check_form(&k, Some(&challenge), None, 0, now),
            Err(Refusal::Forged),
            "a challenge is no form token"
        );
    }

    #[test]
    fn a_proof_of_work_holds_for_its_own_challenge_until_it_expires() {
        let k = keys();
        let now = Utc::now();
        let (challenge, expires_at) = challenge(&k, now);
        assert!(expires_at > now);
        let solution = solve(&challenge, 12);
        assert!(leading_zero_bits(&work(&challenge, &solution)) >= 12);
        assert!(check_pow(&k, &challenge, &solution, 12, now).is_ok());
        let (other, _) = super::challenge(&k, now);
        // One in 4096 solutions also holds for another challenge by chance.
        if leading_zero_bits(&work(&other, &solution)) < 12 {
            assert_eq!(check_pow(&k, &other, &solution, 12, now), Err(Refusal::Pow), "another challenge's solution");
        }
        assert_eq!(check_pow(&k, &challenge, "", 12, now), Err(Refusal::Pow));
        assert_eq!(check_pow(&k, &challenge, &"1".repeat(65), 12, now), Err(Refusal::Pow));
        assert_eq!(check_pow(&k, "nonsense", &solution, 12, now), Err(Refusal::Pow));
        assert_eq!(check_pow(&k, &challenge, &solution, 12, expires_at), Err(Refusal::Expired));
        assert_eq!(check_pow(&keys(), &challenge, &solution, 12, now), Err(Refusal::Pow));
    }

    #[test]
    fn every_refusal_is_a_metric_label() {
        let labels: Vec<&str> = Refusal::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels, crate::telemetry::metrics::SIGNUP_REFUSALS);
    }

    #[test]
    fn zero_bits_are_counted_from_the_first_byte() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x10, 0]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
