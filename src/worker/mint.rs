//! Minting the tokens a message carries. Their plaintext lives only in [`Minted`] and then in the
//! message; their hashes are stored for a whole batch in one statement before any message of it
//! goes out (see `claim`).

use chrono::Utc;

use crate::domain::{Token, TokenHash};
use crate::store::deliveries::Claimed;
use crate::store::tokens::{NewToken, TokenPurpose};

/// Unsubscribe links sit in people's inboxes for a long time and must keep working (the law in
/// several countries asks for at least 30 days); a year is what we promise.
const UNSUBSCRIBE_TTL: chrono::Duration = chrono::Duration::days(365);

/// The tokens one message carries.
pub struct Minted {
    /// For a confirmation or reminder mail only.
    pub confirm: Option<Token>,
    pub unsubscribe: Token,
}

/// Mints the tokens a delivery's message will carry and adds their hashes to `tokens`.
/// `confirm_ttl` is `subscriptions.token_ttl_hours`.
pub fn mint(delivery: &Claimed, confirm_ttl: chrono::Duration, tokens: &mut Vec<NewToken>) -> anyhow::Result<Minted> {
    // A reminder carries a fresh confirmation link, as the first mail's may be close to expiry.
    let confirm = if delivery.kind.confirms() {
        let confirm = Token::generate()?;
        tokens.push(new_token(confirm.hash(), delivery, TokenPurpose::Confirm, Utc::now() + confirm_ttl));
        Some(confirm)
    } else {
        None
    };
    let unsubscribe = Token::generate()?;
    tokens.push(new_token(unsubscribe.hash(), delivery, TokenPurpose::Unsubscribe, Utc::now() + UNSUBSCRIBE_TTL));
    Ok(Minted { confirm, unsubscribe })
}

fn new_token(
    hash: TokenHash,
    delivery: &Claimed,
    purpose: TokenPurpose,
    expires_at: chrono::DateTime<Utc>,
) -> NewToken {
    NewToken { hash, subscriber_id: delivery.subscriber_id, purpose, expires_at }
}
