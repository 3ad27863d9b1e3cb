//! What can go wrong in an operator action, in words a caller maps to its own answer (a status
//! code for the API, an exit code for the CLI).

use crate::domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Input the operator must fix, naming the field (`article_ids`, `subject`, `title` …).
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// Input the operator must fix at a place inside it (a segment expression: the byte offset).
    #[error("{message}")]
    InvalidAt { field: &'static str, message: String, position: usize },
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing is no longer in a state that allows this (a digest that has started), or the
    /// action would undo or repeat something (an address already subscribed, or erased and
    /// suppressed).
    #[error("{0}")]
    Conflict(String),
    /// A request that does not prove it comes from whom it claims (a webhook's signature or
    /// credentials): nothing was done.
    #[error("{0}")]
    Unauthenticated(String),
    /// A body that is not of the shape this action takes (valid JSON of another shape included).
    #[error("{0}")]
    Malformed(String),
    /// Something this action needs from elsewhere (a provider's signing certificate) cannot be had
    /// now; trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl OpsError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

impl From<crate::domain::SegmentError> for OpsError {
    fn from(e: crate::domain::SegmentError) -> Self {
        Self::InvalidAt { field: "segment", message: e.to_string(), position: e.position }
    }
}

impl From<FieldError> for OpsError {
    fn from(e: FieldError) -> Self {
        Self::Invalid { field: e.field, message: e.message }
    }
}
