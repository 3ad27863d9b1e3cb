//! One inbound mail — a bounce report, a complaint, an automatic reply, an unsubscribe request —
//! turned into a decision about a subscriber. Shared by `broadsheet inbound` (an MTA pipes each
//! message to it) and `POST /admin/inbound`.
//!
//! Who a report is about: the VERP tag in the address it was sent to (or, for complaint reports,
//! in the quoted original's Return-Path) names the delivery, and so the subscriber. A tag that
//! does not verify is a forgery or damage: ignored, whatever recipient the report names, so no
//! one can bounce a subscriber off the list by mailing a made-up report. Only a report sent to
//! the plain bounce address (or any report when VERP is off) is matched by the recipient address
//! it names.

use serde::Serialize;
use sqlx::PgPool;

use super::OpsError;
use crate::domain::TokenKeys;
use crate::mail::BounceAddress;
use crate::mail::inbound::{self, Bounce, Inbound, InboundKind};
use crate::store::bounces::{self, Target};
use crate::store::subscribers::{self, Origin};
use crate::telemetry::metrics::{self, METRICS};

/// What the operator configured about inbound mail.
pub struct InboundSettings<'a> {
    pub bounce: Option<&'a BounceAddress>,
    pub unsubscribe_mailto: Option<&'a str>,
    pub soft_limit: i64,
    pub soft_window_days: f64,
    /// Verify the unsubscribe token in a mail's subject. Only unsubscribe mails need them: a
    /// process that cannot read its keys still takes bounce reports and complaints.
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
    fn ignored(reason: impl Into<String>) -> Self {
        metrics::inc(&METRICS.inbound_ignored);
        Self { outcome: "ignored", reason: Some(reason.into()), changed: 0 }
    }
}

/// Classifies one raw message and acts on it. `envelope_to` is the address the MTA delivered it
/// to, when it says (Postfix: `${original_recipient}`).
pub async fn process(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    raw: &[u8],
    envelope_to: Option<&str>,
) -> Result<Processed, OpsError> {
    // Parsing is CPU work on untrusted input of up to 10 MB: not on the async threads.
    let (raw, to, mailto) =
        (raw.to_vec(), envelope_to.map(str::to_owned), settings.unsubscribe_mailto.map(str::to_owned));
    let inbound = tokio::task::spawn_blocking(move || inbound::classify(&raw, to.as_deref(), mailto.as_deref()))
        .await
        .map_err(|e| OpsError::Internal(e.into()))?;
    match &inbound.kind {
        InboundKind::Bounce(found) => bounce(db, settings, &inbound, found).await,
        InboundKind::Complaint { recipient, feedback_type } => {
            let target = match target(db, settings, &inbound, recipient.as_deref()).await? {
                Ok(target) => target,
                Err(reason) => return Ok(Processed::ignored(reason)),
            };
            let changed = bounces::complaint(db, target, feedback_type).await?;
            metrics::inc(&METRICS.complaints);
            Ok(Processed {
                outcome: "complaint",
                reason: Some(format!("feedback type {feedback_type}")),
                changed: changed.into(),
            })
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
            let Some((_, changed)) = subscribers::unsubscribe_with_token(&mut tx, &token, &origin).await? else {
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
    let mut targets = Vec::new();
    match tagged(settings, inbound) {
        Tag::Forged => return Ok(Processed::ignored("a bounce address tag that does not verify")),
        // The tag names the one message this report is about; its first failed recipient says why.
        Tag::Delivery(id) => match bounces::target_of_delivery(db, id).await? {
            Some(target) => targets.extend(found.first().map(|b| (target, b))),
            None => return Ok(Processed::ignored("a report about a delivery that no longer exists")),
        },
        Tag::None => {
            for b in found {
                let Some(address) = b.recipient.as_deref() else { continue };
                if let Some(target) = bounces::target_of_address(db, address).await? {
                    targets.push((target, b));
                }
            }
        }
    }
    if targets.is_empty() {
        return Ok(Processed::ignored("a report naming no subscriber of ours"));
    }
    let (mut changed, mut hard) = (0, false);
    for (target, b) in targets {
        let became_bounced = if b.hard {
            hard = true;
            metrics::inc(&METRICS.hard_bounces);
            bounces::hard(db, target, &b.status, b.diagnostic.as_deref()).await?
        } else {
            metrics::inc(&METRICS.soft_bounces);
            bounces::soft(
                db,
                target,
                &b.status,
                b.diagnostic.as_deref(),
                settings.soft_limit,
                settings.soft_window_days,
            )
            .await?
        };
        changed += u32::from(became_bounced);
    }
    let status = found.iter().map(|b| b.status.as_str()).collect::<Vec<_>>().join(", ");
    Ok(Processed {
        outcome: if hard { "hard-bounce" } else { "soft-bounce" },
        reason: Some(format!("status {status}")),
        changed,
    })
}

/// Who a complaint is about: by tag, else by the recipient it names.
async fn target(
    db: &PgPool,
    settings: &InboundSettings<'_>,
    inbound: &Inbound,
    recipient: Option<&str>,
) -> Result<Result<Target, &'static str>, OpsError> {
    let target = match tagged(settings, inbound) {
        Tag::Forged => return Ok(Err("a bounce address tag that does not verify")),
        Tag::Delivery(id) => bounces::target_of_delivery(db, id).await?,
        Tag::None => match recipient {
            Some(address) => bounces::target_of_address(db, address).await?,
            None => None,
        },
    };
    Ok(target.ok_or("a report naming no subscriber of ours"))
}

enum Tag {
    /// No tagged address: match by the recipient the report names.
    None,
    Delivery(i64),
    Forged,
}

/// The first address of ours that carries a tag decides; a tag that does not verify is forged.
fn tagged(settings: &InboundSettings<'_>, inbound: &Inbound) -> Tag {
    let Some(bounce) = settings.bounce else { return Tag::None };
    for address in inbound.sent_to.iter().chain(&inbound.quoted_return_paths) {
        if bounce.is_plain(address) {
            continue;
        }
        if bounce.looks_tagged(address) {
            return bounce.delivery_in(address).map_or(Tag::Forged, Tag::Delivery);
        }
    }
    Tag::None
}
