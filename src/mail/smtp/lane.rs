//! A send lane: one SMTP session that carries messages one after another, each message's end of
//! data written together with the next message's MAIL, RCPT and DATA.
//!
//! RFC 2920 lets the content be the first "command" of a pipelined group, so a lane that has its
//! next message in hand spends one round trip per message instead of two (envelope, then
//! content): half the wake-ups of the sender and of the server, which on a loaded machine is
//! what a message costs. Without a next message, or on a session that does not pipeline (no
//! PIPELINING, the file transport), a lane sends as the pool does. Plain, STARTTLS and implicit
//! TLS sessions are alike here.
//!
//! What can go wrong is kept apart per message: the reply to the end of data is this message's
//! verdict; the next message's envelope replies are its own (a refusal there is its verdict,
//! before any content went); a connection lost before the next message's 354 means it was not
//! sent at all, and the caller sends it again on a fresh session.

use std::time::Instant;

use super::data::Commands;
use super::reply::{Failure, verdict};
use super::{MAX_IDLE, Session, SmtpPool, SmtpSendError, mail_options};
use crate::mail::{BuiltMessage, MailTransport, SendError};

/// What became of the next message handed to [`Lane::send`].
#[derive(Debug)]
pub enum Next {
    /// Nothing of it was sent, or nothing that counts: send it again.
    NotSent,
    /// Its transaction is open (the server said 354): it must be the next message sent.
    Opened,
    /// The server refused its envelope; this is its verdict.
    Refused(SendError),
}

pub struct Lane<'a> {
    transport: &'a MailTransport,
    session: Option<Session>,
    /// The session's last exchange left a transaction open for the next message to be sent.
    open: bool,
    last_used: Instant,
}

impl MailTransport {
    /// A lane of its own for one sender (see the module's documentation).
    pub fn lane(&self) -> Lane<'_> {
        Lane { transport: self, session: None, open: false, last_used: Instant::now() }
    }
}

impl Lane<'_> {
    /// Whether handing [`Self::send`] a next message can save it a round trip.
    pub fn pipelines(&self) -> bool {
        matches!(self.transport, MailTransport::Smtp(_))
    }

    /// Sends `current`, and with `next` (not yet started) writes `next`'s envelope behind
    /// `current`'s content where the session allows. If the last call answered
    /// [`Next::Opened`], `current` must be that message.
    pub async fn send(&mut self, current: &BuiltMessage, next: Option<&BuiltMessage>) -> (Result<(), SendError>, Next) {
        match self.transport {
            MailTransport::Smtp(pool) => pool.lane_send(self, current, next).await,
            MailTransport::File(_) => (self.transport.send(&current.envelope, &current.data).await, Next::NotSent),
        }
    }

    /// After a send that did not end (its timeout): what the session is in the middle of is
    /// unknown, so it is closed.
    pub fn reset(&mut self) {
        self.session = None;
        self.open = false;
    }

    /// While the lane waits for work its session waits in the pool, so that a trickle of mail
    /// reuses one warm session whichever lane takes it, rather than each lane keeping its own
    /// until it goes stale. Not in the middle of a transaction (see [`Self::close`]).
    pub fn park(&mut self) {
        if self.open {
            return;
        }
        if let (MailTransport::Smtp(pool), Some(session)) = (self.transport, self.session.take()) {
            pool.put_back(session);
        }
    }

    /// The lane's session goes back to the pool (for reuse, and for QUIT at shutdown), unless
    /// it is in the middle of a transaction: then it is closed and the server drops the
    /// unfinished message.
    pub fn close(mut self) {
        self.park();
    }
}

