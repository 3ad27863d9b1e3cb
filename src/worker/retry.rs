//! When to try a failed delivery again, and when to stop.

use std::time::Duration;

/// No retry waits longer than this, however many attempts came before.
const MAX_DELAY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
}

impl RetryPolicy {
    /// `None` once `attempts` (the attempts made so far, this one included) used up the budget.
    /// Otherwise the delay doubles per attempt, capped at an hour, and is drawn uniformly from
    /// its upper half so that messages that failed together do not all come back together.
    pub fn next_delay(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exponent).min(MAX_DELAY);
        Some(full.mul_f64(0.5 + fastrand::f64() * 0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_gives_up() {
        let policy = RetryPolicy { max_attempts: 4, base: Duration::from_secs(30) };
        for _ in 0..100 {
            let first = policy.next_delay(1).unwrap();
            assert!(first >= Duration::from_secs(15) && first <= Duration::from_secs(30));
            let third = policy.next_delay(3).unwrap();
            assert!(third >= Duration::from_secs(60) && third <= Duration::from_secs(120));
        }
        assert_eq!(policy.next_delay(4), None);
    }

    #[test]
    fn capped_at_an_hour() {
        let policy = RetryPolicy { max_attempts: 100, base: Duration::from_secs(30) };
        assert!(policy.next_delay(60).unwrap() <= MAX_DELAY);
    }
}
