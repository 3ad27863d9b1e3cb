//! Typed settings, layered: compiled-in defaults → `config/base.toml` → `config/{env}.toml` →
//! `BROADSHEET__SECTION__KEY` environment variables (and `DATABASE_URL`).
//!
//! This is the only module that reads the process environment (see clippy.toml).
//!
//! (About 400 lines: 80 of them are tests; each section's checks stay next to its keys.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use toml::{Table, Value};
use url::Url;

use crate::domain::BaseUrl;
use crate::mail::MailSettings;
/// `log.format`; kept here as well because tests name it by this path.
pub use crate::telemetry::LogFormat;

const BASE_DEFAULTS: &str = include_str!("../config/base.toml");
const LOCAL_DEFAULTS: &str = include_str!("../config/local.toml");
const PRODUCTION_DEFAULTS: &str = include_str!("../config/production.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub mail: MailSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    pub subscriptions: SubscriptionSettings,
    pub limits: LimitSettings,
    pub log: LogSettings,
    pub feeds: FeedSettings,
    #[serde(default)]
    pub bounces: BounceSettings,
    pub digests: DigestSettings,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(skip, default = "local")]
    pub environment: Environment,
}

fn local() -> Environment {
    Environment::Local
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    pub base_url: BaseUrl,
    #[serde(default)]
    pub client_ip_header: Option<String>,
    pub header_read_timeout_secs: f64,
    pub idle_timeout_secs: f64,
    pub max_connections: usize,
    /// The public archive of sent digests (`/archive`); false answers 404 there.
    pub archive: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    #[serde(default, deserialize_with = "secret_from_scalar")]
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSettings {
    pub token_ttl_hours: f64,
    /// A welcome mail once a subscriber confirms.
    pub welcome: bool,
    /// One reminder to a pending subscriber this long after their confirmation mail; 0 = none.
    pub reminder_after_hours: f64,
}

/// `[tokens]`: the keys confirmation and unsubscribe links are signed with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// The first signs, every one verifies (rotation). Required in production; locally, when
    /// empty, a key is generated once and kept in [`LOCAL_TOKEN_KEY`].
    #[serde(default, deserialize_with = "secrets_list_or_commas")]
    pub keys: Vec<SecretString>,
}

/// Where a local run keeps its generated link key, beside the local outbox, so links in the
/// mails there survive a restart.
pub const LOCAL_TOKEN_KEY: &str = "var/token-key";

/// Automatic digests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSettings {
    /// Cron (`0 9 * * MON`): at each tick, one digest of the articles waiting, if any.
    #[serde(default)]
    pub schedule: Option<String>,
    /// IANA zone the schedule (and the console's times) are read in.
    pub timezone: String,
    /// A tick missed while no worker ran is still sent when one comes back within this.
    pub max_lateness_hours: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub signups_per_ip_per_minute: u32,
    pub confirmation_mails_per_address_per_day: u32,
    /// IPv6 clients are limited per network of this many leading bits.
    pub ipv6_prefix: u8,
    pub admin_auth_failures_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    #[serde(deserialize_with = "list_or_commas")]
    pub urls: Vec<String>,
    pub poll_minutes: f64,
    /// Let feed fetches reach loopback, private and link-local addresses (refused by default).
    #[serde(default)]
    pub allow_private: bool,
}

/// `[bounces]`: when soft bounces (a full mailbox, a server down for days) end the mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BounceSettings {
    /// This many soft bounces …
    pub soft_limit: i64,
    /// … within this many days make a subscriber `bounced`.
    pub soft_window_days: f64,
}

impl Default for BounceSettings {
    fn default() -> Self {
        Self { soft_limit: 3, soft_window_days: 30.0 }
    }
}

/// A TOML list, or (from the environment) one string with commas between the items.
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(serde::de::Error::custom(format!("expected text, found {}", other.type_str()))),
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!("expected a list of URLs, found {}", other.type_str()))),
    }
}

