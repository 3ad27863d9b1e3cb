//! `[bounces]`: when soft bounces (a full mailbox, a server down for days) end the mail.

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BounceSettings {
    /// This many soft bounces …
    pub soft_limit: i64,
    /// … within this many days make a subscriber `bounced`.
    pub soft_window_days: f64,
}

impl Default for BounceSettings {
    fn default() -> Self {
        Self { soft_limit: 3, soft_window_days: 30.0 }
    }
}

impl BounceSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.soft_limit < 1 {
            return Err(ConfigError::key("bounces.soft_limit", "must be at least 1"));
        }
        if !(self.soft_window_days.is_finite() && self.soft_window_days > 0.0) {
            return Err(ConfigError::key("bounces.soft_window_days", "must be a positive number of days"));
        }
        Ok(())
    }
}
