//! `[webhooks]`: event webhooks out (retries, which addresses endpoints may have, how many
//! deliveries run at once).

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// The first retry waits about this long; each one after it twice as long (with jitter).
    pub retry_base_secs: f64,
    /// A message not delivered this long after its event is given up.
    pub retry_hours: f64,
    /// Let endpoints be on loopback, private and link-local addresses (refused by default).
    pub allow_private: bool,
    /// Deliveries in flight at once per worker; one endpoint takes at most half of them.
    pub concurrency: usize,
    /// One try may take this long, connecting included; then it counts as failed and is retried.
    pub timeout_secs: f64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { retry_base_secs: 10.0, retry_hours: 24.0, allow_private: false, concurrency: 32, timeout_secs: 10.0 }
    }
}

impl WebhookSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // Fractions of a second are for tests; more than an hour between the first tries would
        // leave a receiver's short outage unnoticed for most of a day.
        if !(self.retry_base_secs.is_finite() && self.retry_base_secs >= 0.01 && self.retry_base_secs <= 3600.0) {
            return Err(ConfigError::key("webhooks.retry_base_secs", "must be between 0.01 and 3600 seconds"));
        }
        if !(self.retry_hours.is_finite() && self.retry_hours > 0.0 && self.retry_hours <= 24.0 * 30.0) {
            return Err(ConfigError::key(
                "webhooks.retry_hours",
                "must be more than 0 and at most 720 hours (30 days)",
            ));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(ConfigError::key("webhooks.concurrency", "must be between 1 and 256"));
        }
        // An endpoint that takes longer is not one to wait for: the event is retried later.
        if !(self.timeout_secs.is_finite() && self.timeout_secs >= 0.1 && self.timeout_secs <= 30.0) {
            return Err(ConfigError::key("webhooks.timeout_secs", "must be between 0.1 and 30 seconds"));
        }
        Ok(())
    }

    pub fn retry_base(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.retry_base_secs)
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout_secs)
    }

    pub fn retry_window(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.retry_hours * 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_name_their_key() {
        assert!(WebhookSettings::default().validate().is_ok());
        for (settings, key) in [
            (WebhookSettings { retry_base_secs: 0.0, ..Default::default() }, "webhooks.retry_base_secs"),
            (WebhookSettings { retry_base_secs: f64::NAN, ..Default::default() }, "webhooks.retry_base_secs"),
            (WebhookSettings { retry_hours: 0.0, ..Default::default() }, "webhooks.retry_hours"),
            (WebhookSettings { retry_hours: 1000.0, ..Default::default() }, "webhooks.retry_hours"),
            (WebhookSettings { concurrency: 0, ..Default::default() }, "webhooks.concurrency"),
            (WebhookSettings { timeout_secs: 60.0, ..Default::default() }, "webhooks.timeout_secs"),
        ] {
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