/// [`list_or_commas`] for secrets: a TOML list, or one string with commas between the keys.
fn secrets_list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(SecretString::from(s)),
                other => Err(serde::de::Error::custom(format!("expected text, found {}", other.type_str()))),
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!("expected a list of keys, found {}", other.type_str()))),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// An environment variable arrives as text; "12345" must still be accepted as a token.
fn secret_from_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(match value {
        None => None,
        Some(Value::String(s)) => Some(SecretString::from(s)),
        Some(Value::Integer(i)) => Some(SecretString::from(i.to_string())),
        Some(other) => return Err(serde::de::Error::custom(format!("expected text, found {}", other.type_str()))),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// What the process is loading its settings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The service, the worker and every other command.
    Everything,
    /// `broadsheet inbound`: taking one report from an MTA.
    Inbound,
}

impl Settings {
    /// Reads the layers from the config directory (`BROADSHEET_CONFIG_DIR`, else `./config` when
    /// it exists) and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_for(Purpose::Everything)
    }

    /// [`Settings::load`] for one purpose: only what that purpose uses must be present.
    #[allow(clippy::disallowed_methods)]
    pub fn load_for(purpose: Purpose) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let dir = std::env::var("BROADSHEET_CONFIG_DIR").map(PathBuf::from).ok().or_else(|| {
            let here = PathBuf::from("config");
            here.is_dir().then_some(here)
        });
        Self::load_from_for(dir.as_deref(), &vars, purpose)
    }

    /// The same layering from explicit inputs, so tests need not touch the process environment.
    pub fn load_from(dir: Option<&Path>, vars: &[(String, String)]) -> Result<Self, ConfigError> {
        Self::load_from_for(dir, vars, Purpose::Everything)
    }

    /// [`Settings::load_from`] for one purpose.
    pub fn load_from_for(dir: Option<&Path>, vars: &[(String, String)], purpose: Purpose) -> Result<Self, ConfigError> {
        let var = |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
        let environment = match var("BROADSHEET_ENV").unwrap_or("local") {
            "local" => Environment::Local,
            "production" => Environment::Production,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "BROADSHEET_ENV is {other:?}; use \"local\" or \"production\""
                )));
            }
        };
        let env_name = match environment {
            Environment::Local => "local",
            Environment::Production => "production",
        };

        let mut merged = parse_layer(BASE_DEFAULTS, "compiled-in base.toml")?;
        let env_defaults = match environment {
            Environment::Local => LOCAL_DEFAULTS,
            Environment::Production => PRODUCTION_DEFAULTS,
        };
        merge(&mut merged, parse_layer(env_defaults, "compiled-in environment defaults")?);
        if let Some(dir) = dir {
            for file in [PathBuf::from("base.toml"), PathBuf::from(format!("{env_name}.toml"))] {
                let path = dir.join(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => merge(&mut merged, parse_layer(&text, &path.display().to_string())?),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(ConfigError::Read { path, source }),
                }
            }
        }
        if let Some(url) = var("DATABASE_URL") {
            set_key(&mut merged, &["database", "url"], Value::String(url.to_owned()));
        }
        for (name, raw) in vars {
            let Some(rest) = name.strip_prefix("BROADSHEET__") else { continue };
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            // Two levels (`[mail] url`), or three for a nested table (`[mail.dkim] domain`).
            if !(2..=3).contains(&path.len()) || path.iter().any(String::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "{name}: expected BROADSHEET__SECTION__KEY, e.g. BROADSHEET__MAIL__URL (or BROADSHEET__MAIL__DKIM__DOMAIN)"
                )));
            }
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            // Tokens and secrets are text even when they happen to be all digits.
            let secret =
                keys.last().is_some_and(|k| k.ends_with("token") || k.ends_with("secret") || k.ends_with("keys"));
            let value = if secret { Value::String(raw.clone()) } else { scalar_from_env(raw) };
            set_key(&mut merged, &keys, value);
        }

        let mut settings: Settings = serde_path_to_error::deserialize(Value::Table(merged))
            .map_err(|e| ConfigError::Invalid(format!("{}: {}", e.path(), e.inner())))?;
        settings.environment = environment;
        settings.validate(purpose)?;
        Ok(settings)
    }

    fn validate(&self, purpose: Purpose) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        let production = self.environment == Environment::Production;
        self.mail.validate(production).map_err(|e| ConfigError::Invalid(format!("{}: {}", e.key, e.message)))?;
        // Taking a report uses neither the admin token nor the link keys (an unsubscribe mail
        // that needs them is kept for later): an MTA host without them still takes reports.
        let service = purpose == Purpose::Everything;
        if service && production && self.admin.token.is_none() {
            return bad("admin.token", "required in production, at least 32 characters");
        }
        if service && self.admin.token.as_ref().is_some_and(|t| t.expose_secret().trim().chars().count() < 32) {
            return bad("admin.token", "must be at least 32 characters (e.g. `openssl rand -hex 32`)");
        }
        if service && production && self.tokens.keys.is_empty() {
            return bad(
                "tokens.keys",
                "required in production: at least one key of 32 random bytes, base64 or hex (`openssl rand -base64 32`)",
            );
        }
        if service && !self.tokens.keys.is_empty() {
            crate::domain::TokenKeys::new(&self.tokens.keys)
                .map_err(|e| ConfigError::Invalid(format!("tokens.keys: {e}")))?;
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if self.http.max_connections == 0 {
            return bad("http.max_connections", "must be at least 1");
        }
        if !(1..=128).contains(&self.limits.ipv6_prefix) {
            return bad("limits.ipv6_prefix", "must be between 1 and 128 (64: one limit per /64 network)");
        }
        for (key, v) in [
            ("subscriptions.token_ttl_hours", self.subscriptions.token_ttl_hours),
            ("http.header_read_timeout_secs", self.http.header_read_timeout_secs),
            ("http.idle_timeout_secs", self.http.idle_timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1e7) {
                return bad(key, "must be a positive number");
            }
        }
        if self.bounces.soft_limit < 1 {
            return bad("bounces.soft_limit", "must be at least 1");
        }
        if !(self.bounces.soft_window_days.is_finite() && self.bounces.soft_window_days > 0.0) {
            return bad("bounces.soft_window_days", "must be a positive number of days");
        }
        if self.digests.timezone.parse::<chrono_tz::Tz>().is_err() {
            return bad("digests.timezone", "is not an IANA time zone name (e.g. Europe/Berlin or UTC)");
        }
        if let Some(expression) = &self.digests.schedule {
            crate::domain::Schedule::parse(expression, &self.digests.timezone)
                .map_err(|why| ConfigError::Invalid(format!("digests.schedule: {why}")))?;
        }
        if !(self.digests.max_lateness_hours.is_finite() && self.digests.max_lateness_hours > 0.0) {
            return bad("digests.max_lateness_hours", "must be a positive number");
        }
        let reminder = self.subscriptions.reminder_after_hours;
        if !(reminder.is_finite() && (0.0..1e6).contains(&reminder)) {
            return bad("subscriptions.reminder_after_hours", "must be 0 (off) or a positive number of hours");
        }
        if !(self.feeds.poll_minutes.is_finite() && self.feeds.poll_minutes >= 1.0) {
            return bad("feeds.poll_minutes", "must be at least 1");
        }
        for url in &self.feeds.urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) || Url::parse(url).is_err() {
                return bad("feeds.urls", &format!("{:?} is not an http(s) URL", crate::telemetry::redact_url(url)));
            }
        }
        if let Some(h) = &self.http.client_ip_header {
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return bad("http.client_ip_header", "is not a valid header name");
            }
        }
        Ok(())
    }

    /// The newsletter's name: the display name of `mail.from`.
    pub fn newsletter_name(&self) -> String {
        self.mail.newsletter_name()
    }

    pub fn send_timeout(&self) -> Duration {
        self.mail.send_timeout()
    }

    pub fn lease(&self) -> Duration {
        self.mail.lease()
    }

    /// `digests.schedule` in `digests.timezone`, when set (checked at load).
    pub fn digest_schedule(&self) -> Option<crate::domain::Schedule> {
        let expression = self.digests.schedule.as_deref()?;
        crate::domain::Schedule::parse(expression, &self.digests.timezone).ok()
    }

    /// `digests.timezone` (checked at load; UTC otherwise).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.digests.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }

    /// The keys links are signed with: `tokens.keys`, or (local runs only, when none is set) the
    /// key in [`LOCAL_TOKEN_KEY`], generated on first use with mode 0600. Production refuses to
    /// start without `tokens.keys` (see `validate`), so a generated key never signs real mail.
    pub fn token_keys(&self) -> anyhow::Result<crate::domain::TokenKeys> {
        use anyhow::Context as _;
        if !self.tokens.keys.is_empty() || self.environment == Environment::Production {
            return crate::domain::TokenKeys::new(&self.tokens.keys).map_err(|e| anyhow::anyhow!("tokens.keys: {e}"));
        }
        let path = Path::new(LOCAL_TOKEN_KEY);
        let secret = read_or_create_key(path).with_context(|| {
            format!("tokens.keys is not set and the local key {} cannot be read or created", path.display())
        })?;
        crate::domain::TokenKeys::new(&[secret])
            .map_err(|e| anyhow::anyhow!("{}: {e}; delete it to have a new one generated", path.display()))
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.subscriptions.token_ttl_hours * 3600.0)
    }
}

