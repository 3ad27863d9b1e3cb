//! Per-client limits: on the public POST routes, so a script cannot use us to flood someone's
//! inbox, and on wrong admin tokens, so the token cannot be guessed at speed.
//!
//! A client is its IPv4 address, or its IPv6 network of `limits.ipv6_prefix` bits (64 by
//! default): one host is usually handed a whole /64, so keying by full address would let it take
//! a fresh key per request. Each key gets a bucket that holds `per_minute` requests and refills
//! one every `60 / per_minute` seconds (GCRA: one timestamp per key), so there is no burst of
//! twice the limit across the edge of a fixed window. The table is bounded: past `max_keys`,
//! keys whose bucket is full again are dropped, then the least used tenth. Each process limits on
//! its own, which is enough to stop abuse through one instance; a proxy in front can do the
//! global job.
//!
//! Why ours and not `governor`/`tower_governor`: the GCRA here is the same algorithm as
//! governor's (no fixed-window double burst), but its keyed limiter would need wrapping for the
//! other two things we need: keys by IPv6 prefix rather than by address (tower_governor's key
//! extractors take the peer or a header as they are), and a bound on memory enforced at insert
//! time (governor's keyed store only shrinks when `retain_recent` is called from outside). Both
//! wrappers would be about as long as this file, which is tested below; swap it in when
//! governor grows a bounded keyed store.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Who a limit applies to: an IPv4 address or an IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// IPv4 (also when mapped into IPv6) by address; IPv6 by its first `ipv6_prefix` bits.
    pub fn new(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let bits = u32::from(ipv6_prefix.min(128));
                    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                    Self(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
                }
            },
        }
    }
}

pub struct RateLimiter {
    /// Time between two requests at the sustained rate; `None` turns the limit off.
    interval: Option<Duration>,
    /// How far ahead of now a key's schedule may run: the burst, less one interval.
    tolerance: Duration,
    ipv6_prefix: u8,
    max_keys: usize,
    started: Instant,
    /// Per key, the theoretical arrival time of its next request (GCRA), as time since `started`.
    keys: Mutex<HashMap<ClientKey, Duration>>,
}

/// Enough for every client of a busy day; a few MB at most.
const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32, ipv6_prefix: u8) -> Self {
        Self::with_max_keys(per_minute, ipv6_prefix, MAX_KEYS)
    }

    pub fn with_max_keys(per_minute: u32, ipv6_prefix: u8, max_keys: usize) -> Self {
        let interval = (per_minute > 0).then(|| Duration::from_secs(60) / per_minute);
        let tolerance = interval.map_or(Duration::ZERO, |i| i * per_minute.saturating_sub(1));
        Self {
            interval,
            tolerance,
            ipv6_prefix,
            max_keys: max_keys.max(1),
            started: Instant::now(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    pub fn key(&self, ip: IpAddr) -> ClientKey {
        ClientKey::new(ip, self.ipv6_prefix)
    }

    /// Counts one request; `Err(seconds to wait)` when `ip`'s client has used up its allowance.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.check_at(self.key(ip), self.started.elapsed())
    }

    /// `Err(seconds to wait)` when `ip`'s client has no allowance left; counts nothing.
    pub fn exhausted(&self, ip: IpAddr) -> Result<(), u64> {
        if self.interval.is_none() {
            return Ok(());
        }
        let now = self.started.elapsed();
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let ahead = keys.get(&self.key(ip)).map_or(Duration::ZERO, |tat| tat.saturating_sub(now));
        if ahead > self.tolerance { Err(wait_secs(ahead - self.tolerance)) } else { Ok(()) }
    }

    fn check_at(&self, key: ClientKey, now: Duration) -> Result<(), u64> {
        let Some(interval) = self.interval else { return Ok(()) };
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= self.max_keys && !keys.contains_key(&key) {
            shrink(&mut keys, now, self.max_keys);
        }
        let tat = keys.get(&key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(wait_secs(ahead - self.tolerance));
        }
        keys.insert(key, tat + interval);
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Drops keys whose bucket has refilled (they are as good as new); if that is not enough, the
/// tenth with the least recent use, so the table stays bounded whatever the traffic.
fn shrink(keys: &mut HashMap<ClientKey, Duration>, now: Duration, max_keys: usize) {
    keys.retain(|_, tat| *tat > now);
    if keys.len() < max_keys {
        return;
    }
    let mut schedule: Vec<Duration> = keys.values().copied().collect();
    let cut = (max_keys / 10).max(1).min(schedule.len() - 1);
    let (_, threshold, _) = schedule.select_nth_unstable(cut);
    let threshold = *threshold;
    keys.retain(|_, tat| *tat > threshold);
}

fn wait_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_configured_number_then_refuses() {
        let limiter = RateLimiter::new(3, 64);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        let wait = limiter.check(ip).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(limiter.check("192.0.2.2".parse().unwrap()).is_ok());
        assert!(RateLimiter::new(0, 64).check(ip).is_ok());
    }

    #[test]
    fn refills_steadily_so_there_is_no_double_burst_at_a_window_edge() {
        let limiter = RateLimiter::new(20, 64);
        let key = limiter.key("192.0.2.1".parse().unwrap());
        let at = |secs: f64| Duration::from_secs_f64(100.0 + secs);
        let allowed = (0..40).filter(|i| limiter.check_at(key, at(f64::from(*i) * 0.05)).is_ok()).count();
        assert_eq!(allowed, 20, "a burst of the limit within two seconds, not twice the limit");
        assert!(limiter.check_at(key, at(2.5)).is_err());
        assert!(limiter.check_at(key, at(5.1)).is_ok(), "one more every 3 seconds");
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        let limiter = RateLimiter::new(2, 64);
        for i in 0..2 {
            assert!(limiter.check(format!("2001:db8:1:2::{i:x}").parse().unwrap()).is_ok());
        }
        assert!(limiter.check("2001:db8:1:2:ffff:1:2:3".parse().unwrap()).is_err(), "same /64, same bucket");
        assert!(limiter.check("2001:db8:1:3::1".parse().unwrap()).is_ok(), "the next /64 is someone else");
        assert_eq!(
            ClientKey::new("2001:db8:1:2:3:4:5:6".parse().unwrap(), 48),
            ClientKey::new("2001:db8:1:ffff::".parse().unwrap(), 48)
        );
        assert_ne!(
            ClientKey::new("2001:db8::1".parse().unwrap(), 128),
            ClientKey::new("2001:db8::2".parse().unwrap(), 128)
        );
        assert_eq!(
            ClientKey::new("::ffff:192.0.2.7".parse().unwrap(), 64),
            ClientKey::new("192.0.2.7".parse().unwrap(), 64),
            "IPv4-mapped addresses count as IPv4"
        );
        assert_ne!(ClientKey::new("192.0.2.7".parse().unwrap(), 64), ClientKey::new("192.0.2.8".parse().unwrap(), 64));
    }

    #[test]
    fn the_table_stays_bounded_however_many_clients_come() {
        let limiter = RateLimiter::with_max_keys(5, 64, 1_000);
        let now = Duration::from_secs(10);
        for i in 0..50_000u32 {
            let ip = IpAddr::V6(Ipv6Addr::from(u128::from(i) << 64));
            let _ = limiter.check_at(limiter.key(ip), now);
            assert!(limiter.tracked() <= 1_000);
        }
    }
}
