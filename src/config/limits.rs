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
    /// A form posted sooner than this after it was served is taken for a bot's (docs/bots.md).
    #[serde(default = "default_signup_min_seconds")]
    pub signup_min_seconds: u32,
    /// Proof of work for signups: the difficulty in leading zero bits; 0 = off.
    #[serde(default)]
    pub signup_pow: u8,
}

fn default_signup_min_seconds() -> u32 {
    2
}

/// A form token is good for a day: past that it is refused (docs/bots.md), so a wait longer
/// than that could never be met.
const MAX_SIGNUP_MIN_SECONDS: u32 = 3600;
/// At 24 bits a browser needs some 16 million hashes, seconds on a slow phone; more would shut
/// people out.
pub const MAX_SIGNUP_POW: u8 = 24;

impl LimitSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=128).contains(&self.ipv6_prefix) {
            return Err(ConfigError::key(
                "limits.ipv6_prefix",
                "must be between 1 and 128 (64: one limit per /64 network)",
            ));
        }
        if self.signup_min_seconds > MAX_SIGNUP_MIN_SECONDS {
            return Err(ConfigError::key(
                "limits.signup_min_seconds",
                "must be between 0 and 3600 seconds (2: no person fills the form in faster)",
            ));
        }
        if self.signup_pow > MAX_SIGNUP_POW {
            return Err(ConfigError::key(
                "limits.signup_pow",
                "must be between 0 (off) and 24 bits (16 to 20 take a browser a fraction of a second)",
            ));
        }
        Ok(())
    }
}
