//! When the mail server is down or refuses us as a whole (connect, TLS, greeting, AUTH), no
//! message is at fault: the worker postpones the messages that met the outage without spending
//! their attempts, and stops claiming for a while, pausing longer the longer the outage lasts.
//! Otherwise an outage of an hour or two would use up every queued message's retries.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest pause between two looks at a server that is down.
const MAX_PAUSE: Duration = Duration::from_secs(300);

pub struct Outage {
    first_pause: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    until: Option<Instant>,
    pause: Duration,
}

impl Outage {
    pub fn new(first_pause: Duration) -> Self {
        Self { first_pause: first_pause.min(MAX_PAUSE), state: Mutex::new(State::default()) }
    }

    /// A send found no session. Starts (or, once the last pause is over, doubles) the pause and
    /// returns how long to postpone the message. Sends failing together count once.
    pub fn report(&self) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if state.until.is_none_or(|until| until <= now) {
            state.pause = if state.pause.is_zero() { self.first_pause } else { (state.pause * 2).min(MAX_PAUSE) };
            state.until = Some(now + state.pause);
        }
        state.pause
    }

    /// A message went out: the server is back.
    pub fn over(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.pause.is_zero() {
            *state = State::default();
        }
    }

    /// How long claiming should still wait, if the server is thought to be down.
    pub fn remaining(&self) -> Option<Duration> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.until.and_then(|until| until.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_per_outage_and_end_with_a_sent_message() {
        let outage = Outage::new(Duration::from_millis(20));
        assert_eq!(outage.remaining(), None);
        assert_eq!(outage.report(), Duration::from_millis(20));
        assert_eq!(outage.report(), Duration::from_millis(20), "failures during a pause count once");
        assert!(outage.remaining().is_some());
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(outage.report(), Duration::from_millis(40));
        outage.over();
        assert_eq!(outage.remaining(), None);
        assert_eq!(outage.report(), Duration::from_millis(20));
    }
}
