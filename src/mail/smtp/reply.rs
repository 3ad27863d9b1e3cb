//! Replies and refusals: where in a transaction a negative reply came, and what it means for
//! the message (the recipient's hard bounce, a retry, or a problem of ours).

use lettre::transport::smtp::Error as SmtpError;

use super::SmtpSendError;

/// Where in the transaction a reply came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Mail,
    Rcpt,
    Data,
}

/// A negative reply: its code, and how it reads in a delivery's error.
#[derive(Debug)]
pub struct Refusal {
    pub code: u16,
    pub described: String,
}

pub enum Failure {
    /// A negative reply. `reusable`: the session was reset and can carry the next message.
    Reply {
        stage: Stage,
        refusal: Refusal,
        reusable: bool,
    },
    NeedsSevenBit,
    /// No reply, or a garbled one: the connection is gone.
    Broken(String),
}

/// A negative reply, by where it came: 5xx to RCPT or to the content is the recipient's.
pub fn verdict(stage: Stage, refusal: &Refusal) -> SmtpSendError {
    match stage {
        Stage::Rcpt | Stage::Data if refusal.code >= 500 && refusal.code != 530 => {
            SmtpSendError::Rejected(refusal.described.clone())
        }
        _ => classify(refusal),
    }
}

/// A 5xx reply to the message's own transaction is final, except 530 ("authentication
/// required": our settings, not the message); everything else (4xx) is worth retrying.
fn classify(refusal: &Refusal) -> SmtpSendError {
    match refusal.code {
        530 => SmtpSendError::Unavailable(refusal.described.clone()),
        500.. => SmtpSendError::Permanent(refusal.described.clone()),
        _ => SmtpSendError::Transient(refusal.described.clone()),
    }
}

pub fn describe(e: &SmtpError) -> String {
    match e.status() {
        Some(code) => format!("{code} {e}"),
        None => e.to_string(),
    }
}
