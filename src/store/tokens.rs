//! What a link's token is worth. Links are signed and need no row (`domain::TokenKeys`); the
//! database says only whether a confirmation link is still good: its subscriber pending, with
//! the `token_version` the link carries (confirming, or leaving pending any other way, moves it
//! on: see the migration `stateless_tokens`).
//!
//! Links mailed before that release are random tokens whose SHA-256 is in `subscription_tokens`.
//! They are honoured here until they expire; nothing writes that table any more, the
//! housekeeping chore purges it, and it can be dropped once the longest lifetime (a year, for
//! unsubscribe links) has passed after deploying.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{LinkToken, SubscriberStatus, TokenHash, TokenPurpose};

/// Deletes up to `limit` stored tokens that expired more than a day ago (until then a stale link
/// still gets the "this link has expired" page rather than "unknown link"). Only tokens from
/// before signed links are stored; returns how many went.
pub async fn purge_expired(db: &PgPool, limit: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM subscription_tokens WHERE hash IN (
             SELECT hash FROM subscription_tokens WHERE expires_at < now() - interval '1 day' LIMIT $1)",
        limit,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What a confirmation token turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmToken {
    /// Valid and unused: its subscriber is now confirmed, with every list they asked for.
    Fresh(Uuid),
    /// Valid and unused, for an address confirmed before that asked to join more lists: those
    /// memberships are now confirmed.
    Joined(Uuid),
    /// Genuine, and its subscriber is confirmed: a second click is harmless.
    AlreadyConfirmed,
    /// Unknown, forged, expired, spent while pending, or its subscriber unsubscribed or erased.
    Invalid,
}

/// Confirms the subscriber a confirmation token names, if the token is still good, and every
/// membership they asked for. The check and the change are one `UPDATE … WHERE token_version =
/// $v`, which moves the version on, so of two simultaneous clicks one confirms and the other
/// (which waits for the row) finds it confirmed. A confirmed address gets a confirmation mail
/// when it asks to join a double-opt-in list; its link confirms those memberships the same way.
pub async fn confirm(conn: &mut PgConnection, token: &LinkToken, now: DateTime<Utc>) -> sqlx::Result<ConfirmToken> {
    let (subscriber, fresh) = match token {
        LinkToken::Signed(claims) => {
            if claims.purpose != TokenPurpose::Confirm {
                return Ok(ConfirmToken::Invalid);
            }
            let confirmed = if claims.expired(now) {
                None
            } else {
                // `was_pending` reads the row before this UPDATE (a self-join on the old version);
                // an address confirmed now gets `subscriber.confirmed` for the webhook endpoints
                // that want it.
                sqlx::query_scalar!(
                    r#"WITH changed AS (
                           UPDATE subscribers s
                           SET status = 'confirmed', confirmed_at = coalesce(s.confirmed_at, now()), updated_at = now(),
                               token_version = s.token_version + 1
                           FROM subscribers old
                           WHERE s.id = $1 AND old.id = s.id AND s.status IN ('pending', 'confirmed')
                             AND s.token_version = $2
                           RETURNING s.id, s.email, s.name, s.status, old.status = 'pending' AS was_pending
                       ),
                       events AS (
                           INSERT INTO webhook_messages (endpoint_id, type, data)
                           SELECT e.id, 'subscriber.confirmed',
                                  jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name, 'status', c.status)
                           FROM changed c
                           JOIN webhook_endpoints e ON e.enabled AND 'subscriber.confirmed' = ANY(e.events)
                           WHERE c.was_pending
                       )
                       SELECT was_pending AS "was_pending!" FROM changed"#,
                    claims.subscriber,
                    claims.version.unwrap_or(0),
                )
                .fetch_optional(&mut *conn)
                .await?
            };
            if let Some(was_pending) = confirmed {
                super::lists::confirm_pending(&mut *conn, claims.subscriber).await?;
                return Ok(if was_pending {
                    ConfirmToken::Fresh(claims.subscriber)
                } else {
                    ConfirmToken::Joined(claims.subscriber)
                });
            }
            (claims.subscriber, false)
        }
        LinkToken::Stored(hash) => match use_stored_confirm_token(&mut *conn, hash).await? {
            Some(id) => {
                let fresh = super::subscribers::confirm(&mut *conn, id).await?;
                if fresh {
                    super::lists::confirm_pending(&mut *conn, id).await?;
                }
                (id, fresh)
            }
            None => match stored_confirm_subject(&mut *conn, hash).await? {
                Some(id) => (id, false),
                None => return Ok(ConfirmToken::Invalid),
            },
        },
    };
    if fresh {
        return Ok(ConfirmToken::Fresh(subscriber));
    }
    // A statement of its own: after waiting for a simultaneous click's row lock, this one sees
    // what that click committed.
    Ok(match super::subscribers::status(conn, subscriber).await? {
        Some(SubscriberStatus::Confirmed) => ConfirmToken::AlreadyConfirmed,
        _ => ConfirmToken::Invalid,
    })
}

/// What the confirm page (a GET, which changes nothing: link scanners open links) may say about
/// a token before anyone presses its button.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmLink {
    /// A confirmation link, unexpired: show the button. Whether it is spent, or its subscriber
    /// already confirmed, is the POST's to say ("already confirmed" is harmless).
    Good,
    /// A confirmation link past its lifetime.
    Expired,
    /// Not a confirmation link of ours.
    Invalid,
}

