//! `[http]`: where the service listens, the address it is reached at, and its connection limits.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use crate::domain::BaseUrl;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    pub base_url: BaseUrl,
    #[serde(default)]
    pub client_ip_header: Option<String>,
    pub header_read_timeout_secs: f64,
    pub idle_timeout_secs: f64,
    pub max_connections: usize,
    /// The public archive of sent digests (`/archive`); false answers 404 there.
    pub archive: bool,
}

impl HttpSettings {
    /// `addr` and `base_url` are checked by parsing; here the numbers and the header name.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::key("http.max_connections", "must be at least 1"));
        }
        for (key, v) in [
            ("http.header_read_timeout_secs", self.header_read_timeout_secs),
            ("http.idle_timeout_secs", self.idle_timeout_secs),
        ] {
            // Below 1e7 so that `Duration::from_secs_f64` cannot overflow.
            if !(v.is_finite() && v > 0.0 && v < 1e7) {
                return Err(ConfigError::key(key, "must be a positive number"));
            }
        }
        if let Some(h) = &self.client_ip_header
            && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(ConfigError::key("http.client_ip_header", "is not a valid header name"));
        }
        Ok(())
    }
}
