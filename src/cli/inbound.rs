//! `broadsheet inbound [--recipient ADDR] < MESSAGE`: one inbound mail from an MTA pipe (or a
//! file). Prints the decision and exits 0 for anything understood or safely ignored, so the MTA
//! does not bounce the message back; 75 (EX_TEMPFAIL) when the database cannot be reached or the
//! configuration cannot be read, so the MTA keeps the message and tries again later.

use std::io::Read as _;

use super::CliError;
use crate::config::Settings;
use crate::inbound::MAX_INBOUND_BYTES;
use crate::ops::OpsError;
use crate::ops::inbound::{self, InboundSettings};

/// Reads the message, decides, prints. Every failure is [`CliError::TryLater`] (exit 75, which
/// Postfix's pipe(8) takes as "defer"): the message is fine, we just cannot take it now.
pub async fn run_inbound(settings: &Settings, recipient: Option<&str>) -> Result<(), CliError> {
    let mut raw = Vec::new();
    // One byte past the limit says "too large" without reading a huge message whole.
    let limit = u64::try_from(MAX_INBOUND_BYTES + 1).unwrap_or(u64::MAX);
    std::io::stdin()
        .take(limit)
        .read_to_end(&mut raw)
        .map_err(|e| CliError::TryLater(format!("cannot read the message on stdin: {e}")))?;
    let bounce = settings.mail.bounce_address().map_err(|e| CliError::TryLater(format!("{}: {}", e.key, e.message)))?;
    // Only an unsubscribe mail needs the keys; a bounce report must not wait for them (the MTA
    // may run this where the local key file cannot be read).
    let token_keys = settings
        .token_keys()
        .inspect_err(|e| {
            tracing::warn!(error = format!("{e:#}"), "tokens.keys unavailable; unsubscribe mails will be deferred")
        })
        .ok();
    let db = crate::store::pool::connect(&settings.database)
        .await
        .map_err(|e| CliError::TryLater(format!("the database is unavailable ({e:#}); try again later")))?;
    let inbound = InboundSettings {
        bounce: bounce.as_ref(),
        unsubscribe_mailto: settings.mail.unsubscribe_mailto.as_deref(),
        soft_limit: settings.bounces.soft_limit,
        soft_window_days: settings.bounces.soft_window_days,
        token_keys: token_keys.as_ref(),
    };
    let processed = inbound::process(&db, &inbound, &raw, recipient).await.map_err(|e| match e {
        OpsError::Internal(e) => CliError::TryLater(format!("{e:#}; try again later")),
        e => CliError::TryLater(format!("{e}; try again later")),
    })?;
    match &processed.reason {
        Some(reason) => println!("{}: {reason}", processed.outcome),
        None => println!("{}", processed.outcome),
    }
    Ok(())
}
