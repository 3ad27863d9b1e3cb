//! DKIM signatures (RFC 6376; Ed25519 per RFC 8463), relaxed/relaxed, over the headers bulk
//! senders must sign. We sign the final bytes of a message ourselves: lettre's signer hashes
//! its header map before the multipart `Content-Type` is added at formatting time, so its
//! signatures over `Content-Type` fail at every verifier (found with dkimpy). This module also
//! reads the key an operator has (a PEM file from `openssl genpkey`, RSA or Ed25519, PKCS#8 or
//! PKCS#1) and derives the public key that goes into DNS, so `broadsheet doctor` can print the
//! exact record.
//!
//! Why ours and not a maintained signer such as `mail-auth` (Stalwart's): its current release
//! (0.15) needs rustc 1.98 through `mail-parser` 1.0, newer than our toolchain; the last release
//! that builds here (0.7.1) pins `hickory-resolver = 0.26.0-alpha.1` with TLS features, a second
//! resolver beside ours. And it costs more where we sign most: the same 35 KB digest message,
//! signed in one process by both (release build, 500 messages, three rounds, 2026-12-07, the
//! machine busy with a build, so the ranges are wide), took
//! 195-233 us with our Ed25519 against 499-625 us with 0.7.1's (2.1-3.2x), and 1.07-1.41 ms
//! against 1.37-2.01 ms with RSA-2048; dkimpy verified both signers' output. We would switch
//! at a signing cost within 20 % of ours.

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};

/// The headers every signature covers: the ones a receiver shows or
/// acts on, including the one-click unsubscribe pair Gmail and Yahoo require to be signed.
/// Those a message lacks are left out of `h=`.
pub const SIGNED_HEADERS: [&str; 11] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
];

/// ASN.1 prefix of a PKCS#8 Ed25519 private key (RFC 8410): the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ed25519,
}

enum Key {
    /// Signed with ring: the `rsa` crate took ~5 ms per signature here (bench/run, DKIM rows),
    /// capping a signed digest near 200 msgs/s; ring's assembly is several times faster. The
    /// `rsa` crate still reads PKCS#1 keys and derives the public key for DNS.
    Rsa(Box<ring::signature::RsaKeyPair>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

pub struct DkimSigner {
    key: Key,
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
        Ok(Self { key, domain: domain.to_ascii_lowercase(), selector: selector.to_owned(), kind, public_key })
    }

    /// The message with a `DKIM-Signature` header in front.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let (headers, body) = split(message);
        let body_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(relaxed_body(body)));
        let fields = header_fields(headers);
        let signed: Vec<&str> = SIGNED_HEADERS
            .iter()
            .copied()
            .filter(|name| fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
            .collect();
        let algorithm = match self.kind {
            KeyKind::Rsa => "rsa-sha256",
            KeyKind::Ed25519 => "ed25519-sha256",
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let unsigned = format!(
            "v=1; a={algorithm}; c=relaxed/relaxed; d={}; s={}; t={now};\r\n h={};\r\n bh={body_hash};\r\n b=",
            self.domain,
            self.selector,
            signed.join(":")
        );
        let mut data = String::with_capacity(1024);
        for name in &signed {
            // The last instance of a name is the one signed first (RFC 6376 5.4.2); ours occur once.
            if let Some((n, value)) = fields.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                data.push_str(&relaxed_header(n, value));
                data.push_str("\r\n");
            }
        }
        data.push_str(&relaxed_header("DKIM-Signature", &unsigned));
        let signature = match &self.key {
            // RSASSA-PKCS1-v1_5 with SHA-256 over the data (ring hashes it). It cannot fail for a
            // key ring accepted; an empty b= (which verifiers reject, as they would an unsigned
            // message) is the fallback, not a panic.
            Key::Rsa(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                let rng = ring::rand::SystemRandom::new();
                match key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, data.as_bytes(), &mut signature) {
                    Ok(()) => signature,
                    Err(_) => Vec::new(),
                }
            }
            // Ed25519-SHA256 (RFC 8463) signs the SHA-256 of the data.
            Key::Ed25519(key) => key.sign(&Sha256::digest(data.as_bytes())).to_bytes().to_vec(),
        };
        let b = base64::engine::general_purpose::STANDARD.encode(signature);
        let mut out = Vec::with_capacity(message.len() + unsigned.len() + b.len() + 20);
        out.extend_from_slice(b"DKIM-Signature: ");
        out.extend_from_slice(unsigned.as_bytes());
        out.extend_from_slice(b.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(message);
        out
    }

