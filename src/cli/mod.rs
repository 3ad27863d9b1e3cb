//! Operator commands: `articles …` and `digest …`. Each prints its result on stdout and its
//! complaints on stderr; bad input is a [`CliError::Usage`] (exit 2).

mod articles;
mod digest;

pub use self::articles::{ArticlesCommand, run_articles};
pub use self::digest::{DigestCommand, run_digest};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The operator can fix this by changing the command: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::error::Error> for CliError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Invalid { field, message } => CliError::Usage(match field {
                Some(f) => format!("{}: {message}", f.replace('_', "-")),
                None => message,
            }),
            crate::error::Error::BadRequest(m) | crate::error::Error::NotFound(m) => CliError::Usage(m),
            other if other.status().as_u16() == 503 => {
                CliError::Other(anyhow::anyhow!("the database is unavailable; is Postgres running?"))
            }
            other => CliError::Other(anyhow::anyhow!("{other}: {}", source_of(&other))),
        }
    }
}

impl From<sqlx::Error> for CliError {
    fn from(e: sqlx::Error) -> Self {
        crate::error::Error::Database(e).into()
    }
}

fn source_of(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Database(d) => d.to_string(),
        crate::error::Error::Internal(i) => format!("{i:#}"),
        _ => String::new(),
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
