//! `[mail]`: the mail section of the configuration, parsed and checked here so that the rest of
//! the configuration needs to know nothing about mail URLs or mailboxes.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::url::MailUrl;
use super::{BounceAddress, DkimSigner};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    #[serde(default)]
    pub url: Option<SecretString>,
    #[serde(deserialize_with = "mailbox")]
    pub from: Mailbox,
    pub concurrency: usize,
    pub rate_per_second: f64,
    pub send_timeout_secs: f64,
    pub max_attempts: u32,
    pub retry_base_secs: f64,
    pub lease_secs: f64,
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// VERP: every message's envelope sender becomes `local+TAG@domain` of this address.
    #[serde(default)]
    pub bounce_address: Option<String>,
    /// The key VERP tags are signed with (at least 32 characters); required with `bounce_address`.
    #[serde(default)]
    pub bounce_secret: Option<SecretString>,
    /// An address whose mail is fed to `broadsheet inbound`: `List-Unsubscribe` carries it too.
    #[serde(default)]
    pub unsubscribe_mailto: Option<String>,
    #[serde(default)]
    pub dkim: Option<DkimSettings>,
    /// PEM certificates trusted for the relay's TLS besides the system roots (a company CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
}

/// `[mail.dkim]`: all three or none.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    pub domain: String,
    pub selector: String,
    /// A PEM file: RSA (2048 bits) or Ed25519, PKCS#8 or PKCS#1.
    pub private_key: PathBuf,
}

/// A key of the mail section and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettingsError {
    pub key: &'static str,
    pub message: String,
}

impl MailSettings {
    /// Checks what deserialising cannot: the URL's form, numbers in range, the lease against the
    /// send timeout. `production` makes `mail.url` required.
    pub fn validate(&self, production: bool) -> Result<(), MailSettingsError> {
        let bad = |key: &'static str, message: &str| Err(MailSettingsError { key, message: message.to_owned() });
        match &self.url {
            None if production => {
                return bad("mail.url", "required in production (e.g. smtp://smtp.example.com:587?tls=required)");
            }
            None => {}
            Some(url) => {
                MailUrl::parse(url.expose_secret())
                    .map_err(|message| MailSettingsError { key: "mail.url", message })?;
            }
        }
        if self.concurrency == 0 {
            return bad("mail.concurrency", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return bad("mail.max_attempts", "must be at least 1");
        }
        for (key, v) in [("mail.rate_per_second", self.rate_per_second), ("mail.retry_base_secs", self.retry_base_secs)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, "must be a number of 0 or more");
            }
        }
        for (key, v) in [("mail.send_timeout_secs", self.send_timeout_secs), ("mail.lease_secs", self.lease_secs)] {
            if !(v.is_finite() && v > 0.0 && v < 1e7) {
                return bad(key, "must be a positive number");
            }
        }
        self.bounce_address()?;
        self.dkim_signer()?;
        self.tls_roots()?;
        if let Some(mailto) = &self.unsubscribe_mailto
            && (!mailto.contains('@') || mailto.contains(['<', '>', '?', ' ', ',']))
        {
            return bad("mail.unsubscribe_mailto", "must be a plain address like unsubscribe@news.example.com");
        }
        if self.lease_secs <= self.send_timeout_secs {
            return bad(
                "mail.lease_secs",
                "must be more than mail.send_timeout_secs: a claimed message must be able to wait for a send slot \
                 and finish its send within its lease, or another worker would send it too",
            );
        }
        Ok(())
    }

    /// The VERP bounce address, when `mail.bounce_address` is set.
    pub fn bounce_address(&self) -> Result<Option<BounceAddress>, MailSettingsError> {
        let Some(address) = &self.bounce_address else { return Ok(None) };
        let secret = self.bounce_secret.as_ref().ok_or_else(|| MailSettingsError {
            key: "mail.bounce_secret",
            message: "required with mail.bounce_address: at least 32 characters (e.g. `openssl rand -hex 32`)"
                .to_owned(),
        })?;
        if secret.expose_secret().chars().count() < 32 {
            return Err(MailSettingsError {
                key: "mail.bounce_secret",
                message: "must be at least 32 characters".to_owned(),
            });
        }
        BounceAddress::new(address, secret)
            .map(Some)
            .map_err(|message| MailSettingsError { key: "mail.bounce_address", message })
    }

    /// The DKIM signer, when `mail.dkim` is set: reads and checks the key file.
    pub fn dkim_signer(&self) -> Result<Option<DkimSigner>, MailSettingsError> {
        let Some(dkim) = &self.dkim else { return Ok(None) };
        let bad = |message: String| MailSettingsError { key: "mail.dkim.private_key", message };
        let pem = std::fs::read_to_string(&dkim.private_key)
            .map_err(|e| bad(format!("cannot read {}: {e}", dkim.private_key.display())))?;
        if dkim.selector.is_empty() || !dkim.selector.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(MailSettingsError {
                key: "mail.dkim.selector",
                message: "letters, digits, - and _ only".to_owned(),
            });
        }
        DkimSigner::from_pem(&dkim.domain, &dkim.selector, &pem).map(Some).map_err(bad)
    }

    /// The certificates of `mail.tls_ca_file`, each checked as a trust anchor; none without it.
    pub fn tls_roots(&self) -> Result<Vec<CertificateDer<'static>>, MailSettingsError> {
        let Some(path) = &self.tls_ca_file else { return Ok(Vec::new()) };
        let bad = |message: String| MailSettingsError { key: "mail.tls_ca_file", message };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("{} is not a PEM certificate file: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(bad(format!("no certificate in {} (expected -----BEGIN CERTIFICATE-----)", path.display())));
        }
        // What the TLS client will do with them at the first connection, done now, so a file
        // rustls cannot use stops the start rather than every send.
        let mut store = rustls::RootCertStore::empty();
        for (n, cert) in certs.iter().enumerate() {
            store
                .add(cert.clone())
                .map_err(|e| bad(format!("certificate {} in {} is not usable: {e}", n + 1, path.display())))?;
        }
        Ok(certs)
    }

    /// The newsletter's name: the display name of `mail.from`.
    pub fn newsletter_name(&self) -> String {
        self.from.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "Broadsheet".to_owned())
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.send_timeout_secs)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.lease_secs)
    }
}

fn mailbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Mailbox, D::Error> {
    let raw = String::deserialize(d)?;
    raw.parse().map_err(|e| {
        serde::de::Error::custom(format!("{raw:?} is not a mailbox like \"Broadsheet <news@example.com>\" ({e})"))
    })
}
