//! `[digests]`: automatic digests on a cron schedule.

use serde::Deserialize;

use super::ConfigError;
use crate::domain::Schedule;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSettings {
    /// Cron (`0 9 * * MON`): at each tick, one digest of the articles waiting, if any.
    #[serde(default)]
    pub schedule: Option<String>,
    /// IANA zone the schedule (and the console's times) are read in.
    pub timezone: String,
    /// A tick missed while no worker ran is still sent when one comes back within this.
    pub max_lateness_hours: f64,
}

impl DigestSettings {
    /// The zone first: the schedule is read in it.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::key(
                "digests.timezone",
                "is not an IANA time zone name (e.g. Europe/Berlin or UTC)",
            ));
        }
        if let Some(expression) = &self.schedule {
            Schedule::parse(expression, &self.timezone).map_err(|why| ConfigError::key("digests.schedule", why))?;
        }
        if !(self.max_lateness_hours.is_finite() && self.max_lateness_hours > 0.0) {
            return Err(ConfigError::key("digests.max_lateness_hours", "must be a positive number"));
        }
        Ok(())
    }

    /// `schedule` in `timezone`, when set (checked by `validate`).
    pub(super) fn schedule(&self) -> Option<Schedule> {
        let expression = self.schedule.as_deref()?;
        Schedule::parse(expression, &self.timezone).ok()
    }

    /// `timezone` (checked by `validate`; UTC otherwise).
    pub(super) fn timezone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }
}
