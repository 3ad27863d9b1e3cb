//! `[admin]`: the token the console and the admin API are opened with.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Text even when given as digits (`BROADSHEET__ADMIN__TOKEN=1234…`): the layers turn a
    /// value into a number only where a number is expected.
    #[serde(default)]
    pub token: Option<SecretString>,
}

impl AdminSettings {
    /// Required in production; when unset locally, one is generated at start.
    pub(super) fn validate(&self, production: bool) -> Result<(), ConfigError> {
        match &self.token {
            None if production => {
                Err(ConfigError::key("admin.token", "required in production, at least 32 characters"))
            }
            Some(token) if token.expose_secret().trim().chars().count() < 32 => {
                Err(ConfigError::key("admin.token", "must be at least 32 characters (e.g. `openssl rand -hex 32`)"))
            }
            _ => Ok(()),
        }
    }
}
