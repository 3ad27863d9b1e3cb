//! `[log]`: how the process logs.

use serde::Deserialize;

use super::LogFormat;

/// Nothing to check beyond parsing: `format` is `pretty` or `json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}