    /// Checks a signature this signer made, with the public key it derived (for `doctor`: the
    /// key pair works, and the record printed for DNS is the one that verifies).
    pub fn verify_own(&self, signed: &[u8]) -> Result<(), String> {
        let (headers, body) = split(signed);
        let fields = header_fields(headers);
        let (_, value) =
            fields.first().filter(|(n, _)| n.eq_ignore_ascii_case("DKIM-Signature")).ok_or("not signed")?;
        let b_at = value.rfind("b=").ok_or("no b= tag")?;
        let signature: String = value[b_at + 2..].chars().filter(|c| !c.is_whitespace()).collect();
        let signature = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|e| e.to_string())?;
        let unsigned = &value[..b_at + 2];
        // The signed message is the signature's header line ("DKIM-Signature:", value, CRLF)
        // in front of the original.
        let original = signed.get("DKIM-Signature:".len() + value.len() + 2..).ok_or("truncated")?;
        let (orig_headers, orig_body) = split(original);
        if Sha256::digest(relaxed_body(orig_body)) != Sha256::digest(relaxed_body(body)) {
            return Err("body hash mismatch".to_owned());
        }
        let orig_fields = header_fields(orig_headers);
        let mut hasher = Sha256::new();
        let h = unsigned.split("h=").nth(1).and_then(|h| h.split(';').next()).unwrap_or_default();
        for name in h.split(':').map(str::trim).filter(|n| !n.is_empty()) {
            if let Some((n, v)) = orig_fields.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                hasher.update(relaxed_header(n, v).as_bytes());
                hasher.update(b"\r\n");
            }
        }
        hasher.update(relaxed_header("DKIM-Signature", unsigned).as_bytes());
        let digest = hasher.finalize();
        let public = base64::engine::general_purpose::STANDARD.decode(&self.public_key).map_err(|e| e.to_string())?;
        match self.kind {
            KeyKind::Rsa => {
                use rsa::pkcs8::DecodePublicKey as _;
                let key = rsa::RsaPublicKey::from_public_key_der(&public).map_err(|e| e.to_string())?;
                key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &signature).map_err(|e| e.to_string())
            }
            KeyKind::Ed25519 => {
                let bytes: [u8; 32] = public.as_slice().try_into().map_err(|_| "bad public key".to_owned())?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| e.to_string())?;
                let signature = ed25519_dalek::Signature::from_slice(&signature).map_err(|e| e.to_string())?;
                key.verify_strict(&digest, &signature).map_err(|e| e.to_string())
            }
        }
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

/// Header block and body, at the first empty line.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&message[..at + 2], &message[at + 4..]),
        None => (message, b""),
    }
}

/// (name, raw value with folding) for every header field.
fn header_fields(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str("\r\n");
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.to_owned(), value.to_owned()));
        }
    }
    fields
}

