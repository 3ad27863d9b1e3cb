//! `[subscriptions]`: how long a confirmation link lives, the welcome mail and the reminder.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSettings {
    pub token_ttl_hours: f64,
    /// A welcome mail once a subscriber confirms.
    pub welcome: bool,
    /// One reminder to a pending subscriber this long after their confirmation mail; 0 = none.
    pub reminder_after_hours: f64,
    /// How long the "Manage your subscription" link in a mail works (it stops at erasure anyway).
    #[serde(default = "default_preferences_ttl_days")]
    pub preferences_ttl_days: u32,
    /// Refuse a signup whose address's domain has no MX, A or AAAA record.
    #[serde(default)]
    pub check_mx: bool,
    /// The nameserver `check_mx` asks; unset: the first in /etc/resolv.conf.
    #[serde(default)]
    pub check_mx_nameserver: Option<std::net::SocketAddr>,
}

fn default_preferences_ttl_days() -> u32 {
    365
}

impl SubscriptionSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let ttl = self.token_ttl_hours;
        // Below 1e7 so that `Duration::from_secs_f64` cannot overflow.
        if !(ttl.is_finite() && ttl > 0.0 && ttl < 1e7) {
            return Err(ConfigError::key("subscriptions.token_ttl_hours", "must be a positive number"));
        }
        let reminder = self.reminder_after_hours;
        if !(reminder.is_finite() && (0.0..1e6).contains(&reminder)) {
            return Err(ConfigError::key(
                "subscriptions.reminder_after_hours",
                "must be 0 (off) or a positive number of hours",
            ));
        }
        if !(1..=3650).contains(&self.preferences_ttl_days) {
            return Err(ConfigError::key("subscriptions.preferences_ttl_days", "must be between 1 and 3650 days"));
        }
        Ok(())
    }

    pub(super) fn token_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.token_ttl_hours * 3600.0)
    }
}
