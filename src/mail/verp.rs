//! VERP envelope senders: every message leaves with `bounces+TAG@domain`, TAG naming the
//! delivery it belongs to and signed, so a bounce report says exactly which message failed, and
//! a forged report (anyone can send mail to the bounce address) cannot remove anyone.
//!
//! TAG is `d<delivery id>-<16 hex digits>`: the first 64 bits of HMAC-SHA256 over the id. Hex
//! and lower case, because some MTAs lower-case local parts on the way back.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub struct BounceAddress {
    local: String,
    domain: String,
    key: [u8; 32],
}

impl BounceAddress {
    /// `address` is `mail.bounce_address` (`bounces@news.example.com`); the key is derived from
    /// `secret` with a purpose label, so the same secret used elsewhere yields unrelated keys.
    pub fn new(address: &str, secret: &SecretString) -> Result<Self, String> {
        let (local, domain) = address
            .trim()
            .rsplit_once('@')
            .filter(|(l, d)| !l.is_empty() && d.contains('.') && !l.contains('+') && !l.contains(char::is_whitespace))
            .ok_or_else(|| format!("{address:?} is not an address like bounces@news.example.com (and has no '+')"))?;
        let mut hasher = Sha256::new();
        hasher.update(b"broadsheet verp tag v1\0");
        hasher.update(secret.expose_secret().as_bytes());
        Ok(Self { local: local.to_owned(), domain: domain.to_ascii_lowercase(), key: hasher.finalize().into() })
    }

    /// The envelope sender for one delivery.
    pub fn for_delivery(&self, delivery: i64) -> String {
        format!("{}+d{delivery}-{}@{}", self.local, self.signature(delivery), self.domain)
    }

    /// The delivery an address names, if it is one of ours and its signature holds. `None` for
    /// the plain bounce address, other addresses, and forged or damaged tags alike.
    pub fn delivery_in(&self, address: &str) -> Option<i64> {
        let (local, domain) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let (base, tag) = local.split_once('+')?;
        if !base.eq_ignore_ascii_case(&self.local) {
            return None;
        }
        let (id, signature) = tag.strip_prefix(['d', 'D'])?.split_once('-')?;
        let delivery: i64 = id.parse().ok()?;
        let expected = self.signature(delivery);
        bool::from(expected.as_bytes().ct_eq(signature.to_ascii_lowercase().as_bytes())).then_some(delivery)
    }

    /// Whether an address has the shape of one of our tagged addresses (`local+…@domain`),
    /// whether or not its signature holds.
    pub fn looks_tagged(&self, address: &str) -> bool {
        let Some((local, domain)) = address.trim().trim_matches(['<', '>']).rsplit_once('@') else { return false };
        domain.eq_ignore_ascii_case(&self.domain)
            && local.split_once('+').is_some_and(|(base, _)| base.eq_ignore_ascii_case(&self.local))
    }

    /// Whether an address is the plain bounce address (no tag).
    pub fn is_plain(&self, address: &str) -> bool {
        address.trim().trim_matches(['<', '>']).eq_ignore_ascii_case(&format!("{}@{}", self.local, self.domain))
    }

    fn signature(&self, delivery: i64) -> String {
        // HMAC takes a key of any length; this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else { return String::new() };
        mac.update(&delivery.to_be_bytes());
        mac.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verp() -> BounceAddress {
        BounceAddress::new("bounces@News.Example.com", &SecretString::from("a secret of some length")).unwrap()
    }

    #[test]
    fn a_tag_names_its_delivery_and_survives_lower_casing() {
        let verp = verp();
        let address = verp.for_delivery(42);
        assert!(address.starts_with("bounces+d42-") && address.ends_with("@news.example.com"), "{address}");
        assert_eq!(verp.delivery_in(&address), Some(42));
        assert_eq!(verp.delivery_in(&address.to_ascii_uppercase()), Some(42));
        assert_eq!(verp.delivery_in(&format!("<{address}>")), Some(42));
    }

    #[test]
    fn forged_damaged_or_foreign_tags_name_nothing() {
        let verp = verp();
        let real = verp.for_delivery(42);
        let forged = real.replace("d42-", "d43-");
        assert_eq!(verp.delivery_in(&forged), None);
        let other_key = BounceAddress::new("bounces@news.example.com", &SecretString::from("another")).unwrap();
        assert_eq!(verp.delivery_in(&other_key.for_delivery(42)), None);
        assert_eq!(verp.delivery_in("bounces@news.example.com"), None);
        assert_eq!(verp.delivery_in(&real.replace("example.com", "example.org")), None);
        assert!(verp.is_plain("<bounces@news.example.com>"));
    }

    #[test]
    fn a_bounce_address_must_be_an_address_without_a_tag() {
        let secret = SecretString::from("x");
        assert!(BounceAddress::new("bounces", &secret).is_err());
        assert!(BounceAddress::new("b+x@news.example.com", &secret).is_err());
        assert!(BounceAddress::new("@news.example.com", &secret).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_address_is_checked_without_panicking(address in "\\PC{0,80}") {
            let _ = verp().delivery_in(&address);
        }
    }
}
