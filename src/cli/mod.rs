//! Operator commands: `articles …`, `digest …`, `keys …`, `lists …`, `subscribers …` and `webhooks …`. Each prints its result on stdout and its
//! complaints on stderr; bad input is a [`CliError::Usage`] (exit 2).

mod articles;
mod digest;
mod doctor;
mod inbound;
mod keys;
mod lists;
mod subscribers;
mod webhooks;

pub use self::articles::{ArticlesCommand, run_articles};
pub use self::digest::{DigestCommand, run_digest};
pub use self::doctor::run_doctor;
pub use self::inbound::run_inbound;
pub use self::keys::{KeysCommand, run_keys};
pub use self::lists::{ListsCommand, run_lists};
pub use self::subscribers::{SubscribersCommand, run_subscribers};
pub use self::webhooks::{WebhooksCommand, run_webhooks};
use crate::ops::OpsError;
use crate::store::pool::is_unavailable;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The operator can fix this by changing the command: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Nothing is wrong with the input, but it cannot be handled now (the database is down):
    /// exit 75, which tells an MTA to try again later.
    #[error("{0}")]
    TryLater(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Bad input and unknown names are the operator's to fix (exit 2); the rest is exit 1.
impl From<OpsError> for CliError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid { field, message } => CliError::Usage(format!("{}: {message}", field.replace('_', "-"))),
            OpsError::InvalidAt { field, message, .. } => {
                CliError::Usage(format!("{}: {message}", field.replace('_', "-")))
            }
            OpsError::NotFound(message)
            | OpsError::Conflict(message)
            | OpsError::Unauthenticated(message)
            | OpsError::Malformed(message) => CliError::Usage(message),
            OpsError::Unavailable(message) => CliError::TryLater(message),
            OpsError::Database(e) if is_unavailable(&e) => {
                CliError::Other(anyhow::anyhow!("the database is unavailable; is Postgres running?"))
            }
            OpsError::Database(e) => CliError::Other(anyhow::anyhow!("database error: {e}")),
            OpsError::Internal(e) => CliError::Other(anyhow::anyhow!("internal error: {e:#}")),
        }
    }
}

impl From<sqlx::Error> for CliError {
    fn from(e: sqlx::Error) -> Self {
        OpsError::Database(e).into()
    }
}

/// `--articles a,b,c` as ids.
pub fn parse_ids(list: &str) -> Result<Vec<uuid::Uuid>, CliError> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            uuid::Uuid::parse_str(s.trim())
                .map_err(|_| CliError::Usage(format!("--articles: {:?} is not an article id (a UUID)", s.trim())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_mistakes_exit_2_and_name_the_option() {
        let usage = |e: OpsError| match CliError::from(e) {
            CliError::Usage(m) => m,
            other => panic!("not a usage error: {other}"),
        };
        assert_eq!(usage(OpsError::invalid("article_ids", "No such article.")), "article-ids: No such article.");
        assert_eq!(usage(OpsError::NotFound("there is no digest x".into())), "there is no digest x");
        assert!(matches!(CliError::from(OpsError::Database(sqlx::Error::PoolTimedOut)), CliError::Other(e)
            if e.to_string().contains("database is unavailable")));
        assert!(matches!(CliError::from(OpsError::Internal(anyhow::anyhow!("boom"))), CliError::Other(_)));
    }
}
