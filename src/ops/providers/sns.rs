//! Amazon SNS messages for `POST /webhooks/ses`: the topic checked against
//! `providers.ses.topic_arns`, the signing certificate's URL checked before anything is fetched,
//! the certificate fetched once and kept, the signature checked, and then a subscription
//! confirmed (by fetching its SubscribeURL, under the same host rule) or the SES notification read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use crate::config::SesSettings;
use crate::inbound::providers::sns::{self, Envelope, MessageKind, SigningKey};
use crate::inbound::providers::{Reports, ses};
use crate::ops::OpsError;

/// A certificate or confirmation fetch that takes longer is given up (SNS retries the message).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// SNS rotates its certificate now and then, and each region has its own: a few are enough.
const MAX_CACHED: usize = 32;
/// The confirmation answer is a short XML document; we only need its status.
const MAX_CONFIRMATION_BYTES: usize = 64 * 1024;

pub enum Received {
    Reports(Reports),
    /// `confirmed` or `unsubscribed`.
    Subscription(&'static str),
}

/// Signing certificates' keys by URL, fetched once per process.
pub struct SnsCertificates {
    client: Option<reqwest::Client>,
    keys: Mutex<HashMap<String, Arc<SigningKey>>>,
}

impl Default for SnsCertificates {
    fn default() -> Self {
        Self::new()
    }
}

impl SnsCertificates {
    pub fn new() -> Self {
        let client = client().inspect_err(|e| tracing::error!(error = %e, "no HTTP client for SNS certificates")).ok();
        Self { client, keys: Mutex::default() }
    }

    async fn key(&self, url: &Url) -> Result<Arc<SigningKey>, OpsError> {
        if let Some(key) = self.keys.lock().ok().and_then(|keys| keys.get(url.as_str()).cloned()) {
            return Ok(key);
        }
        let pem = self.get(url, sns::MAX_CERTIFICATE_BYTES, "the signing certificate").await?;
        let key = Arc::new(SigningKey::from_pem(&pem).map_err(|e| {
            OpsError::Unauthenticated(format!("The signing certificate at SigningCertURL cannot be used: {e}."))
        })?);
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= MAX_CACHED {
                keys.clear();
            }
            keys.insert(url.as_str().to_owned(), key.clone());
        }
        Ok(key)
    }

    /// GETs `url`, reading at most `limit` bytes; a failure is `Unavailable` (SNS tries again).
    async fn get(&self, url: &Url, limit: usize, what: &str) -> Result<Vec<u8>, OpsError> {
        let unavailable = |why: String| {
            // Without the query: a SubscribeURL carries the subscription's token there.
            let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
            OpsError::Unavailable(format!("cannot fetch {what} from {shown}: {why}"))
        };
        let client = self.client.as_ref().ok_or_else(|| unavailable("no HTTP client".to_owned()))?;
        let mut response = client.get(url.clone()).send().await.map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(e.to_string()))? {
            if body.len() + chunk.len() > limit {
                return Err(unavailable(format!("larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// No redirects (a redirect could leave the hosts we checked), no proxies, TLS with the web's roots.
fn client() -> Result<reqwest::Client, reqwest::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let mut builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .user_agent(concat!("broadsheet/", env!("CARGO_PKG_VERSION"), " (sns)"))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    if let Ok(tls) = tls {
        builder = builder.use_preconfigured_tls(tls);
    }
    builder.build()
}

pub async fn receive(config: &SesSettings, certificates: &SnsCertificates, body: &[u8]) -> Result<Received, OpsError> {
    let envelope = Envelope::parse(body)?;
    // Cheap refusals first: nothing is fetched for a topic or a certificate host we do not take.
    if !config.topic_arns.contains(&envelope.topic_arn) {
        return Err(OpsError::Unauthenticated("TopicArn is not one of providers.ses.topic_arns.".to_owned()));
    }
    let cert_url = sns::certificate_url(&envelope.signing_cert_url, &config.certificate_hosts)
        .map_err(OpsError::Unauthenticated)?;
    let key = certificates.key(&cert_url).await?;
    if !envelope.verify(&key) {
        return Err(OpsError::Unauthenticated(
            "The signature does not verify with the SNS signing certificate.".to_owned(),
        ));
    }
    match envelope.kind {
        MessageKind::Notification => Ok(Received::Reports(ses::reports(&envelope.message)?)),
        MessageKind::SubscriptionConfirmation => {
            let url =
                sns::subscribe_url(envelope.subscribe_url.as_deref().unwrap_or_default(), &config.certificate_hosts)
                    .map_err(OpsError::Unauthenticated)?;
            certificates.get(&url, MAX_CONFIRMATION_BYTES, "the subscription confirmation").await?;
            tracing::info!(topic = %envelope.topic_arn, "SNS subscription confirmed");
            Ok(Received::Subscription("confirmed"))
        }
        // We asked for nothing: an operator removed the subscription in AWS. Noted, not undone.
        MessageKind::UnsubscribeConfirmation => {
            tracing::warn!(topic = %envelope.topic_arn, "SNS says this endpoint was unsubscribed from the topic");
            Ok(Received::Subscription("unsubscribed"))
        }
    }
}
