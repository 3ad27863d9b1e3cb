//! `webhooks add|list|remove`: event webhook endpoints.

use clap::Subcommand;
use sqlx::PgPool;

use super::CliError;
use crate::config::Settings;
use crate::ops::OpsError;
use crate::ops::feeds::FetchPolicy;
use crate::ops::webhooks as ops;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its id and its signing secret (shown this once).
    Add {
        /// Where events are POSTed (http or https, a public address unless
        /// webhooks.allow_private is set).
        url: String,
        /// Comma-separated: subscriber.created, subscriber.confirmed, subscriber.unsubscribed,
        /// subscriber.bounced, subscriber.complained, subscriber.erased, digest.started,
        /// digest.finished.
        #[arg(long, value_name = "E,…")]
        events: String,
    },
    /// Every endpoint: id, whether it is enabled, messages waiting, events, URL.
    List,
    /// Remove an endpoint and the messages still queued for it.
    Remove { id: String },
}

pub async fn run_webhooks(db: &PgPool, settings: &Settings, command: WebhooksCommand) -> Result<(), CliError> {
    match command {
        WebhooksCommand::Add { url, events } => {
            let policy = FetchPolicy::for_webhooks(settings.webhooks.allow_private);
            let added = ops::add(db, &url, [events.as_str()], policy).await.map_err(option_error)?;
            println!("id: {}", added.id);
            println!("secret: {}", added.secret.expose());
            eprintln!(
                "broadsheet: keep the secret now; it verifies the webhook-signature header and is not shown again"
            );
        }
        WebhooksCommand::List => {
            for e in ops::list(db).await? {
                let state = if e.enabled { "enabled" } else { "disabled" };
                println!("{} {state} pending={} {} {}", e.id, e.pending, e.events.join(","), e.url);
                if let Some(why) = e.disabled_reason {
                    println!("    {why}");
                }
            }
        }
        WebhooksCommand::Remove { id } => {
            ops::remove(db, &id).await?;
            println!("removed");
        }
    }
    Ok(())
}

/// Named as the option or argument that carries it.
fn option_error(e: OpsError) -> CliError {
    match e {
        OpsError::Invalid { field: "events", message } => CliError::Usage(format!("--events: {message}")),
        OpsError::Invalid { field, message } => CliError::Usage(format!("{}: {message}", field.to_uppercase())),
        other => other.into(),
    }
}
