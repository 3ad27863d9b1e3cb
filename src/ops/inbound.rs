//! One inbound mail — a bounce report, a complaint, an automatic reply, an unsubscribe request —
//! turned into a decision about a subscriber. Shared by `broadsheet inbound` (an MTA pipes each
//! message to it) and `POST /admin/inbound`; provider webhooks (`ops::providers`) end in the same
//! [`bounced`] and [`complaint`].
//!
//! Who a report is about: anyone can send us mail, and a report can name any address, so an
//! address a report names is never enough. A report is about one message of ours, named in a way
//! only that message's reader or its mail servers can know:
//! - with `mail.bounce_address` set (VERP), by the signed tag in the address the report was sent
//!   to (or, for complaint reports, in the quoted original's Return-Path). Every genuine report
//!   about our mail carries one, so a report without a tag, or with one that does not verify,
//!   changes nobody;
//! - without it, by the quoted original's `Message-ID`, which names the delivery and must match
//!   the random id that delivery was sent with.

use serde::Serialize;
use sqlx::PgPool;

use super::OpsError;
use crate::domain::TokenKeys;
use crate::inbound::{self, Bounce, Inbound, InboundKind};
use crate::mail::BounceAddress;
use crate::store::bounces::{self, Target};
use crate::store::subscribers::Origin;
use crate::store::tokens;
use crate::telemetry::metrics::{self, METRICS};

/// What the operator configured about inbound mail.
pub struct InboundSettings<'a> {
    pub bounce: Option<&'a BounceAddress>,
    pub unsubscribe_mailto: Option<&'a str>,
    pub soft_limit: i64,
    pub soft_window_days: f64,
    /// Verify the unsubscribe token in a mail's subject. Only unsubscribe mails need them: a
    /// process that cannot read its keys still takes bounce reports and complaints (neither
    /// tags nor Message-IDs are checked with the link keys).
    pub token_keys: Option<&'a TokenKeys>,
}

/// The decision, as `broadsheet inbound` prints it and the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Processed {
    /// `hard-bounce`, `soft-bounce`, `complaint`, `unsubscribe` or `ignored`.
    pub outcome: &'static str,
    /// Why a message was ignored, or what was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Subscribers whose status changed.
    pub changed: u32,
}

impl Processed {
    pub(crate) fn ignored(reason: impl Into<String>) -> Self {
        metrics::inc(&METRICS.inbound_ignored);
        Self { outcome: "ignored", reason: Some(reason.into()), changed: 0 }
    }
}

/// Inbound messages parsed at once in this process (each parse is bounded: see
/// [`inbound::PARSED_BYTES`]).
pub const CONCURRENT_PARSES: usize = 2;
static PARSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_PARSES);

/// Classifies one raw message and acts on it. `envelope_to` is the address the MTA delivered it
/// to, when it says (Postfix: `${original_recipient}`).
pub async fn process(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    raw: &[u8],
    envelope_to: Option<&str>,
) -> Result<Processed, OpsError> {
    // Parsing is CPU work on untrusted input: not on the async threads, and only so many at
    // once, so a burst of reports queues here instead of taking every core and its memory.
    let parsing = PARSES.acquire().await.map_err(|e| OpsError::Internal(e.into()))?;
    // Past the size limit the classifier says so; below it, it reads only this much.
    let parsed =
        if raw.len() > inbound::MAX_INBOUND_BYTES { 0..raw.len() } else { 0..raw.len().min(inbound::PARSED_BYTES) };
    let (raw, to, mailto) = (
        raw.get(parsed).unwrap_or(raw).to_vec(),
        envelope_to.map(str::to_owned),
        settings.unsubscribe_mailto.map(str::to_owned),
    );
    let inbound = tokio::task::spawn_blocking(move || inbound::classify(&raw, to.as_deref(), mailto.as_deref()))
        .await
        .map_err(|e| OpsError::Internal(e.into()))?;
    drop(parsing);
    match &inbound.kind {
        InboundKind::Bounce(found) => bounce(db, settings, &inbound, found).await,
        InboundKind::Complaint { feedback_type, .. } => {
            let target = match about(db, settings, &inbound).await? {
                Ok(target) => target,
                Err(reason) => return Ok(Processed::ignored(reason)),
            };
            complaint(db, target, feedback_type).await
        }
        InboundKind::Unsubscribe { token, .. } => {
            let Some(keys) = settings.token_keys else {
                // Kept by the MTA (try again later) rather than dropped: the person asked to leave.
                return Err(OpsError::Internal(anyhow::anyhow!(
                    "an unsubscribe mail arrived, but tokens.keys cannot be read to check its token"
                )));
            };
            let Some(token) = token.as_deref().and_then(|t| keys.check(t)) else {
                return Ok(Processed::ignored(
                    "a mail to the unsubscribe address without a valid token in its subject",
                ));
            };
            let mut tx = db.begin().await?;
            let origin = Origin { ip: None, user_agent: Some("unsubscribe by mail".to_owned()) };
            let Some((_, changed)) = tokens::unsubscribe_with_token(&mut tx, &token, &origin).await? else {
                return Ok(Processed::ignored("an unsubscribe token that is unknown or expired"));
            };
            tx.commit().await?;
            metrics::inc(&METRICS.unsubscribes_by_mail);
            Ok(Processed { outcome: "unsubscribe", reason: None, changed: changed.into() })
        }
        InboundKind::AutoReply => Ok(Processed::ignored("an automatic reply (RFC 3834)")),
        InboundKind::Ignored { reason } => Ok(Processed::ignored(reason.clone())),
    }
}