impl SmtpPool {
    async fn lane_send(
        &self,
        lane: &mut Lane<'_>,
        current: &BuiltMessage,
        next: Option<&BuiltMessage>,
    ) -> (Result<(), SendError>, Next) {
        if !lane.open {
            match self.lane_open(lane, current).await {
                Ok(true) => {}
                // Not a session this lane can pipeline on: the pool's own send.
                Ok(false) => {
                    let sent = self.send(&current.envelope, &current.data).await;
                    return (sent, Next::NotSent);
                }
                Err(e) => return (Err(e), Next::NotSent),
            }
        }
        lane.open = false;
        lane.last_used = Instant::now();
        let Some(session) = lane.session.as_mut() else {
            return (Err(SmtpSendError::Transient("the session closed".to_owned())), Next::NotSent);
        };
        let raw = &mut session.raw;
        // The next message rides along only if this server may have it (8BITMIME); otherwise
        // it goes on its own and gets the 7-bit rebuild.
        let then = next.and_then(|n| {
            mail_options(&session.smtp, &n.envelope, n.data.wire())
                .ok()
                .map(|options| Commands::new(&n.envelope, options))
        });
        let sent = match raw.finish(&current.data.stuffed(), then.as_ref()).await {
            Ok(()) => Ok(()),
            Err(failure) => Err(self.lane_failure(lane, failure)),
        };
        let next_state = match (then, lane.session.as_mut().map(|s| &mut s.raw)) {
            (Some(then), Some(raw)) => match raw.opened_next(&then).await {
                Ok(()) => {
                    lane.open = true;
                    Next::Opened
                }
                // Its envelope was refused, before any content: its verdict.
                Err(failure @ Failure::Reply { .. }) => Next::Refused(self.lane_failure(lane, failure)),
                Err(failure) => {
                    self.lane_failure(lane, failure);
                    Next::NotSent
                }
            },
            _ => Next::NotSent,
        };
        (sent, next_state)
    }

    /// Opens `current`'s transaction on the lane's session, connecting first if it has none (or
    /// one that broke or sat idle too long). `Ok(false)`: the session cannot pipeline; it went
    /// back to the pool.
    async fn lane_open(&self, lane: &mut Lane<'_>, current: &BuiltMessage) -> Result<bool, SmtpSendError> {
        if lane.session.as_ref().is_some_and(|s| s.has_broken() || lane.last_used.elapsed() >= MAX_IDLE) {
            lane.session = None;
        }
        // A session that carried messages before may have been closed by the server meanwhile
        // (silently, or with a 421): one more try on a fresh one, so that costs no message an
        // attempt (as in the pool).
        for fresh in [false, true] {
            let (mut session, connected) = match lane.session.take() {
                Some(session) if !fresh => (session, false),
                _ => match (fresh, self.take_idle()) {
                    (false, Some(session)) => (session, false),
                    _ => (self.connect().await?, true),
                },
            };
            let options = mail_options(&session.smtp, &current.envelope, current.data.wire());
            if !session.raw.pipelining {
                self.put_back(session);
                return Ok(false);
            }
            let raw = &mut session.raw;
            let Ok(options) = options else {
                lane.session = Some(session);
                return Err(SmtpSendError::NeedsSevenBit);
            };
            let opened = raw.open(&Commands::new(&current.envelope, options)).await;
            lane.session = Some(session);
            match opened {
                Ok(()) => {
                    lane.open = true;
                    return Ok(true);
                }
                Err(Failure::Broken(_)) if !connected => {
                    lane.session = None;
                    continue;
                }
                Err(Failure::Reply { refusal, .. }) if !connected && refusal.code == 421 => {
                    lane.session = None;
                    continue;
                }
                Err(failure) => return Err(self.lane_failure(lane, failure)),
            }
        }
        Err(SmtpSendError::Transient("the connection broke twice".to_owned()))
    }

    /// A failure's verdict; a session that cannot carry another message is dropped.
    fn lane_failure(&self, lane: &mut Lane<'_>, failure: Failure) -> SmtpSendError {
        match failure {
            Failure::Reply { stage, refusal, reusable } => {
                if !reusable {
                    lane.reset();
                }
                verdict(stage, &refusal)
            }
            Failure::NeedsSevenBit => SmtpSendError::NeedsSevenBit,
            Failure::Broken(e) => {
                lane.reset();
                SmtpSendError::Transient(e)
            }
        }
    }
}
