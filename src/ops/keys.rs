//! API keys, from the CLI, the admin API and the console: create (the key is returned once, to
//! be shown once), list and revoke.

use sqlx::PgPool;

use super::OpsError;
use crate::domain::{ApiKey, KeyName, Scopes};
use crate::store::api_keys::{self, KeyRow};

/// A key just made: the only moment its secret exists outside the caller's request.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub row: KeyRow,
}

/// Creates a key named `name` holding `scopes`. A name taken by a live key is a conflict: the
/// operator revokes that one first (a rotation), so no script is cut off by surprise.
pub async fn create(db: &PgPool, name: &str, scopes: &Scopes) -> Result<CreatedKey, OpsError> {
    let name = parse_name(name)?;
    let key = ApiKey::generate().map_err(|e| OpsError::Internal(e.into()))?;
    let row = api_keys::insert(db, &name, &key.hash(), scopes).await?.ok_or_else(|| {
        OpsError::Conflict(format!("a key named {name} already exists; revoke it first or choose another name"))
    })?;
    tracing::info!(key = %name, scopes = %scopes, "API key created");
    Ok(CreatedKey { key, row })
}

pub async fn list(db: &PgPool) -> Result<Vec<KeyRow>, OpsError> {
    Ok(api_keys::list(db).await?)
}

/// Revokes the live key of this name: from now on it is refused (401). Its row stays listed.
pub async fn revoke(db: &PgPool, name: &str) -> Result<(), OpsError> {
    let name = parse_name(name)?;
    if !api_keys::revoke(db, &name).await? {
        return Err(OpsError::NotFound(format!("there is no live key named {name}")));
    }
    tracing::info!(key = %name, "API key revoked");
    Ok(())
}

fn parse_name(raw: &str) -> Result<KeyName, OpsError> {
    KeyName::parse(raw).map_err(|e| OpsError::invalid("name", e.to_string()))
}