async fn bounce(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    inbound: &Inbound,
    found: &[Bounce],
) -> Result<Processed, OpsError> {
    let target = match about(db, settings, inbound).await? {
        Ok(target) => target,
        Err(reason) => return Ok(Processed::ignored(reason)),
    };
    // The report is about one message; its first failed recipient says why (a report about
    // several of our messages would carry several tags, and only one can be the address it came to).
    let Some(b) = found.first() else { return Ok(Processed::ignored("a report naming no failed recipient")) };
    bounced(db, settings, target, b).await
}

/// Acts on one failed delivery to `target`: the one path every bounce takes, whether a report
/// came by mail (this module) or from a provider's webhook (`ops::providers`).
pub(crate) async fn bounced(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    target: Target,
    b: &Bounce,
) -> Result<Processed, OpsError> {
    let changed = if b.hard {
        metrics::inc(&METRICS.hard_bounces);
        bounces::hard(db, target, &b.status, b.diagnostic.as_deref()).await?
    } else {
        metrics::inc(&METRICS.soft_bounces);
        bounces::soft(db, target, &b.status, b.diagnostic.as_deref(), settings.soft_limit, settings.soft_window_days)
            .await?
    };
    Ok(Processed {
        outcome: if b.hard { "hard-bounce" } else { "soft-bounce" },
        reason: Some(format!("status {}", b.status)),
        changed: changed.into(),
    })
}

/// Acts on a complaint about a message to `target`, from a feedback report or a webhook.
pub(crate) async fn complaint(db: &PgPool, target: Target, feedback_type: &str) -> Result<Processed, OpsError> {
    let changed = bounces::complaint(db, target, feedback_type).await?;
    metrics::inc(&METRICS.complaints);
    Ok(Processed {
        outcome: "complaint",
        reason: Some(format!("feedback type {feedback_type}")),
        changed: changed.into(),
    })
}

/// Who a report is about: the delivery its VERP tag names, or (without a bounce address) the
/// delivery its quoted Message-ID names. `Err` says why nobody.
async fn about(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    inbound: &Inbound,
) -> Result<Result<Target, &'static str>, OpsError> {
    let Some(bounce) = settings.bounce else {
        // A report quotes the original once; a few more ids are a forwarded chain at most.
        for id in inbound.quoted_message_ids.iter().take(4) {
            let Some(delivery) = crate::mail::delivery_of_message_id(id) else { continue };
            if let Some(target) = bounces::target_of_message(db, delivery, id).await? {
                return Ok(Ok(target));
            }
        }
        return Ok(Err("a report that quotes no Message-ID of ours"));
    };
    // The first address of ours that carries a tag decides; a tag that does not verify is forged.
    for address in inbound.sent_to.iter().chain(&inbound.quoted_return_paths) {
        if bounce.is_plain(address) || !bounce.looks_tagged(address) {
            continue;
        }
        let Some(delivery) = bounce.delivery_in(address) else {
            return Ok(Err("a bounce address tag that does not verify"));
        };
        return Ok(bounces::target_of_delivery(db, delivery)
            .await?
            .ok_or("a report about a delivery that no longer exists"));
    }
    Ok(Err("a report without a bounce address tag (every report about our mail carries one)"))
}
