//! Reading the layers in order and merging them, with the `config` crate.
//!
//! `config` merges tables deeply (a later layer replaces single keys, not whole sections) and
//! keeps where each value came from. The order of the layers, the variable names and the check
//! of their shape are ours, and so is the reading of the merged values into [`Settings`]: `config`'s
//! own would round `concurrency = 2.5` to 3 and take `yes` for a boolean, so the values are
//! typed first ([`typed`]) and read strictly.

use std::path::{Path, PathBuf};

use config::{Config, FileFormat, Format, Map, Source, Value, ValueKind};

use super::{ConfigError, Environment, Purpose, Settings};

const BASE_DEFAULTS: &str = include_str!("../../config/base.toml");
const LOCAL_DEFAULTS: &str = include_str!("../../config/local.toml");
const PRODUCTION_DEFAULTS: &str = include_str!("../../config/production.toml");

/// `BROADSHEET__SECTION__KEY` (or `BROADSHEET__SECTION__SUB__KEY`) sets `section.key`.
const PREFIX: &str = "BROADSHEET";
const SEPARATOR: &str = "__";

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
        let environment = Environment::named(var("BROADSHEET_ENV").unwrap_or("local"))?;

        let mut layers = Config::builder()
            .add_source(Layer::toml(BASE_DEFAULTS, "compiled-in base.toml")?)
            .add_source(Layer::toml(environment.defaults(), "compiled-in environment defaults")?);
        if let Some(dir) = dir {
            for file in ["base.toml".to_owned(), format!("{}.toml", environment.name())] {
                if let Some(layer) = Layer::file(&dir.join(file))? {
                    layers = layers.add_source(layer);
                }
            }
        }
        if let Some(url) = var("DATABASE_URL") {
            layers = layers.add_source(Layer::one("database.url", url, "DATABASE_URL"));
        }
        let merged =
            layers.add_source(key_variables(vars)?).build().map_err(|e| ConfigError::Invalid(e.to_string()))?;

        let merged = merged.collect().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let tree = serde_json::Value::Object(merged.into_iter().map(|(k, v)| (k.clone(), typed(v, &k))).collect());
        let mut settings: Settings = serde_path_to_error::deserialize(tree)
            .map_err(|e| ConfigError::key(&e.path().to_string(), e.inner().to_string()))?;
        settings.environment = environment;
        settings.validate(purpose)?;
        Ok(settings)
    }
}

impl Environment {
    /// `BROADSHEET_ENV`.
    fn named(name: &str) -> Result<Self, ConfigError> {
        match name {
            "local" => Ok(Self::Local),
            "production" => Ok(Self::Production),
            other => Err(ConfigError::Invalid(format!("BROADSHEET_ENV is {other:?}; use \"local\" or \"production\""))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Production => "production",
        }
    }

    fn defaults(self) -> &'static str {
        match self {
            Self::Local => LOCAL_DEFAULTS,
            Self::Production => PRODUCTION_DEFAULTS,
        }
    }
}

/// The `BROADSHEET__…` variables as a layer. Their names are checked here because `config` would
/// take `BROADSHEET__MAIL` or `BROADSHEET__MAIL____URL` as some key and the mistake would surface
/// later as a confusing one; only exact-case names count, as the other variables do.
fn key_variables(vars: &[(String, String)]) -> Result<config::Environment, ConfigError> {
    let prefix = format!("{PREFIX}{SEPARATOR}");
    let mut chosen = Map::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let parts: Vec<&str> = rest.split(SEPARATOR).collect();
        // Two levels (`[mail] url`), or three for a nested table (`[mail.dkim] domain`).
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Invalid(format!(
                "{name}: expected BROADSHEET__SECTION__KEY, e.g. BROADSHEET__MAIL__URL (or BROADSHEET__MAIL__DKIM__DOMAIN)"
            )));
        }
        chosen.insert(name.clone(), value.clone());
    }
    Ok(config::Environment::with_prefix(PREFIX).prefix_separator(SEPARATOR).separator(SEPARATOR).source(Some(chosen)))
}

/// One layer, parsed when it is read. Not `config::File`: a string source has no name for its
/// syntax errors, and an optional file source skips a file it cannot read (a permission problem
/// would silently drop the layer); here only a missing file is skipped.
#[derive(Debug, Clone)]
struct Layer(Map<String, Value>);

impl Layer {
    fn toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let origin = origin.to_owned();
        Format::parse(&FileFormat::Toml, Some(&origin), text)
            .map(Self)
            .map_err(|e| ConfigError::Invalid(format!("{origin}: {}", one_line(&e.to_string()))))
    }

    /// The TOML file at `path`, if there is one.
    fn file(path: &Path) -> Result<Option<Self>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::toml(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
        }
    }

    /// One key (`section.key`) from a variable of its own, such as `DATABASE_URL`.
    fn one(key: &str, value: &str, origin: &str) -> Self {
        let origin = origin.to_owned();
        Self(Map::from([(key.to_owned(), Value::new(Some(&origin), value))]))
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// toml draws the offending line under its first line, with `|` in a gutter; an error that goes
/// to a log or a terminal's last line reads better as one line: where, then what.
fn one_line(message: &str) -> String {
    let drawing =
        |line: &str| line.split_once('|').is_some_and(|(gutter, _)| gutter.trim().chars().all(|c| c.is_ascii_digit()));
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty() && !drawing(l)).collect();
    lines.join(": ")
}

/// The merged layers as plain typed values: a TOML value keeps its type (2.5 is no integer,
/// `"yes"` no boolean), and text from the environment is read as TOML would read it bare
/// (`8`, `2.5`, `true`), except a token, secret or key, which stays exactly the text it is.
fn typed(value: Value, key: &str) -> serde_json::Value {
    use serde_json::Value as Json;
    let from_environment = matches!(value.origin(), Some("the environment"));
    match value.kind {
        ValueKind::Nil => Json::Null,
        ValueKind::Boolean(b) => Json::Bool(b),
        ValueKind::I64(i) => i.into(),
        ValueKind::U64(u) => u.into(),
        // Past 64 bits no setting of ours has a meaning: refused as text, naming the key.
        ValueKind::I128(i) => Json::String(i.to_string()),
        ValueKind::U128(u) => Json::String(u.to_string()),
        ValueKind::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        ValueKind::String(text) if from_environment && !is_secret(key) => bare(text),
        ValueKind::String(text) => Json::String(text),
        ValueKind::Table(table) => Json::Object(table.into_iter().map(|(k, v)| (k.clone(), typed(v, &k))).collect()),
        ValueKind::Array(items) => Json::Array(items.into_iter().map(|v| typed(v, key)).collect()),
    }
}

/// Tokens, secrets, keys, user names and passwords are text even when they are all digits.
fn is_secret(key: &str) -> bool {
    ["token", "secret", "keys", "_key", "password", "username"].iter().any(|end| key.ends_with(end))
}

/// An environment variable's text as TOML would read it written bare.
fn bare(text: String) -> serde_json::Value {
    if let Ok(i) = text.parse::<i64>() {
        return i.into();
    }
    if let Some(f) = text.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(serde_json::Number::from_f64) {
        return serde_json::Value::Number(f);
    }
    match text.as_str() {
        "true" => true.into(),
        "false" => false.into(),
        _ => serde_json::Value::String(text),
    }
}
