//! Event webhooks out: what an endpoint may ask for (`EventType`), its target (`WebhookUrl`) and
//! the key that signs what it receives (`WebhookSecret`), per the Standard Webhooks specification
//! (<https://www.standardwebhooks.com/>).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The events an endpoint can ask for, as their names on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    SubscriberCreated,
    SubscriberConfirmed,
    SubscriberUnsubscribed,
    SubscriberBounced,
    SubscriberComplained,
    SubscriberErased,
    DigestStarted,
    DigestFinished,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        Self::SubscriberCreated,
        Self::SubscriberConfirmed,
        Self::SubscriberUnsubscribed,
        Self::SubscriberBounced,
        Self::SubscriberComplained,
        Self::SubscriberErased,
        Self::DigestStarted,
        Self::DigestFinished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubscriberCreated => "subscriber.created",
            Self::SubscriberConfirmed => "subscriber.confirmed",
            Self::SubscriberUnsubscribed => "subscriber.unsubscribed",
            Self::SubscriberBounced => "subscriber.bounced",
            Self::SubscriberComplained => "subscriber.complained",
            Self::SubscriberErased => "subscriber.erased",
            Self::DigestStarted => "digest.started",
            Self::DigestFinished => "digest.finished",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw.trim())
    }

    /// A list such as `subscriber.created, digest.finished` (commas, or the items of a JSON
    /// array), at least one, each known; duplicates are dropped and the order made canonical.
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Self>, String> {
        let mut events = Vec::new();
        for item in items.into_iter().flat_map(|i| i.split(',')).map(str::trim).filter(|i| !i.is_empty()) {
            match Self::parse(item) {
                Some(e) => events.push(e),
                None => {
                    let known: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
                    let item: String = item.chars().take(64).collect();
                    return Err(format!("{item:?} is not an event; known events: {}", known.join(", ")));
                }
            }
        }
        if events.is_empty() {
            return Err("name at least one event".to_owned());
        }
        events.sort();
        events.dedup();
        Ok(events)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longer than any endpoint URL a person types; a bound for what we store and show.
const MAX_URL_BYTES: usize = 2048;

/// An http(s) URL with a host. Whether its address may be reached is decided when it is added
/// (an IP literal) and at every connection (names, after DNS), by the feeds' address rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() > MAX_URL_BYTES {
            return Err(format!("the URL is longer than {MAX_URL_BYTES} bytes"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http and https URLs can receive webhooks".to_owned());
        }
        if url.host().is_none() {
            return Err("the URL has no host".to_owned());
        }
        Ok(Self(url))
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Random bytes in a new secret: the specification asks for 24 to 64.
const SECRET_BYTES: usize = 32;
const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing key, `whsec_` followed by base64. The key the HMAC uses is the
/// base64-decoded bytes, not the text: signing with the text would produce signatures no
/// Standard Webhooks library accepts.
#[derive(Clone)]
pub struct WebhookSecret {
    text: SecretString,
    key: Vec<u8>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// A fresh random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut key)?;
        let text = SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)));
        Ok(Self { text, key })
    }

    /// A stored secret (`whsec_` + base64 of at least 24 bytes).
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or("a webhook secret starts with whsec_")?;
        let key = STANDARD.decode(encoded).map_err(|_| "a webhook secret is base64 after whsec_".to_owned())?;
        if key.len() < 24 {
            return Err("a webhook secret holds at least 24 bytes".to_owned());
        }
        Ok(Self { text: SecretString::from(text.to_owned()), key })
    }

    /// `whsec_…`, to show once and to store.
    pub fn expose(&self) -> &str {
        self.text.expose_secret()
    }

    /// The `webhook-signature` header's value: `v1,` + base64 of HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed vector, computed independently of this code with
    /// `printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
    ///  openssl dgst -sha256 -mac HMAC -macopt hexkey:$(printf '%s' MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p) -binary | base64`
    /// (the example of the Standard Webhooks specification's libraries).
    #[test]
    fn signs_with_the_decoded_key_as_the_specification_does() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_checked_and_fresh_ones_round_trip() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
        let fresh = WebhookSecret::generate().unwrap();
        assert!(fresh.expose().starts_with("whsec_"));
        let again = WebhookSecret::parse(fresh.expose()).unwrap();
        assert_eq!(fresh.sign("msg_1", 1, b"x"), again.sign("msg_1", 1, b"x"));
        assert_eq!(format!("{fresh:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn event_lists_are_parsed_once() {
        assert_eq!(
            EventType::parse_list(["digest.finished, subscriber.created", "subscriber.created"]).unwrap(),
            vec![EventType::SubscriberCreated, EventType::DigestFinished]
        );
        assert!(EventType::parse_list(["subscriber.deleted"]).unwrap_err().contains("known events"));
        assert!(EventType::parse_list([" , "]).is_err());
    }

    #[test]
    fn urls_are_http_with_a_host() {
        assert!(WebhookUrl::parse("https://crm.example/hooks/broadsheet").is_ok());
        for bad in ["ftp://x.example/", "not a url", "mailto:a@b.example", "file:///etc/passwd"] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse(&format!("https://x.example/{}", "a".repeat(3000))).is_err());
    }
}