/// Reads, never writes: a signed token's purpose and expiry, or a stored token's row.
pub async fn confirm_link(db: &PgPool, token: &LinkToken, now: DateTime<Utc>) -> sqlx::Result<ConfirmLink> {
    let expired = match token {
        LinkToken::Signed(claims) if claims.purpose == TokenPurpose::Confirm => Some(claims.expired(now)),
        LinkToken::Signed(_) => None,
        LinkToken::Stored(hash) => sqlx::query_scalar!(
            r#"SELECT expires_at <= $2 AS "expired!" FROM subscription_tokens WHERE hash = $1 AND purpose = 'confirm'"#,
            &hash.0[..],
            now,
        )
        .fetch_optional(db)
        .await?,
    };
    Ok(match expired {
        Some(false) => ConfirmLink::Good,
        Some(true) => ConfirmLink::Expired,
        None => ConfirmLink::Invalid,
    })
}

/// Marks a stored token used in the same statement that checks it.
async fn use_stored_confirm_token(conn: &mut PgConnection, hash: &TokenHash) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE subscription_tokens SET used_at = now()
         WHERE hash = $1 AND purpose = 'confirm' AND used_at IS NULL AND expires_at > now()
         RETURNING subscriber_id",
        &hash.0[..],
    )
    .fetch_optional(conn)
    .await
}

/// Whose a used stored confirmation token was (for "already confirmed").
async fn stored_confirm_subject(conn: &mut PgConnection, hash: &TokenHash) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT subscriber_id FROM subscription_tokens WHERE hash = $1 AND purpose = 'confirm' AND used_at IS NOT NULL",
        &hash.0[..],
    )
    .fetch_optional(conn)
    .await
}

/// Once a subscriber has confirmed or left, the stored confirmation links in their inbox are
/// spent too (signed ones are spent by the version moving on).
pub async fn retire_stored_confirm_tokens(conn: &mut PgConnection, subscriber_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE subscription_tokens SET used_at = now()
         WHERE subscriber_id = $1 AND purpose = 'confirm' AND used_at IS NULL",
        subscriber_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whom an unsubscribe token names, if it is one and unexpired. Unsubscribe tokens stay valid
/// for repeated use (the link is in every mail, and mail clients may POST it more than once).
/// Whether that subscriber still exists is the caller's to find out.
pub async fn unsubscribe_subject(
    conn: &mut PgConnection,
    token: &LinkToken,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Uuid>> {
    match token {
        LinkToken::Signed(claims) => {
            Ok((claims.purpose == TokenPurpose::Unsubscribe && !claims.expired(now)).then_some(claims.subscriber))
        }
        LinkToken::Stored(hash) => {
            sqlx::query_scalar!(
                "SELECT subscriber_id FROM subscription_tokens
                 WHERE hash = $1 AND purpose = 'unsubscribe' AND expires_at > now()",
                &hash.0[..],
            )
            .fetch_optional(conn)
            .await
        }
    }
}

/// Unsubscribes whoever an unsubscribe token belongs to, with the consent record, and retires
/// their confirmation links ("this wasn't me"; leaving pending moves the version signed
/// confirmation links carry). `None` for an unknown, forged or expired token, or a subscriber
/// who has since been erased; `Some(false)` when they had already left.
pub async fn unsubscribe_with_token(
    conn: &mut PgConnection,
    token: &crate::domain::LinkToken,
    origin: &super::subscribers::Origin,
) -> sqlx::Result<Option<(Uuid, bool)>> {
    let Some(id) = unsubscribe_subject(&mut *conn, token, chrono::Utc::now()).await? else {
        return Ok(None);
    };
    Ok(unsubscribe_everything(conn, id, origin).await?.map(|changed| (id, changed)))
}

/// Unsubscribes a person from everything (the address's status), with the consent record, and
/// retires their confirmation links. `None` when they no longer exist; else whether this changed
/// anything.
pub async fn unsubscribe_everything(
    conn: &mut PgConnection,
    id: Uuid,
    origin: &super::subscribers::Origin,
) -> sqlx::Result<Option<bool>> {
    let Some(changed) = super::subscribers::unsubscribe_if_exists(&mut *conn, id).await? else {
        return Ok(None);
    };
    if changed {
        super::subscribers::record_consent(&mut *conn, id, super::subscribers::ConsentAction::Unsubscribe, origin)
            .await?;
        retire_stored_confirm_tokens(&mut *conn, id).await?;
    }
    Ok(Some(changed))
}

/// Leaves one list for whoever an unsubscribe token belongs to (a digest's link names its list),
/// with a `leave` consent record naming it. The address stays subscribed to their other lists.
/// `None` as for [`unsubscribe_with_token`]; `Some(false)` when they were not on the list.
pub async fn leave_list_with_token(
    conn: &mut PgConnection,
    token: &LinkToken,
    list: &super::lists::List,
    origin: &super::subscribers::Origin,
) -> sqlx::Result<Option<(Uuid, bool)>> {
    let Some(id) = unsubscribe_subject(&mut *conn, token, chrono::Utc::now()).await? else {
        return Ok(None);
    };
    let Some(changed) = super::lists::leave(&mut *conn, id, list.id).await? else {
        return Ok(None);
    };
    if changed {
        let named = [(list.id, list.slug.clone())];
        super::subscribers::record_list_consent(
            &mut *conn,
            id,
            super::subscribers::ConsentAction::Leave,
            &named,
            origin,
        )
        .await?;
    }
    Ok(Some((id, changed)))
}

/// Whom a preferences token names, if it is one and unexpired. Whether they still exist is the
/// caller's to find out (the link dies with an erasure).
pub fn preferences_subject(token: &LinkToken, now: DateTime<Utc>) -> Option<Uuid> {
    match token {
        LinkToken::Signed(claims) if claims.purpose == TokenPurpose::Preferences && !claims.expired(now) => {
            Some(claims.subscriber)
        }
        _ => None,
    }
}
