//! DKIM signatures (RFC 6376, Ed25519 per RFC 8463), relaxed/relaxed, over the headers bulk
//! senders must sign. Signing is lettre's; this module reads the key an operator has (a PEM file
//! from `openssl genpkey`, RSA or Ed25519, PKCS#8 or PKCS#1), and derives the public key that
//! goes into DNS, so `broadsheet doctor` can print the exact record and check that it matches.

use base64::Engine as _;
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};

/// The headers every signature covers (DESIGN.md "Deliverability"): the ones a receiver shows or
/// acts on, including the one-click unsubscribe pair Gmail and Yahoo require to be signed.
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
];

/// ASN.1 prefix of a PKCS#8 Ed25519 private key (RFC 8410): the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ed25519,
}

pub struct DkimSigner {
    config: DkimConfig,
    pub domain: String,
    pub selector: String,
    pub kind: KeyKind,
    /// Base64 of the public key as DNS carries it (`p=`).
    pub public_key: String,
}

impl DkimSigner {
    /// From the PEM text of a private key. Errors say what is wrong in words an operator can act on.
    pub fn from_pem(domain: &str, selector: &str, pem: &str) -> Result<Self, String> {
        let (key, kind, public_key) = read_key(pem)?;
        let headers = SIGNED_HEADERS.iter().map(|h| HeaderName::new_from_ascii_str(h)).collect();
        let canonicalization =
            DkimCanonicalization { header: DkimCanonicalizationType::Relaxed, body: DkimCanonicalizationType::Relaxed };
        let config = DkimConfig::new(selector.to_owned(), domain.to_owned(), key, headers, canonicalization);
        Ok(Self { config, domain: domain.to_owned(), selector: selector.to_owned(), kind, public_key })
    }

    pub fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    pub fn dns_record(&self) -> (String, String) {
        let k = match self.kind {
            KeyKind::Rsa => "rsa",
            KeyKind::Ed25519 => "ed25519",
        };
        (format!("{}._domainkey.{}", self.selector, self.domain), format!("v=DKIM1; k={k}; p={}", self.public_key))
    }
}

fn read_key(pem: &str) -> Result<(DkimSigningKey, KeyKind, String), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| format!("not a readable RSA key: {e}"))?;
        return rsa_key(&key);
    }
    if pem.contains("BEGIN PRIVATE KEY") {
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            return rsa_key(&key);
        }
        let der = pem_body(pem)?;
        if der.len() == 48 && der[..16] == ED25519_PKCS8_PREFIX {
            let seed: [u8; 32] = der[16..].try_into().map_err(|_| "an Ed25519 key of the wrong length".to_owned())?;
            let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            let key = DkimSigningKey::new(&b64.encode(seed), DkimSigningAlgorithm::Ed25519)
                .map_err(|e| format!("not a usable Ed25519 key: {e}"))?;
            return Ok((key, KeyKind::Ed25519, b64.encode(public)));
        }
        return Err("a private key, but neither RSA nor Ed25519".to_owned());
    }
    Err("not a PEM private key (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)".to_owned())
}

fn rsa_key(key: &rsa::RsaPrivateKey) -> Result<(DkimSigningKey, KeyKind, String), String> {
    use rsa::traits::PublicKeyParts as _;
    if key.size() * 8 < 1024 {
        return Err(format!("an RSA key of {} bits; receivers ignore keys under 1024 bits (use 2048)", key.size() * 8));
    }
    let pkcs1 =
        key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).map_err(|e| format!("cannot re-encode the RSA key: {e}"))?;
    let signing =
        DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa).map_err(|e| format!("not a usable RSA key: {e}"))?;
    let public =
        key.to_public_key().to_public_key_der().map_err(|e| format!("cannot derive the RSA public key: {e}"))?;
    Ok((signing, KeyKind::Rsa, base64::engine::general_purpose::STANDARD.encode(public.as_bytes())))
}

fn pem_body(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("the PEM body is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test keys made with `openssl genpkey` for the tests and used nowhere else.
    const ED25519: &str = include_str!("../../tests/fixtures/dkim-ed25519.pem");
    const RSA: &str = include_str!("../../tests/fixtures/dkim-rsa.pem");

    #[test]
    fn an_rsa_key_in_pkcs8_yields_a_public_key_for_dns() {
        let signer = DkimSigner::from_pem("news.example.com", "s1", RSA).unwrap();
        assert_eq!(signer.kind, KeyKind::Rsa);
        assert!(signer.dns_record().1.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"), "{}", signer.dns_record().1);
    }

    #[test]
    fn an_ed25519_key_signs_and_yields_its_dns_record() {
        let signer = DkimSigner::from_pem("news.example.com", "s1", ED25519).unwrap();
        assert_eq!(signer.kind, KeyKind::Ed25519);
        let (name, value) = signer.dns_record();
        assert_eq!(name, "s1._domainkey.news.example.com");
        assert!(value.starts_with("v=DKIM1; k=ed25519; p="), "{value}");
        let mut message = Message::builder()
            .from("News <news@news.example.com>".parse().unwrap())
            .to("ada@example.org".parse().unwrap())
            .subject("Hello")
            .body("Hi\r\n".to_owned())
            .unwrap();
        signer.sign(&mut message);
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("DKIM-Signature: v=1; a=ed25519-sha256; d=news.example.com; s=s1;"), "{raw}");
        assert!(raw.contains("c=relaxed/relaxed"));
    }

    #[test]
    fn keys_that_cannot_sign_are_refused_with_a_reason() {
        let refused = |pem: &str| DkimSigner::from_pem("d", "s", pem).err().unwrap_or_default();
        assert!(refused("hello").contains("not a PEM private key"));
        assert!(!refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_empty());
    }
}
