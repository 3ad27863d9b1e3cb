//! `[feeds]`: the RSS/Atom feeds the worker polls for articles.

use serde::Deserialize;
use url::Url;

use super::ConfigError;
use super::lists::list_or_commas;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    #[serde(deserialize_with = "list_or_commas")]
    pub urls: Vec<String>,
    pub poll_minutes: f64,
    /// Let feed fetches reach loopback, private and link-local addresses (refused by default).
    #[serde(default)]
    pub allow_private: bool,
}

impl FeedSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.poll_minutes.is_finite() && self.poll_minutes >= 1.0) {
            return Err(ConfigError::key("feeds.poll_minutes", "must be at least 1"));
        }
        for url in &self.urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) || Url::parse(url).is_err() {
                // A feed URL may carry credentials: the message shows it without them.
                let shown = crate::telemetry::redact_url(url);
                return Err(ConfigError::key("feeds.urls", format!("{shown:?} is not an http(s) URL")));
            }
        }
        Ok(())
    }
}
