//! `[limits]`: rate limits on signups, confirmation mails and admin logins.

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub signups_per_ip_per_minute: u32,
    pub confirmation_mails_per_address_per_day: u32,
    /// IPv6 clients are limited per network of this many leading bits.
    pub ipv6_prefix: u8,
    pub admin_auth_failures_per_minute: u32,
}

impl LimitSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=128).contains(&self.ipv6_prefix) {
            return Err(ConfigError::key(
                "limits.ipv6_prefix",
                "must be between 1 and 128 (64: one limit per /64 network)",
            ));
        }
        Ok(())
    }
}
