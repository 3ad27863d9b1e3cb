//! `[tokens]`: the keys confirmation and unsubscribe links are signed with, and the key a local
//! run generates for itself when none is set.

use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::lists::list_or_commas;
use super::{ConfigError, Environment, Settings};
use crate::domain::TokenKeys;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// The first signs, every one verifies (rotation). Required in production; locally, when
    /// empty, a key is generated once and kept in [`LOCAL_TOKEN_KEY`].
    #[serde(default, deserialize_with = "list_or_commas")]
    pub keys: Vec<SecretString>,
}

/// Where a local run keeps its generated link key, beside the local outbox, so links in the
/// mails there survive a restart.
pub const LOCAL_TOKEN_KEY: &str = "var/token-key";

impl TokenSettings {
    /// Every key must be strong enough to sign with (see [`TokenKeys::new`]).
    pub(super) fn validate(&self, production: bool) -> Result<(), ConfigError> {
        if self.keys.is_empty() {
            if production {
                return Err(ConfigError::key(
                    "tokens.keys",
                    "required in production: at least one key of 32 random bytes, base64 or hex (`openssl rand -base64 32`)",
                ));
            }
            return Ok(());
        }
        TokenKeys::new(&self.keys).map(drop).map_err(|e| ConfigError::key("tokens.keys", e))
    }
}

impl Settings {
    /// The keys links are signed with: `tokens.keys`, or (local runs only, when none is set) the
    /// key in [`LOCAL_TOKEN_KEY`], generated on first use with mode 0600. Production refuses to
    /// start without `tokens.keys` (see `validate`), so a generated key never signs real mail.
    pub fn token_keys(&self) -> anyhow::Result<TokenKeys> {
        use anyhow::Context as _;
        if !self.tokens.keys.is_empty() || self.environment == Environment::Production {
            return TokenKeys::new(&self.tokens.keys).map_err(|e| anyhow::anyhow!("tokens.keys: {e}"));
        }
        let path = Path::new(LOCAL_TOKEN_KEY);
        let secret = read_or_create_key(path).with_context(|| {
            format!("tokens.keys is not set and the local key {} cannot be read or created", path.display())
        })?;
        TokenKeys::new(&[secret])
            .map_err(|e| anyhow::anyhow!("{}: {e}; delete it to have a new one generated", path.display()))
    }
}

/// Reads the key at `path`, or writes a new one there first. Two processes starting at once
/// agree on one key: the new key is written whole to a private temporary file and then linked
/// into place, which fails if another process linked its key first (then that one is read).
pub(super) fn read_or_create_key(path: &Path) -> std::io::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(SecretString::from(text.trim().to_owned())),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = TokenKeys::generate_secret().map_err(std::io::Error::other)?;
    let temporary = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        use std::io::Write as _;
        writeln!(file, "{}", secret.expose_secret())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the local key that signs links in mail (tokens.keys)");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(SecretString::from(std::fs::read_to_string(path)?.trim().to_owned()))
        }
        Err(e) => Err(e),
    }
}
