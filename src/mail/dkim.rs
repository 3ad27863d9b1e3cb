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

use super::smtp::{Payload, Wire};

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
        let mut hash = RelaxedBody::new(false);
        hash.update(body);
        let field = self.signature_field(headers, hash.finish());
        let mut out = Vec::with_capacity(message.len() + field.len());
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(message);
        out
    }

    /// A message in pieces (a prepared digest message), signed without putting it in one piece:
    /// the body hash is streamed over the pieces, un-stuffing as it goes where the payload is
    /// stuffed, and the result keeps the shared pieces by reference, stuffed or not as it came.
    pub fn sign_payload(&self, payload: &Payload) -> Payload {
        let (wire, stuffed) = match payload {
            Payload::Plain(wire) => (wire, false),
            Payload::Stuffed(wire) => (wire, true),
        };
        // The header block is the recipient's own bytes and the few shared header lines: small,
        // so it is gathered; the body is only hashed.
        let mut headers = Vec::with_capacity(2048);
        let mut body = RelaxedBody::new(stuffed);
        let mut in_body = false;
        for slice in wire.slices() {
            if in_body {
                body.update(slice);
                continue;
            }
            let from = headers.len().saturating_sub(3);
            headers.extend_from_slice(slice);
            if let Some(at) = headers[from..].windows(4).position(|w| w == b"\r\n\r\n") {
                let end = from + at;
                body.update(&headers[end + 4..]);
                headers.truncate(end + 2);
                in_body = true;
            }
        }
        let field = self.signature_field(&headers, body.finish());
        let mut signed = Wire::with_capacity(field.len() + wire.len().min(4096), wire.slices().count() + 1);
        signed.extend(field.as_bytes());
        signed.append(wire);
        if stuffed { Payload::Stuffed(signed) } else { Payload::Plain(signed) }
    }

    /// The `DKIM-Signature` field (name, value, CRLF) over this header block and body hash.
    fn signature_field(&self, headers: &[u8], body_hash: [u8; 32]) -> String {
        let body_hash = base64::engine::general_purpose::STANDARD.encode(body_hash);
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
        format!("DKIM-Signature: {unsigned}{b}\r\n")
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
        if body_hash(orig_body) != body_hash(body) {
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

fn body_hash(body: &[u8]) -> [u8; 32] {
    let mut hash = RelaxedBody::new(false);
    hash.update(body);
    hash.finish()
}

/// RFC 6376 3.4.4 (white space runs as one space, none at line ends, no empty lines at the end)
/// fed to SHA-256 as the body goes by, in pieces of any size, without a copy of a line: a byte
/// is hashed once it is known to stay (white space when text follows it on the line, an empty
/// line when a line with text follows it). `unstuff`: the body is dot-stuffed (RFC 5321 4.5.2)
/// and is hashed as the recipient will read it.
struct RelaxedBody {
    hasher: Sha256,
    /// Canonical bytes waiting to go to the hasher in one call.
    out: [u8; 512],
    len: usize,
    /// Empty lines held back: they count only if a line with text comes after them.
    empty_lines: usize,
    /// White space since the last text on this line.
    space: bool,
    /// Text on this line already (so its end is a line break to hash).
    text: bool,
    /// A CR whose line feed may be in the next piece.
    cr: bool,
    line_start: bool,
    unstuff: bool,
}

impl RelaxedBody {
    fn new(unstuff: bool) -> Self {
        Self {
            hasher: Sha256::new(),
            out: [0; 512],
            len: 0,
            empty_lines: 0,
            space: false,
            text: false,
            cr: false,
            line_start: true,
            unstuff,
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.out.len() {
            self.hasher.update(&self.out[..self.len]);
            self.len = 0;
        }
        if bytes.len() > self.out.len() {
            self.hasher.update(bytes);
        } else {
            self.out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    /// Text on the current line: what was held back before it goes first.
    fn emit_text(&mut self, bytes: &[u8]) {
        if !self.text {
            for _ in 0..std::mem::take(&mut self.empty_lines) {
                self.emit(b"\r\n");
            }
            self.text = true;
        }
        if std::mem::take(&mut self.space) {
            self.emit(b" ");
        }
        self.emit(bytes);
    }

    fn end_line(&mut self) {
        if self.text {
            self.emit(b"\r\n");
        } else {
            self.empty_lines += 1;
        }
        self.text = false;
        self.space = false;
        self.line_start = true;
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if std::mem::take(&mut self.cr) {
                if bytes[0] == b'\n' {
                    self.end_line();
                    bytes = &bytes[1..];
                    continue;
                }
                // A CR inside a line is text.
                self.emit_text(b"\r");
            }
            if std::mem::take(&mut self.line_start) && self.unstuff && bytes[0] == b'.' {
                bytes = &bytes[1..];
                continue;
            }
            // The run of text up to the next byte that needs a decision, hashed in one go.
            let run = bytes.iter().position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).unwrap_or(bytes.len());
            if run > 0 {
                self.emit_text(&bytes[..run]);
                bytes = &bytes[run..];
                continue;
            }
            match bytes[0] {
                b' ' | b'\t' => self.space = true,
                b'\r' => self.cr = true,
                _ => self.end_line(),
            }
            bytes = &bytes[1..];
        }
    }

    /// The body hash. A last line without a line break gets one; a CR at the very end is the
    /// end of that line.
    fn finish(mut self) -> [u8; 32] {
        if self.text {
            self.emit(b"\r\n");
        }
        self.hasher.update(&self.out[..self.len]);
        self.hasher.finalize().into()
    }
}

/// The canonical body in one piece, line by line: how the body was hashed before
/// [`RelaxedBody`], kept as the reference it is tested against.
#[cfg(test)]
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

    /// Bodies where canonicalisation has something to do, cut into pieces at every place.
    const TRICKY_BODIES: [&[u8]; 14] = [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"a  b \t\r\n\r\nc\r\n\r\n\r\n",
        b"trailing white space \t \r\n\t\r\n  \r\nend",
        b"no line break at the end",
        b"a CR at the end\r",
        b"bare\nline\nfeeds\n\n",
        b"a lone\rCR and \r\r\n two",
        b" \t leading white space\r\n\r\n \r\n",
        b".a dot\r\n..two dots\r\n.\r\n",
        b"\r\n\r\nempty lines first\r\n",
        b"x\r\n \r\n\t\r\ny \r\n",
        b"white   space\tin\t \tthe middle\r\n",
    ];

    #[test]
    fn the_streamed_body_hash_is_the_line_by_line_one_however_the_body_is_cut() {
        let long_line = [b"word ".repeat(400).as_slice(), b" \t\r\n\r\n".as_slice()].concat();
        let long_lines = b"line with  space \r\n".repeat(2000);
        let bodies = TRICKY_BODIES.iter().map(|b| b.to_vec()).chain([long_line, long_lines]);
        for body in bodies {
            let expected: [u8; 32] = Sha256::digest(relaxed_body(&body)).into();
            assert_eq!(body_hash(&body), expected, "{:?}", String::from_utf8_lossy(&body));
            // In two pieces, cut everywhere (a CRLF split included), and byte by byte.
            for cut in 0..=body.len().min(64) {
                let mut hash = RelaxedBody::new(false);
                hash.update(&body[..cut]);
                hash.update(&body[cut..]);
                assert_eq!(hash.finish(), expected, "cut at {cut}: {:?}", String::from_utf8_lossy(&body));
            }
            let mut hash = RelaxedBody::new(false);
            body.iter().for_each(|b| hash.update(std::slice::from_ref(b)));
            assert_eq!(hash.finish(), expected);
            // Stuffed, it hashes as the recipient reads it.
            let stuffed = crate::mail::smtp::dot_stuff(&body);
            let mut hash = RelaxedBody::new(true);
            stuffed.chunks(7).for_each(|c| hash.update(c));
            assert_eq!(hash.finish(), expected, "stuffed: {:?}", String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn a_message_in_pieces_is_signed_as_the_same_message_in_one() {
        for pem in [RSA, ED25519] {
            let signer = DkimSigner::from_pem("news.example.com", "s1", pem).unwrap();
            let shared = bytes::Bytes::from_static(b"\r\n.shared  text \r\n\r\n");
            let mut wire = Wire::with_capacity(256, 8);
            wire.extend(b"From: a@b.example\r\nTo: c@d.example\r");
            wire.extend(b"\nSubject: Hi\r\n\r");
            wire.shared(&shared);
            wire.extend(b"\r\n.");
            wire.shared(&shared);
            let plain = wire.to_vec();
            let signed = signer.sign_payload(&Payload::Plain(wire.clone()));
            assert_eq!(signer.verify_own(&signed.wire().to_vec()), Ok(()));
            let stuffed = Payload::Stuffed(Wire::whole(crate::mail::smtp::dot_stuff(&plain)));
            let signed_stuffed = signer.sign_payload(&stuffed);
            assert!(signed_stuffed.is_stuffed());
            let read = signed_stuffed.plain().into_owned();
            assert_eq!(signer.verify_own(&read), Ok(()));
            assert!(read.ends_with(&plain), "the message follows its signature unchanged");
            // The same signature field as signing the message in one piece (but for t= and, for
            // RSA, nothing: PKCS#1 v1.5 is deterministic).
            let whole = signer.sign(&plain);
            let bh = |m: &[u8]| String::from_utf8_lossy(m).split("bh=").nth(1).map(|r| r[..44].to_owned());
            assert_eq!(bh(&read), bh(&whole));
        }
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
