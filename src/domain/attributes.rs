//! A subscriber's attributes: the operator's own fields (`plan`, `country`, …), a small JSON
//! object checked once here so that the database, the segments and the templates can rely on
//! its shape.

use serde_json::{Map, Value};

use super::FieldError;

/// A JSON object of at most [`Attributes::MAX_BYTES`] (serialized), keys matching
/// `[a-z][a-z0-9_]{0,39}`, values strings, numbers or booleans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(Map<String, Value>);

impl Attributes {
    /// The serialized object's limit: enough for dozens of fields, small enough that a million
    /// subscribers' attributes stay in a few pages each and a segment scan stays one pass.
    pub const MAX_BYTES: usize = 8 * 1024;
    pub const MAX_KEY_CHARS: usize = 40;

    /// Checks a value from a request (or a stored row). Errors name the offending key.
    pub fn parse(value: Value) -> Result<Self, FieldError> {
        let Value::Object(map) = value else {
            return Err(bad("attributes must be a JSON object, such as {\"plan\": \"pro\"}."));
        };
        // Checked before anything else is looked at: a 1 MB object is refused for its size, not
        // for whatever odd key it happens to hold first.
        let size = serde_json::to_string(&map).map_or(usize::MAX, |s| s.len());
        if size > Self::MAX_BYTES {
            return Err(bad(format!(
                "attributes are {size} bytes as JSON; at most {} KiB are kept per subscriber.",
                Self::MAX_BYTES / 1024
            )));
        }
        for (key, value) in &map {
            check_key(key)?;
            match value {
                Value::String(s) if s.contains('\0') => {
                    return Err(bad(format!(
                        "The attribute {key:?} contains a NUL character, which cannot be stored."
                    )));
                }
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
                _ => {
                    return Err(bad(format!(
                        "The attribute {key:?} must be a string, a number or true/false (not null, a list or an object)."
                    )));
                }
            }
        }
        Ok(Self(map))
    }

    /// Attributes from text columns (a CSV import): every value a string.
    pub fn from_strings<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, FieldError> {
        let map = pairs.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect();
        Self::parse(Value::Object(map))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON text, as the database takes it (`$1::jsonb`).
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Whether `key` is an attribute key (`[a-z][a-z0-9_]{0,39}`); segments use the same rule.
pub fn is_attribute_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && key.len() <= Attributes::MAX_KEY_CHARS
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

fn check_key(key: &str) -> Result<(), FieldError> {
    if is_attribute_key(key) {
        return Ok(());
    }
    let shown: String = key.chars().take(60).collect();
    Err(bad(format!(
        "The attribute name {shown:?} is not allowed: use 1 to {} lower-case letters, digits or _, starting with a letter.",
        Attributes::MAX_KEY_CHARS
    )))
}

fn bad(message: impl Into<String>) -> FieldError {
    FieldError { field: "attributes", message: message.into() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_under_good_keys_pass() {
        let a = Attributes::parse(json!({"plan": "pro", "seats": 3, "trial": false, "x_1": 1.5})).unwrap();
        assert_eq!(a.as_map().len(), 4);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Attributes::parse(json!({"Plan": "pro"})).unwrap_err();
        assert!(e.message.contains("\"Plan\""), "{}", e.message);
        let e = Attributes::parse(json!({"tags": ["a"]})).unwrap_err();
        assert!(e.message.contains("\"tags\""), "{}", e.message);
        let e = Attributes::parse(json!({"a": null})).unwrap_err();
        assert!(e.message.contains("\"a\""), "{}", e.message);
        assert_eq!(e.field, "attributes");
    }

    #[test]
    fn not_an_object_or_too_large_is_refused() {
        assert!(Attributes::parse(json!([1])).is_err());
        assert!(Attributes::parse(json!("x")).is_err());
        let big = "x".repeat(Attributes::MAX_BYTES);
        let e = Attributes::parse(json!({ "a": big })).unwrap_err();
        assert!(e.message.contains("8 KiB"), "{}", e.message);
    }

    #[test]
    fn keys_follow_the_pattern() {
        assert!(is_attribute_key("a"));
        assert!(is_attribute_key(&"a".repeat(40)));
        assert!(!is_attribute_key(&"a".repeat(41)));
        assert!(!is_attribute_key("1a"));
        assert!(!is_attribute_key("_a"));
        assert!(!is_attribute_key("a-b"));
        assert!(!is_attribute_key(""));
        assert!(Attributes::parse(json!({"a": "x\u{0}y"})).is_err());
    }
}
