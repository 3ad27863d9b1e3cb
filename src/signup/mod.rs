//! The signup pipeline: signups gathered into shared statements ([`SignupQueue`], group commit
//! over `store::signups`), and the handover of their confirmation mails straight to the worker
//! of the same process ([`Handover`], a channel the worker reads in `worker::handover`).
//!
//! Neither is HTTP's nor the store's: the queue is a batching engine that HTTP handlers submit
//! to, and the handover a channel with no SQL in it.

pub mod bots;
mod handover;
mod lists;
mod queue;

use uuid::Uuid;

pub use handover::{Handed, Handover, Slot, hand_over, handover_channel};
pub use lists::{ChoiceError, PublicLists};
pub use queue::SignupQueue;

use crate::domain::{SubscriberEmail, SubscriberName, SubscriberStatus};
use crate::store::signups::{Request, signup_many};
use crate::store::subscribers::Origin;

/// What a signup did, for the log line; the response never depends on it.
#[derive(Debug)]
pub struct Signup {
    pub subscriber_id: Uuid,
    pub status: SubscriberStatus,
    pub queued: bool,
    /// The confirmation went straight to the in-process worker: nobody needs waking.
    pub handed_over: bool,
}

/// Why a signup could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("the database is unavailable")]
    Unavailable,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// A nonce it carried had been used: `form`, the form token's; `pow`, the challenge's.
    #[error("a single-use token was used before")]
    Replayed { form: bool, pow: bool },
}

/// One signup to the default list on its own, outside the queue; `slot`, when given, receives
/// the confirmation.
pub async fn one(
    conn: &mut sqlx::PgConnection,
    email: &SubscriberEmail,
    name: Option<&SubscriberName>,
    origin: &Origin,
    cap: u32,
    slot: Option<Slot>,
) -> sqlx::Result<Signup> {
    let default = crate::store::lists::default_choice(&mut *conn).await?;
    let lists = [default];
    let request = Request::new(email, name, &lists, origin).leased_to(slot.as_ref().map(Slot::lease));
    let mut done = signup_many(conn, &[request], cap).await?.done;
    match done.pop() {
        Some(done) => Ok(hand_over(done, slot)),
        None => Err(sqlx::Error::RowNotFound),
    }
}
