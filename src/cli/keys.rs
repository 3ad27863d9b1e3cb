//! `broadsheet keys create|list|revoke`: API keys for scripts, each holding only the scopes it
//! needs.

use clap::Subcommand;
use sqlx::PgPool;

use super::CliError;
use crate::domain::Scopes;
use crate::ops::{OpsError, keys};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it once, on stdout (only its SHA-256 is kept).
    Create {
        /// 1 to 40 of a-z, 0-9, _ and -, starting with a letter or digit.
        name: String,
        /// Comma-separated: subscribers:read, subscribers:write, lists:read, lists:write,
        /// articles:write, digests:read, digests:write, webhooks:write, inbound:write, keys:write.
        #[arg(long, value_name = "SCOPE,…")]
        scopes: String,
    },
    /// List keys: name, scopes, created, last used, revoked.
    List,
    /// Revoke the live key of this name; it is refused from now on and stays listed.
    Revoke { name: String },
}

pub async fn run_keys(db: &PgPool, command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Create { name, scopes } => {
            let scopes = Scopes::parse_list(&scopes).map_err(|e| CliError::Usage(format!("--scopes: {e}")))?;
            let created = keys::create(db, &name, &scopes).await.map_err(named_as_argument)?;
            // The key alone on stdout, so `KEY=$(broadsheet keys create …)` captures it.
            println!("{}", created.key.expose());
            eprintln!(
                "broadsheet: key {} created with {}; it is shown only now, so store it somewhere safe",
                created.row.name, scopes
            );
        }
        KeysCommand::List => {
            println!("{:<40}  {:<16}  {:<16}  {:<16}  SCOPES", "NAME", "CREATED", "LAST USED", "REVOKED");
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
            };
            for key in keys::list(db).await? {
                println!(
                    "{:<40}  {:<16}  {:<16}  {:<16}  {}",
                    key.name,
                    when(Some(key.created_at)),
                    when(key.last_used_at),
                    when(key.revoked_at),
                    key.scopes.join(",")
                );
            }
        }
        KeysCommand::Revoke { name } => {
            keys::revoke(db, &name).await.map_err(named_as_argument)?;
            eprintln!("broadsheet: key {} revoked", name.trim());
        }
    }
    Ok(())
}

/// The name is a positional argument: say NAME, not `name:`.
fn named_as_argument(e: OpsError) -> CliError {
    match e {
        OpsError::Invalid { field: "name", message } => CliError::Usage(format!("NAME: {message}")),
        other => other.into(),
    }
}
