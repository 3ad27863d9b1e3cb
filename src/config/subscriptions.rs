//! `[subscriptions]`: how long a confirmation link lives, the welcome mail, the reminder and the
//! language of whoever has not chosen one.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::domain::Locale;

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
    /// The locale of pages and mails when the visitor's choice is unknown or not shipped, and of
    /// subscribers who never chose one (added by the operator or imported).
    #[serde(default = "default_locale")]
    pub default_locale: String,
    /// Refuse a signup whose address's domain has no MX, A or AAAA record.
    #[serde(default)]
    pub check_mx: bool,
    /// The nameserver `check_mx` asks; unset: the first in /etc/resolv.conf.
    #[serde(default)]
    pub check_mx_nameserver: Option<std::net::SocketAddr>,
}

fn default_locale() -> String {
    "en".to_owned()
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
        if Locale::parse(&self.default_locale).map(Locale::as_str) != Some(self.default_locale.as_str()) {
            let shipped: Vec<&str> = Locale::ALL.iter().map(|l| l.as_str()).collect();
            return Err(ConfigError::key(
                "subscriptions.default_locale",
                format!("must be one of the shipped locales: {}", shipped.join(", ")),
            ));
        }
        Ok(())
    }

    /// `default_locale`, as validated at start.
    pub fn default_locale(&self) -> Locale {
        Locale::parse(&self.default_locale).unwrap_or(Locale::En)
    }

    pub(super) fn token_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.token_ttl_hours * 3600.0)
    }
}
