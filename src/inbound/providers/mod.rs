//! What an email provider's webhook says about our mail: Amazon SES (through SNS), Postmark,
//! Mailgun and SendGrid each report bounces and complaints as JSON of their own shape, and each
//! proves the report is theirs in its own way. One file per provider holds both: the shape, read
//! into [`ProviderReport`]s, and the check of its signature or credentials. Pure functions over
//! bytes, like the rest of `inbound`; fetching certificates and acting on reports is `ops`'s.
//!
//! A report names its message in as many ways as the provider keeps: the envelope sender it
//! left with (where our VERP tag is), the `Message-ID` we set, and the recipient. Which of them
//! decides is `ops::webhooks`'s choice.

pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod ses;
pub mod sns;

use serde_json::Value;

use super::Bounce;

/// Events one webhook body may carry; SendGrid batches up to a few hundred, and nothing larger
/// fits in the body limit anyway.
pub const MAX_EVENTS: usize = 1000;

/// What a report says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A failed delivery: `hard` for good, otherwise a soft bounce counted towards the limit.
    Bounce(Bounce),
    /// The reader marked the message as spam.
    Complaint { feedback_type: String },
}

/// One report about one message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    pub verdict: Verdict,
    /// The recipient the provider reports on.
    pub recipient: Option<String>,
    /// The envelope sender the message left with (`bounces+TAG@…` with VERP on).
    pub envelope_sender: Option<String>,
    /// The `Message-ID` of the message, in angle brackets, as we set it.
    pub message_id: Option<String>,
}

/// Everything one webhook body says: the reports we act on, and how many other events it carried
/// (deliveries, opens, clicks), which we do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reports {
    pub reports: Vec<ProviderReport>,
    pub skipped: usize,
}

/// A body that is not what the provider sends (valid JSON of another shape included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotTheShape(pub String);

impl NotTheShape {
    fn new(why: impl Into<String>) -> Self {
        Self(why.into())
    }
}

/// Parses a body as `T`, naming the field that is wrong (never quoting the value: it may hold an
/// address).
fn shaped<T: serde::de::DeserializeOwned>(body: &[u8], provider: &str) -> Result<T, NotTheShape> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            "is not valid JSON".to_owned()
        } else if path == "." {
            format!("is not a {provider} webhook ({})", short(inner))
        } else {
            format!("is not a {provider} webhook: {path}: {}", short(inner))
        };
        NotTheShape(format!("The body {what}."))
    })
}

/// serde's complaint without the position (and without any value it quotes).
fn short(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    match text.split_once(": ") {
        Some((kind, _)) if kind.starts_with("invalid type") || kind.starts_with("invalid value") => kind.to_owned(),
        _ => text.to_owned(),
    }
}

/// A `Message-ID` in angle brackets: providers quote it with or without them.
fn bracketed(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| format!("<{id}>"))
}

/// Text, or a number written as text: providers are not consistent about either.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The enhanced status code (`5.1.1`) in a provider's status or diagnostic text, else `default`.
fn status_in(texts: &[Option<&str>], default: &str) -> String {
    texts.iter().flatten().find_map(|t| super::enhanced_code(t)).unwrap_or_else(|| default.to_owned())
}

/// A bounce verdict: the status says why, `hard` says what it does.
fn bounce(hard: bool, recipient: Option<&str>, status: String, diagnostic: Option<String>) -> Verdict {
    Verdict::Bounce(Bounce { recipient: recipient.map(str::to_owned), status, diagnostic, hard })
}

#[cfg(test)]
mod tests;
