//! Signed stamps: a random nonce and an instant, in the link tokens' format under the same keys,
//! for what a visitor's browser carries rather than a mail.
//!
//! ```text
//! format (1) = 2 | key id (1) | purpose (1) | nonce (16) | instant, Unix seconds (u32 BE)
//!   | HMAC-SHA256 tag (32) over everything before it
//! ```
//!
//! 55 bytes (74 characters), the length of an unsubscribe token. The purpose byte keeps them
//! apart from links and from each other: 4 is the signup form's token (the instant is when the
//! form was served), 5 a proof-of-work challenge (the instant is when it expires). A link is
//! never taken as a stamp, nor a stamp as a link ([`TokenKeys::check`] knows purposes 1 to 3
//! only). The nonce is what makes each single-use: whoever takes one records it
//! (`form_nonces`), and refuses a nonce already recorded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::Mac as _;
use uuid::Uuid;

use super::{FORMAT, TAG_BYTES, TokenKeys, UNSUBSCRIBE_BYTES};

/// What a stamp is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampPurpose {
    /// The signup form's hidden `form_token`: the instant is when the form was served.
    Form,
    /// A proof-of-work challenge (`GET /subscriptions/challenge`): the instant is its expiry.
    Challenge,
}

impl StampPurpose {
    fn byte(self) -> u8 {
        match self {
            Self::Form => 4,
            Self::Challenge => 5,
        }
    }
}

/// What a stamp says, its tag checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub nonce: Uuid,
    /// Whole seconds.
    pub at: DateTime<Utc>,
}

impl Stamp {
    /// A fresh random nonce at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self { nonce: Uuid::new_v4(), at }
    }
}

impl TokenKeys {
    /// The stamp as text, signed with the first key.
    pub fn stamp(&self, purpose: StampPurpose, stamp: &Stamp) -> String {
        // `new` refuses an empty list.
        let key = &self.keys[0];
        let mut bytes = Vec::with_capacity(UNSUBSCRIBE_BYTES);
        bytes.extend_from_slice(&[FORMAT, key.id, purpose.byte()]);
        bytes.extend_from_slice(stamp.nonce.as_bytes());
        let at = u32::try_from(stamp.at.timestamp().max(0)).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&at.to_be_bytes());
        let mut mac = key.mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The stamp `input` is, when one of our keys signed it for `purpose` (the tag compared in
    /// constant time); `None` for anything else.
    pub fn check_stamp(&self, purpose: StampPurpose, input: &str) -> Option<Stamp> {
        let input = input.trim();
        // 55 bytes are 74 characters; refuse anything else before decoding it.
        if input.len() != 74 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(input).ok()?;
        if bytes.len() != UNSUBSCRIBE_BYTES || bytes[0] != FORMAT || bytes[2] != purpose.byte() {
            return None;
        }
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let id = signed[1];
        self.keys.iter().filter(|k| k.id == id).find(|k| {
            let mut mac = k.mac.clone();
            mac.update(signed);
            mac.verify_slice(tag).is_ok()
        })?;
        let nonce = Uuid::from_bytes(signed[3..19].try_into().ok()?);
        let at = u32::from_be_bytes(signed[19..23].try_into().ok()?);
        Some(Stamp { nonce, at: DateTime::from_timestamp(i64::from(at), 0)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[TokenKeys::generate_secret().unwrap()]).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
    }

    #[test]
    fn a_stamp_says_what_was_signed_for_its_purpose_only() {
        let k = keys();
        let stamp = Stamp::new(now());
        let form = k.stamp(StampPurpose::Form, &stamp);
        assert_eq!(form.len(), 74);
        assert_eq!(k.check_stamp(StampPurpose::Form, &form), Some(stamp));
        assert_eq!(k.check_stamp(StampPurpose::Challenge, &form), None, "a form token is no challenge");
        assert_eq!(k.check(&form), None, "nor a link");
        let challenge = k.stamp(StampPurpose::Challenge, &stamp);
        assert_eq!(k.check_stamp(StampPurpose::Form, &challenge), None);
        let link = k.sign(&super::super::Claims::unsubscribe(Uuid::new_v4(), now()));
        assert_eq!(k.check_stamp(StampPurpose::Form, link.expose()), None, "a link is no stamp");
    }

    #[test]
    fn a_changed_byte_or_another_key_is_refused() {
        let k = keys();
        let token = k.stamp(StampPurpose::Form, &Stamp::new(now()));
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 1;
            assert_eq!(k.check_stamp(StampPurpose::Form, &URL_SAFE_NO_PAD.encode(&changed)), None, "byte {i}");
        }
        assert_eq!(keys().check_stamp(StampPurpose::Form, &token), None);
        for junk in ["", "x", &"A".repeat(74), &format!("{token}A")] {
            assert_eq!(k.check_stamp(StampPurpose::Form, junk), None, "{junk:?}");
        }
    }
}
