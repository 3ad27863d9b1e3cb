//! `[providers.*]`: the email providers whose webhooks report bounces and complaints
//! (`POST /webhooks/{ses,postmark,mailgun,sendgrid}`). A provider without its section is not
//! configured, and its route answers 404.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::ConfigError;
use super::lists::list_or_commas;
use crate::inbound::providers::sendgrid::VerificationKey;

/// Credentials shorter than this are refused: they are all that stands between anyone on the
/// internet and the subscriber list's statuses.
const MIN_SECRET_CHARS: usize = 16;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub ses: Option<SesSettings>,
    pub postmark: Option<PostmarkSettings>,
    pub mailgun: Option<MailgunSettings>,
    pub sendgrid: Option<SendgridSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesSettings {
    /// The SNS topics whose notifications are taken (`arn:aws:sns:region:account:name`).
    #[serde(deserialize_with = "list_or_commas")]
    pub topic_arns: Vec<String>,
    /// Hosts (`name` or `name:port`) trusted to serve signing certificates and subscription
    /// confirmations besides `sns.<region>.amazonaws.com`; for tests and private mirrors.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub certificate_hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmarkSettings {
    /// The HTTP Basic credentials put in the webhook URL in Postmark.
    pub username: String,
    pub password: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailgunSettings {
    /// The HTTP webhook signing key (Mailgun: Sending → Webhooks).
    pub signing_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendgridSettings {
    /// The verification key of the signed event webhook (base64, ECDSA P-256), checked at start.
    pub public_key: VerificationKey,
}

impl ProviderSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(ses) = &self.ses {
            ses.validate()?;
        }
        if let Some(postmark) = &self.postmark {
            if postmark.username.trim().is_empty() || postmark.username.contains([':', ' ']) {
                return Err(ConfigError::key("providers.postmark.username", "must be a word without ':' or spaces"));
            }
            secret("providers.postmark.password", &postmark.password)?;
        }
        if let Some(mailgun) = &self.mailgun {
            secret("providers.mailgun.signing_key", &mailgun.signing_key)?;
        }
        Ok(())
    }
}

fn secret(key: &str, value: &SecretString) -> Result<(), ConfigError> {
    if value.expose_secret().trim().chars().count() < MIN_SECRET_CHARS {
        return Err(ConfigError::key(key, format!("must be at least {MIN_SECRET_CHARS} characters")));
    }
    Ok(())
}

impl SesSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.topic_arns.is_empty() {
            return Err(ConfigError::key("providers.ses.topic_arns", "name at least one SNS topic ARN"));
        }
        for arn in &self.topic_arns {
            let parts: Vec<&str> = arn.split(':').collect();
            let shaped = parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "sns"
                && parts[3..].iter().all(|p| !p.is_empty());
            if !shaped {
                return Err(ConfigError::key(
                    "providers.ses.topic_arns",
                    format!("{arn:?} is not an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:ses-reports"),
                ));
            }
        }
        for host in &self.certificate_hosts {
            let parsed = url::Url::parse(&format!("https://{host}/")).ok();
            let authority = parsed.as_ref().and_then(|u| {
                let host = u.host()?;
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                })
            });
            if authority.as_deref() != Some(host.to_ascii_lowercase().as_str()) {
                return Err(ConfigError::key(
                    "providers.ses.certificate_hosts",
                    format!("{host:?} is not a host or host:port (no scheme, no path)"),
                ));
            }
        }
        Ok(())
    }
}
