//! Per-IP limits on the public POST routes, so a script cannot use us to flood someone's inbox.
//!
//! A fixed one-minute window per address, in memory: each process limits on its own, which is
//! enough to stop abuse through one instance; a proxy in front can do the global job.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    per_minute: u32,
    started: Instant,
    windows: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

/// Beyond this many tracked addresses, old windows are swept out.
const SWEEP_AT: usize = 100_000;

impl RateLimiter {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, started: Instant::now(), windows: Mutex::new(HashMap::new()) }
    }

    /// `Err(seconds to wait)` when `ip` used up this minute's allowance.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let elapsed = self.started.elapsed().as_secs();
        let window = elapsed / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(ip).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(60 - elapsed % 60);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_configured_number_then_refuses() {
        let limiter = RateLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        let wait = limiter.check(ip).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.check("192.0.2.2".parse().unwrap()).is_ok());
        assert!(RateLimiter::new(0).check(ip).is_ok());
    }
}
