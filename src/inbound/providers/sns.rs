//! Amazon SNS's HTTP(S) envelope, which carries SES notifications: its shape, the string SNS
//! signs (different keys for notifications and for subscription messages), the signature check
//! with the key of the signing certificate, and which URLs may be fetched for the certificate and
//! the subscription confirmation.
//!
//! SignatureVersion 1 is RSA PKCS#1 v1.5 over SHA-1, version 2 over SHA-256. The certificate is
//! trusted because of where it comes from: `https://sns.<region>.amazonaws.com/….pem`, fetched
//! over TLS with the web's roots, as Amazon's documentation describes. Hosts an operator lists in
//! `providers.ses.certificate_hosts` are trusted besides; plain http is accepted only for a
//! listed loopback address (a test server on this machine), never for any other host.

use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;
use url::{Host, Url};

use super::{NotTheShape, shaped};

/// Largest signing certificate we read (Amazon's are under 2 KB).
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

/// One SNS message as posted to our endpoint.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub kind: MessageKind,
    pub message_id: String,
    pub topic_arn: String,
    /// For a notification, the SES notification (JSON in a string).
    pub message: String,
    pub timestamp: String,
    pub subject: Option<String>,
    pub token: Option<String>,
    pub subscribe_url: Option<String>,
    version: SignatureVersion,
    signature: String,
    pub signing_cert_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureVersion {
    Sha1,
    Sha256,
}

#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Token", default)]
    token: Option<String>,
    #[serde(rename = "SubscribeURL", default)]
    subscribe_url: Option<String>,
    #[serde(rename = "SignatureVersion")]
    signature_version: String,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
}

impl Envelope {
    pub fn parse(body: &[u8]) -> Result<Self, NotTheShape> {
        let f: Fields = shaped(body, "Amazon SNS")?;
        let kind = match f.kind.as_str() {
            "Notification" => MessageKind::Notification,
            "SubscriptionConfirmation" => MessageKind::SubscriptionConfirmation,
            "UnsubscribeConfirmation" => MessageKind::UnsubscribeConfirmation,
            _ => return Err(NotTheShape::new("Type is not an Amazon SNS message type.")),
        };
        let version = match f.signature_version.as_str() {
            "1" => SignatureVersion::Sha1,
            "2" => SignatureVersion::Sha256,
            _ => return Err(NotTheShape::new("SignatureVersion must be 1 or 2.")),
        };
        let confirmation = kind != MessageKind::Notification;
        if confirmation && (f.token.is_none() || f.subscribe_url.is_none()) {
            return Err(NotTheShape::new("A subscription message must carry Token and SubscribeURL."));
        }
        Ok(Self {
            kind,
            message_id: f.message_id,
            topic_arn: f.topic_arn,
            message: f.message,
            timestamp: f.timestamp,
            subject: f.subject,
            token: f.token,
            subscribe_url: f.subscribe_url,
            version,
            signature: f.signature,
            signing_cert_url: f.signing_cert_url,
        })
    }

    /// What SNS signed: `Key\nvalue\n` for each key it signs, in byte order of the keys. A
    /// notification signs its Subject only when it has one; subscription messages sign their
    /// SubscribeURL and Token instead.
    pub fn string_to_sign(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind {
            MessageKind::Notification => {
                if let Some(subject) = &self.subject {
                    pairs.push(("Subject", subject));
                }
                pairs.extend([("Timestamp", self.timestamp.as_str()), ("TopicArn", &self.topic_arn)]);
            }
            MessageKind::SubscriptionConfirmation | MessageKind::UnsubscribeConfirmation => {
                pairs.push(("SubscribeURL", self.subscribe_url.as_deref().unwrap_or_default()));
                pairs.extend([
                    ("Timestamp", self.timestamp.as_str()),
                    ("Token", self.token.as_deref().unwrap_or_default()),
                    ("TopicArn", &self.topic_arn),
                ]);
            }
        }
        let kind = match self.kind {
            MessageKind::Notification => "Notification",
            MessageKind::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageKind::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        };
        pairs.push(("Type", kind));
        pairs.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect()
    }

    /// Whether the signature holds under the certificate's key. A signature that is not base64,
    /// or of the wrong length, simply does not hold.
    pub fn verify(&self, key: &SigningKey) -> bool {
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(self.signature.trim()) else {
            return false;
        };
        let algorithm: &'static dyn signature::VerificationAlgorithm = match self.version {
            SignatureVersion::Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureVersion::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(algorithm, &key.0).verify(self.string_to_sign().as_bytes(), &signature).is_ok()
    }
}

/// The RSA public key of an SNS signing certificate (its SubjectPublicKeyInfo's key bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// The key of the first certificate in a PEM file.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        let der = CertificateDer::from_pem_slice(pem).map_err(|e| format!("not a PEM certificate ({e})"))?;
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| format!("not an X.509 certificate ({e})"))?;
        let spki = cert.subject_public_key_info();
        let key = spki::SubjectPublicKeyInfoRef::try_from(spki.as_ref())
            .map_err(|e| format!("the certificate's public key cannot be read ({e})"))?;
        if key.algorithm.oid != RSA_ENCRYPTION {
            return Err("the certificate's key is not an RSA key".to_owned());
        }
        Ok(Self(key.subject_public_key.raw_bytes().to_vec()))
    }
}

const RSA_ENCRYPTION: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Where a signing certificate may come from: an Amazon SNS host over https, path ending in
/// `.pem`, or a listed host (see the module's comment). Checked before anything is fetched.
pub fn certificate_url(url: &str, trusted_hosts: &[String]) -> Result<Url, String> {
    let url = amazon_url(url, trusted_hosts, "SigningCertURL")?;
    if !url.path().ends_with(".pem") {
        return Err("SigningCertURL must name a .pem file.".to_owned());
    }
    Ok(url)
}

/// Where a subscription may be confirmed: the same hosts as the certificate's.
pub fn subscribe_url(url: &str, trusted_hosts: &[String]) -> Result<Url, String> {
    amazon_url(url, trusted_hosts, "SubscribeURL")
}

fn amazon_url(text: &str, trusted_hosts: &[String], what: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| format!("{what} is not a URL."))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} must not carry credentials."));
    }
    let host = url.host().ok_or_else(|| format!("{what} has no host."))?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let listed = trusted_hosts.iter().any(|h| h.eq_ignore_ascii_case(&authority));
    let loopback = match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(_) => false,
    };
    match url.scheme() {
        "https" if listed || (is_sns_host(&host) && url.port().is_none()) => Ok(url),
        "http" if listed && loopback => Ok(url),
        "https" | "http" if listed => Err(format!("{what} must use https.")),
        "https" => Err(format!("{what} must be on an Amazon SNS host (sns.<region>.amazonaws.com).")),
        _ => Err(format!("{what} must use https on an Amazon SNS host (sns.<region>.amazonaws.com).")),
    }
}

/// `sns.<region>.amazonaws.com`, the region being lower-case letters, digits and dashes.
fn is_sns_host(host: &Host<&str>) -> bool {
    let Host::Domain(name) = host else { return false };
    let Some(region) = name.strip_prefix("sns.").and_then(|r| r.strip_suffix(".amazonaws.com")) else { return false };
    !region.is_empty() && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