/// Reads the key at `path`, or writes a new one there first. Two processes starting at once
/// agree on one key: the new key is written whole to a private temporary file and then linked
/// into place, which fails if another process linked its key first (then that one is read).
fn read_or_create_key(path: &Path) -> std::io::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(SecretString::from(text.trim().to_owned())),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = crate::domain::TokenKeys::generate_secret().map_err(std::io::Error::other)?;
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

fn parse_layer(text: &str, origin: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::Invalid(format!("{origin}: {e}")))
}

fn merge(into: &mut Table, from: Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(new)) => merge(existing, new),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn set_key(table: &mut Table, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            table.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = table.entry((*first).to_owned()).or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(inner) = entry {
                set_key(inner, rest, value);
            }
        }
    }
}

/// Environment values are text; numbers and booleans are recognised so that
/// `BROADSHEET__MAIL__CONCURRENCY=64` works.
fn scalar_from_env(raw: &str) -> Value {
    if let Ok(i) = raw.parse::<i64>() {
        return Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>() {
        if f.is_finite() {
            return Value::Float(f);
        }
    }
    match raw {
        "true" => Value::Boolean(true),
        "false" => Value::Boolean(false),
        _ => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn compiled_in_defaults_run_anywhere() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.http.addr.port(), 8080);
        assert_eq!(s.mail.url.unwrap().expose_secret(), "file://var/outbox");
        assert_eq!(s.limits.confirmation_mails_per_address_per_day, 3);
    }

    #[test]
    fn environment_variables_win() {
        let s = Settings::load_from(
            None,
            &vars(&[
                ("BROADSHEET__MAIL__CONCURRENCY", "64"),
                ("BROADSHEET__ADMIN__TOKEN", "12345678901234567890123456789012345"),
                ("DATABASE_URL", "postgres://x@db/y"),
            ]),
        )
        .unwrap();
        assert_eq!(s.mail.concurrency, 64);
        assert_eq!(s.admin.token.unwrap().expose_secret(), "12345678901234567890123456789012345");
        assert_eq!(s.database.url.expose_secret(), "postgres://x@db/y");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err =
            Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__CONCURRENCY", "lots")])).unwrap_err().to_string();
        assert!(err.contains("mail.concurrency"), "{err}");
        let err =
            Settings::load_from(None, &vars(&[("BROADSHEET__HTTP__BASE_URL", "not a url")])).unwrap_err().to_string();
        assert!(err.contains("http.base_url"), "{err}");
        let err = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__URLL", "smtp://x")])).unwrap_err().to_string();
        assert!(err.contains("urll"), "{err}");
        let err = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__URL", "ftp://x")])).unwrap_err().to_string();
        assert!(err.contains("mail.url"), "{err}");
    }

    #[test]
    fn production_requires_mail_url_and_admin_token() {
        let err = Settings::load_from(None, &vars(&[("BROADSHEET_ENV", "production")])).unwrap_err().to_string();
        assert!(err.contains("mail.url"), "{err}");
        let ok = Settings::load_from(
            None,
            &vars(&[
                ("BROADSHEET_ENV", "production"),
                ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587?tls=required"),
                ("BROADSHEET__ADMIN__TOKEN", "0123456789abcdef0123456789abcdef"),
                ("BROADSHEET__TOKENS__KEYS", KEY),
            ]),
        )
        .unwrap();
        assert_eq!(ok.log.format, LogFormat::Json);
    }

    const KEY: &str = "n4bQgYhMfWwaL+fRHOLi2zFTNdqKHMiXgSjqzOfB8Jc=";

    #[test]
    fn a_local_link_key_is_generated_once_privately_and_kept() {
        let dir = std::env::temp_dir().join(format!("broadsheet-key-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("var").join("token-key");
        let first = read_or_create_key(&path).unwrap();
        let again = read_or_create_key(&path).unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret(), "links survive a restart");
        crate::domain::TokenKeys::new(&[first]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn taking_reports_in_production_needs_neither_the_admin_token_nor_the_link_keys() {
        let mta = [("BROADSHEET_ENV", "production"), ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587")];
        assert!(Settings::load_from(None, &vars(&mta)).is_err(), "the service needs both");
        let inbound = Settings::load_from_for(None, &vars(&mta), Purpose::Inbound).unwrap();
        assert!(inbound.token_keys().is_err(), "and has none to check an unsubscribe mail with");
        let weak = [mta.as_slice(), &[("BROADSHEET__TOKENS__KEYS", "secret")]].concat();
        assert!(Settings::load_from_for(None, &vars(&weak), Purpose::Inbound).is_ok());
        let broken = [mta.as_slice(), &[("BROADSHEET__MAIL__CONCURRENCY", "lots")]].concat();
        assert!(Settings::load_from_for(None, &vars(&broken), Purpose::Inbound).is_err());
    }

    #[test]
    fn production_refuses_to_start_without_a_strong_link_key() {
        let base = [
            ("BROADSHEET_ENV", "production"),
            ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587?tls=required"),
            ("BROADSHEET__ADMIN__TOKEN", "0123456789abcdef0123456789abcdef"),
        ];
        let err = Settings::load_from(None, &vars(&base)).unwrap_err().to_string();
        assert!(err.contains("tokens.keys") && err.contains("required"), "{err}");
        for weak in ["secret", "00000000000000000000000000000000000000000000000000000000000000000000"] {
            let err =
                Settings::load_from(None, &vars(&[base.as_slice(), &[("BROADSHEET__TOKENS__KEYS", weak)]].concat()))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("tokens.keys"), "{err}");
        }
        let two = format!("{KEY}, 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        let ok = Settings::load_from(None, &vars(&[base.as_slice(), &[("BROADSHEET__TOKENS__KEYS", &two)]].concat()))
            .unwrap();
        assert_eq!(ok.tokens.keys.len(), 2, "a rotated-in key first, the old one after it");
        ok.token_keys().unwrap();
    }

    #[test]
    fn a_short_admin_token_is_refused_in_every_environment() {
        for env in ["local", "production"] {
            let err = Settings::load_from(
                None,
                &vars(&[
                    ("BROADSHEET_ENV", env),
                    ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587?tls=required"),
                    ("BROADSHEET__ADMIN__TOKEN", "secret"),
                ]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("admin.token") && err.contains("32 characters"), "{env}: {err}");
        }
        assert!(Settings::load_from(None, &[]).unwrap().admin.token.is_none(), "unset locally: one is generated");
    }
}
