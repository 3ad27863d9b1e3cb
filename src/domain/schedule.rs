//! `digests.schedule` in `digests.timezone`: which tick is due at a given moment. A pure function
//! of `now`, so the scheduler's clock can be set in tests and a tick across a DST change checked.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A schedule with no tick this many days ahead never fires (the longest real gap, a 29
/// February across a skipped leap year, is 8 years).
const NEVER_DAYS: i64 = 9 * 366;

/// A cron schedule read in an IANA time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    /// `expression` is five fields (`0 9 * * MON`) or six with seconds first; `zone` an IANA name.
    pub fn parse(expression: &str, zone: &str) -> Result<Self, String> {
        let zone: Tz =
            zone.trim().parse().map_err(|_| format!("{zone:?} is not an IANA time zone (e.g. Europe/Berlin)"))?;
        let cron = Cron::new(expression.trim())
            .with_seconds_optional()
            .parse()
            .map_err(|e| format!("{expression:?} is not a cron schedule (e.g. \"0 9 * * MON\"): {e}"))?;
        let schedule = Self { cron, zone };
        // A valid expression may name a day that never comes (`0 0 30 2 *`, 30 February): it would
        // be accepted and then silently send nothing, ever. The rarest real schedule, 29
        // February, fires within 8 years (2096 to 2104 skips one); croner itself would search on
        // to the year 5000.
        let now = Utc::now();
        if schedule.next(now).is_none_or(|next| next - now > Duration::days(NEVER_DAYS)) {
            return Err(format!(
                "{expression:?} never fires: no date matches it (is the day of the month past the end of the month?)"
            ));
        }
        Ok(schedule)
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The latest tick at or before `now` and after `now - max_lateness`: the one a worker should
    /// handle now if nobody has. Older ticks are too late to send.
    pub fn due(&self, now: DateTime<Utc>, max_lateness: Duration) -> Option<DateTime<Utc>> {
        let mut from = (now - max_lateness).with_timezone(&self.zone);
        let mut latest = None;
        // Each step moves forward; the cap only guards against a schedule that never matches.
        for _ in 0..100_000 {
            let Ok(next) = self.cron.find_next_occurrence(&from, false) else { break };
            let next_utc = next.with_timezone(&Utc);
            if next_utc > now || latest.is_some_and(|l| next_utc <= l) {
                break;
            }
            latest = Some(next_utc);
            from = next;
        }
        latest
    }

    /// The first tick after `now`, for the console and the scheduler's nap.
    pub fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now.with_timezone(&self.zone), false).ok().map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_latest_tick_within_the_lateness_window_is_due() {
        let weekly = Schedule::parse("0 9 * * MON", "Europe/Berlin").map_err(|e| e.to_string());
        let weekly = weekly.unwrap_or_else(|e| panic!("{e}"));
        // Monday 2026-12-07 09:00 in Berlin is 08:00 UTC.
        assert_eq!(weekly.due(at("2026-12-07T07:59:59Z"), Duration::hours(24)), None);
        assert_eq!(weekly.due(at("2026-12-07T08:00:00Z"), Duration::hours(24)), Some(at("2026-12-07T08:00:00Z")));
        assert_eq!(weekly.due(at("2026-12-07T20:00:00Z"), Duration::hours(24)), Some(at("2026-12-07T08:00:00Z")));
        // Missed for longer than the lateness allows: too late.
        assert_eq!(weekly.due(at("2026-12-08T08:00:01Z"), Duration::hours(24)), None);
        assert_eq!(weekly.next(at("2026-12-07T08:00:00Z")), Some(at("2026-12-14T08:00:00Z")));
    }

    #[test]
    fn a_tick_across_a_dst_change_keeps_its_wall_clock_time() {
        let daily = Schedule::parse("0 9 * * *", "Europe/Berlin").unwrap_or_else(|e| panic!("{e}"));
        // Summer time ends on 2026-10-25 at 03:00 CEST: 09:00 is 07:00 UTC the day before and
        // 08:00 UTC that day.
        assert_eq!(daily.next(at("2026-10-24T07:00:00Z")), Some(at("2026-10-25T08:00:00Z")));
        assert_eq!(daily.due(at("2026-10-25T08:30:00Z"), Duration::hours(1)), Some(at("2026-10-25T08:00:00Z")));
        assert_eq!(daily.due(at("2026-10-25T07:30:00Z"), Duration::hours(1)), None, "not an hour early");
        // Spring forward, 2026-03-29 at 02:00 CET: 09:00 CEST is 07:00 UTC.
        assert_eq!(daily.next(at("2026-03-28T08:00:00Z")), Some(at("2026-03-29T07:00:00Z")));
    }

    #[test]
    fn a_tick_in_the_hour_that_is_skipped_still_happens_once() {
        // 02:30 does not exist in Berlin on 2026-03-29; the tick happens once, at the gap.
        let nightly = Schedule::parse("30 2 * * *", "Europe/Berlin").unwrap_or_else(|e| panic!("{e}"));
        let ticks: Vec<_> = (0..48)
            .filter_map(|h| nightly.due(at("2026-03-28T12:00:00Z") + Duration::hours(h), Duration::minutes(59)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(ticks.len(), 2, "{ticks:?}");
    }

    #[test]
    fn bad_schedules_and_zones_are_named() {
        assert!(Schedule::parse("every monday", "UTC").is_err());
        assert!(Schedule::parse("0 9 * * MON", "Mars/Olympus").is_err());
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused_and_a_rare_one_is_not() {
        for never in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"] {
            let refused = Schedule::parse(never, "UTC").map(|_| ()).unwrap_err();
            assert!(refused.contains("never fires"), "{never}: {refused}");
        }
        for rare in ["0 0 29 2 *", "0 0 31 * *", "0 0 30 2 MON"] {
            assert!(Schedule::parse(rare, "Europe/Berlin").is_ok(), "{rare}");
        }
    }
}