/// RFC 6376 3.4.2: lower-case name, unfolded value, runs of white space as one space, none at
/// either end, nothing around the colon.
fn relaxed_header(name: &str, value: &str) -> String {
    let unfolded = value.replace("\r\n", "");
    let compact = unfolded.split([' ', '\t']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    format!("{}:{compact}", name.trim().to_ascii_lowercase())
}

/// RFC 6376 3.4.4: white space runs as one space, none at line ends, no empty lines at the end.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = body
        .split(|&b| b == b'\n')
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut out = Vec::with_capacity(line.len());
            let mut in_space = false;
            for &b in line {
                if b == b' ' || b == b'\t' {
                    in_space = true;
                } else {
                    if in_space {
                        out.push(b' ');
                    }
                    in_space = false;
                    out.push(b);
                }
            }
            out
        })
        .collect();
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let mut out = Vec::with_capacity(body.len());
    for line in lines {
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_key(pem: &str) -> Result<(Key, KeyKind, String), String> {
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| format!("not a readable RSA key: {e}"))?;
        return rsa_key(key);
    }
    if pem.contains("BEGIN PRIVATE KEY") {
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            return rsa_key(key);
        }
        let der = pem_body(pem)?;
        if der.len() == 48 && der[..16] == ED25519_PKCS8_PREFIX {
            let seed: [u8; 32] = der[16..].try_into().map_err(|_| "an Ed25519 key of the wrong length".to_owned())?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes());
            return Ok((Key::Ed25519(Box::new(key)), KeyKind::Ed25519, public));
        }
        return Err("a private key, but neither RSA nor Ed25519".to_owned());
    }
    Err("not a PEM private key (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)".to_owned())
}

fn rsa_key(key: rsa::RsaPrivateKey) -> Result<(Key, KeyKind, String), String> {
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    if key.size() * 8 < 2048 {
        return Err(format!(
            "an RSA key of {} bits; use 2048 bits or more (receivers distrust shorter keys)",
            key.size() * 8
        ));
    }
    let pkcs8 = key.to_pkcs8_der().map_err(|e| format!("cannot re-encode the RSA key: {e}"))?;
    let signing = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.as_bytes())
        .map_err(|e| format!("the RSA key cannot sign: {e}"))?;
    let public =
        key.to_public_key().to_public_key_der().map_err(|e| format!("cannot derive the RSA public key: {e}"))?;
    let public = base64::engine::general_purpose::STANDARD.encode(public.as_bytes());
    Ok((Key::Rsa(Box::new(signing)), KeyKind::Rsa, public))
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
        let message = b"From: News <news@news.example.com>\r\nTo: ada@example.org\r\nSubject: Hello\r\n\r\nHi\r\n";
        let raw = String::from_utf8(signer.sign(message)).unwrap();
        assert!(
            raw.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=news.example.com; s=s1;"),
            "{raw}"
        );
        assert!(raw.contains(" h=from:to:subject;"), "only the headers present are signed: {raw}");
    }

    #[test]
    fn relaxed_canonicalisation_folds_white_space_and_trailing_lines() {
        assert_eq!(relaxed_header("Subject ", " A  long\r\n\t subject  "), "subject:A long subject");
        assert_eq!(relaxed_body(b"a  b \t\r\n\r\nc\r\n\r\n\r\n"), b"a b\r\n\r\nc\r\n");
        assert_eq!(relaxed_body(b""), b"");
    }

    #[test]
    fn what_a_key_signs_its_public_key_verifies_and_a_changed_message_fails() {
        for pem in [RSA, ED25519] {
            let signer = DkimSigner::from_pem("news.example.com", "s1", pem).unwrap();
            let signed = signer.sign(b"From: a@b.example\r\nSubject: Hi\r\n\r\nbody\r\n");
            assert_eq!(signer.verify_own(&signed), Ok(()));
            let tampered = String::from_utf8(signed).unwrap().replace("Subject: Hi", "Subject: Ho");
            assert!(signer.verify_own(tampered.as_bytes()).is_err());
        }
    }

    #[test]
    fn keys_that_cannot_sign_are_refused_with_a_reason() {
        let refused = |pem: &str| DkimSigner::from_pem("d", "s", pem).err().unwrap_or_default();
        assert!(refused("hello").contains("not a PEM private key"));
        assert!(!refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_empty());
    }
}
