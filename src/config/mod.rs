//! Typed settings, layered: compiled-in defaults → `config/base.toml` → `config/{env}.toml` →
//! `DATABASE_URL` → `BROADSHEET__SECTION__KEY` environment variables (see `load.rs`).
//!
//! This is the only module that reads the process environment (see clippy.toml).
//!
//! Each section is a struct in its own file that checks its own keys, so a key's meaning, default
//! handling and limits are read in one place; [`Settings`] only decides which sections a purpose
//! needs checked.

mod admin;
mod bounces;
mod database;
mod digests;
mod feeds;
mod http;
mod limits;
mod lists;
mod load;
mod log;
mod providers;
mod subscriptions;
mod tokens;
mod webhooks;

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use self::admin::AdminSettings;
pub use self::bounces::BounceSettings;
pub use self::database::DatabaseSettings;
pub use self::digests::DigestSettings;
pub use self::feeds::FeedSettings;
pub use self::http::HttpSettings;
pub use self::limits::LimitSettings;
pub use self::log::LogSettings;
pub use self::providers::{MailgunSettings, PostmarkSettings, ProviderSettings, SendgridSettings, SesSettings};
pub use self::subscriptions::SubscriptionSettings;
pub use self::tokens::{LOCAL_TOKEN_KEY, TokenSettings};
pub use self::webhooks::WebhookSettings;
use crate::mail::MailSettings;
/// `log.format`; kept here as well because tests name it by this path.
pub use crate::telemetry::LogFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub mail: MailSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    pub subscriptions: SubscriptionSettings,
    pub limits: LimitSettings,
    pub log: LogSettings,
    pub feeds: FeedSettings,
    #[serde(default)]
    pub bounces: BounceSettings,
    pub digests: DigestSettings,
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Email providers whose webhooks report bounces and complaints.
    #[serde(default)]
    pub providers: ProviderSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    #[serde(skip, default = "local")]
    pub environment: Environment,
}

fn local() -> Environment {
    Environment::Local
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

impl ConfigError {
    /// What is wrong with one key, as `section.key: why`.
    fn key(key: &str, why: impl Display) -> Self {
        Self::Invalid(format!("{key}: {why}"))
    }
}

/// What the process is loading its settings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The service, the worker and every other command.
    Everything,
    /// `broadsheet inbound`: taking one report from an MTA.
    Inbound,
}

impl Settings {
    /// Checks what deserialising cannot, section by section; the first problem found is the error.
    fn validate(&self, purpose: Purpose) -> Result<(), ConfigError> {
        let production = self.environment == Environment::Production;
        self.mail.validate(production).map_err(|e| ConfigError::key(e.key, e.message))?;
        // Taking a report uses neither the admin token nor the link keys (an unsubscribe mail
        // that needs them is kept for later): an MTA host without them still takes reports.
        if purpose == Purpose::Everything {
            self.admin.validate(production)?;
            self.tokens.validate(production)?;
        }
        self.database.validate()?;
        self.http.validate()?;
        self.limits.validate()?;
        self.subscriptions.validate()?;
        self.bounces.validate()?;
        self.digests.validate()?;
        self.providers.validate()?;
        self.webhooks.validate()?;
        self.feeds.validate()
    }

    /// The newsletter's name: the display name of `mail.from`.
    pub fn newsletter_name(&self) -> String {
        self.mail.newsletter_name()
    }

    pub fn send_timeout(&self) -> Duration {
        self.mail.send_timeout()
    }

    pub fn lease(&self) -> Duration {
        self.mail.lease()
    }

    /// `digests.schedule` in `digests.timezone`, when set (checked at load).
    pub fn digest_schedule(&self) -> Option<crate::domain::Schedule> {
        self.digests.schedule()
    }

    /// `digests.timezone` (checked at load; UTC otherwise).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.digests.timezone()
    }

    pub fn token_ttl(&self) -> Duration {
        self.subscriptions.token_ttl()
    }
}

#[cfg(test)]
mod tests;
