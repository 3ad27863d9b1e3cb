//! `subscribers import|add|export|show|erase`: the operator's side of subscribers in and out.

use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::path::PathBuf;

use clap::Subcommand;
use sqlx::PgPool;

use super::CliError;
use crate::domain::SubscriberStatus;
use crate::ops::subscribers::{self as ops, Consent};
use crate::store::subscribers::Interface;

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Import a CSV list (header row; `email` required, `name`, `created_at`, `status`, `lists`
    /// optional; a row's `lists` cell, `a|b`, names its own lists).
    Import {
        /// CSV file, or - for standard input.
        file: PathBuf,
        /// A list new subscribers join (repeatable; default: default), unless their row names others.
        #[arg(long = "list", value_name = "SLUG")]
        lists: Vec<String>,
        /// Add new addresses as confirmed, without a confirmation mail (needs --consent).
        #[arg(long)]
        confirmed: bool,
        /// Where and how these people agreed; kept with each one's consent record.
        #[arg(long, value_name = "NOTE")]
        consent: Option<String>,
    },
    /// Add one subscriber; prints its id and status.
    Add {
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// A list they join (repeatable; default: default).
        #[arg(long = "list", value_name = "SLUG")]
        lists: Vec<String>,
        /// Add as confirmed, without a confirmation mail (needs --consent).
        #[arg(long)]
        confirmed: bool,
        /// Where and how this person agreed.
        #[arg(long, value_name = "NOTE")]
        consent: Option<String>,
    },
    /// Write subscribers as CSV to standard output (email,name,status,created_at,lists,attributes).
    Export {
        /// Only this status (the subscriber's): pending, confirmed, unsubscribed, bounced or complained.
        #[arg(long)]
        status: Option<String>,
        /// Only the current (pending or confirmed) members of this list.
        #[arg(long, value_name = "SLUG")]
        list: Option<String>,
    },
    /// Everything held about one person, as JSON.
    Show { email: String },
    /// Erase one person (right to erasure).
    Erase { email: String },
}

pub async fn run_subscribers(db: &PgPool, command: SubscribersCommand) -> Result<(), CliError> {
    match command {
        SubscribersCommand::Import { file, lists, confirmed, consent } => {
            let consent = Consent::parse(confirmed, consent.as_deref()).map_err(option_error)?;
            let input: Box<dyn std::io::Read + Send> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(std::fs::File::open(&file).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?)
            };
            let report = ops::import(db, input, &consent, Interface::Cli, &lists).await.map_err(|e| match e {
                crate::ops::OpsError::Invalid { message, .. } => {
                    CliError::Usage(format!("{}: {message} Nothing was imported.", file.display()))
                }
                other => other.into(),
            })?;
            let mut stderr = std::io::stderr().lock();
            for bad in &report.invalid {
                let _ = writeln!(stderr, "line {}: {}", bad.line, bad.error);
            }
            if report.invalid_count > report.invalid.len() as u64 {
                let _ = writeln!(stderr, "… and {} more bad lines", report.invalid_count - report.invalid.len() as u64);
            }
            println!("{report}");
        }
        SubscribersCommand::Add { email, name, lists, confirmed, consent } => {
            let consent = Consent::parse(confirmed, consent.as_deref()).map_err(option_error)?;
            let added = ops::add(db, &email, name.as_deref(), &consent, Interface::Cli, &lists, None)
                .await
                .map_err(option_error)?;
            println!("{} {}", added.id, added.status.as_str());
        }
        SubscribersCommand::Export { status, list } => {
            let list = match list.as_deref() {
                None => None,
                Some(slug) => Some(crate::ops::lists::target(db, "list", Some(slug)).await.map_err(option_error)?.id),
            };
            let status = match status.as_deref() {
                None | Some("") => None,
                Some(s) => {
                    Some(serde_json::from_value::<SubscriberStatus>(serde_json::Value::String(s.to_owned())).map_err(
                        |_| {
                            CliError::Usage(
                                "--status: one of pending, confirmed, unsubscribed, bounced, complained".to_owned(),
                            )
                        },
                    )?)
                }
            };
            // Standard output as an async file, through a duplicate of its descriptor.
            let stdout = std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| CliError::Other(anyhow::anyhow!("cannot write to standard output: {e}")))?;
            ops::export(db, list, status, tokio::fs::File::from_std(std::fs::File::from(stdout)), None).await?;
        }
        SubscribersCommand::Show { email } => {
            let data = ops::show(db, &email).await?;
            let json = serde_json::to_string_pretty(&data).map_err(|e| CliError::Other(e.into()))?;
            println!("{json}");
        }
        SubscribersCommand::Erase { email } => {
            let suppressed = ops::erase(db, &email).await?;
            if suppressed {
                println!("erased; the address's hash stays on the suppression list, so it cannot be imported again");
            } else {
                println!("erased");
            }
        }
    }
    Ok(())
}

/// Named as the option or argument that carries it.
fn option_error(e: crate::ops::OpsError) -> CliError {
    match e {
        // The ops name a list field `lists` (a body's); the flag is `--list`.
        crate::ops::OpsError::Invalid { field: "lists", message } => CliError::Usage(format!("--list: {message}")),
        crate::ops::OpsError::Invalid { field, message } => CliError::Usage(format!("--{field}: {message}")),
        other => other.into(),
    }
}
