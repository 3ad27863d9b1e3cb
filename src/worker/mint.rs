//! Minting the tokens a message carries: signed with the first of `tokens.keys`, so minting is
//! arithmetic and writes nothing (links used to cost a row each; see `domain::TokenKeys`).

use chrono::{DateTime, Utc};

use crate::domain::{Claims, Token, TokenKeys};
use crate::store::deliveries::Claimed;

/// Unsubscribe links sit in people's inboxes for a long time and must keep working (the law in
/// several countries asks for at least 30 days); a year is what we promise.
const UNSUBSCRIBE_TTL: chrono::Duration = chrono::Duration::days(365);

/// The tokens one message carries.
pub struct Minted {
    /// For a confirmation or reminder mail only.
    pub confirm: Option<Token>,
    pub unsubscribe: Token,
    /// "Manage your subscription": every mail has one.
    pub preferences: Token,
}

/// Mints the tokens a delivery's message will carry. `confirm_ttl` is
/// `subscriptions.token_ttl_hours`, `preferences_ttl` `subscriptions.preferences_ttl_days`. A confirmation link carries the subscriber's token version
/// as claimed with the row: once they confirm or leave, it is spent.
pub fn mint(
    delivery: &Claimed,
    keys: &TokenKeys,
    confirm_ttl: chrono::Duration,
    preferences_ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> Minted {
    // A reminder carries a fresh confirmation link, as the first mail's may be close to expiry.
    let confirm = delivery
        .kind
        .confirms()
        .then(|| keys.sign(&Claims::confirm(delivery.subscriber_id, delivery.token_version, now + confirm_ttl)));
    let unsubscribe = keys.sign(&Claims::unsubscribe(delivery.subscriber_id, now + UNSUBSCRIBE_TTL));
    let preferences = keys.sign(&Claims::preferences(delivery.subscriber_id, now + preferences_ttl));
    Minted { confirm, unsubscribe, preferences }
}
