//! Reading request bodies ourselves, so every malformed one gets our error with a sentence a
//! person understands, never a framework default or a 500. The extractors here turn a body into
//! the request type a handler takes: [`JsonBody`] for the admin API, [`PageForm`] for forms a
//! person submits (the console's CSRF-checked forms are in `session.rs`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::{Error, PageError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Form,
    Json,
}

pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind, Error> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        "application/json" => Ok(BodyKind::Json),
        _ => Err(Error::UnsupportedMediaType(
            "Send the request as a form (application/x-www-form-urlencoded) or as JSON (application/json).".to_owned(),
        )),
    }
}

/// The body, or 413 when it exceeded the limit.
pub fn body(bytes: Result<Bytes, BytesRejection>) -> Result<Bytes, Error> {
    bytes.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        _ => Error::BadRequest("The request body could not be read.".to_owned()),
    })
}

/// Text fields from either kind of body. The first occurrence of a name wins; fields we do not
/// know are ignored (a form may carry more than we need). Values that are not text (a number
/// where an address belongs) are refused, naming the field.
pub fn text_fields(kind: BodyKind, body: &[u8]) -> Result<HashMap<String, String>, Error> {
    Ok(fields_with_list(kind, body, None)?.text)
}

/// Text fields, and one field that may hold several values.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields {
    pub text: HashMap<String, String>,
    /// The repeated field's values in order: a form's every occurrence of the name (empty values
    /// dropped), or a JSON array of strings. `None` when the body does not have the field.
    pub repeated: Option<Vec<String>>,
}

/// [`text_fields`], with `repeated` read as a list: in a form, every occurrence
/// (`lists=a&lists=b`); in JSON, an array of strings (anything else is refused, naming it).
pub fn text_fields_with(kind: BodyKind, body: &[u8], repeated: &'static str) -> Result<Fields, Error> {
    fields_with_list(kind, body, Some(repeated))
}

fn fields_with_list(kind: BodyKind, body: &[u8], repeated: Option<&'static str>) -> Result<Fields, Error> {
    match kind {
        BodyKind::Form => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| Error::BadRequest("The form data could not be read.".to_owned()))?;
            let mut fields = Fields::default();
            for (name, value) in pairs {
                if Some(name.as_str()) == repeated {
                    let values = fields.repeated.get_or_insert_with(Vec::new);
                    if !value.trim().is_empty() {
                        values.push(value);
                    }
                    continue;
                }
                fields.text.entry(name).or_insert(value);
            }
            Ok(fields)
        }
        BodyKind::Json => {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                Error::BadRequest(format!(
                    "The body is not valid JSON ({e}). Expected e.g. {{\"email\": \"you@example.com\"}}."
                ))
            })?;
            let Value::Object(map) = value else {
                return Err(Error::BadRequest(
                    "Expected a JSON object, e.g. {\"email\": \"you@example.com\"}.".to_owned(),
                ));
            };
            let mut fields = Fields::default();
            for (name, value) in map {
                if let Some(field) = repeated.filter(|r| *r == name) {
                    fields.repeated = strings(field, value)?;
                    continue;
                }
                match value {
                    Value::String(s) => {
                        fields.text.insert(name, s);
                    }
                    Value::Null => {}
                    _ => {
                        let message = format!("The field \"{name}\" must be text.");
                        return Err(match name.as_str() {
                            "email" => Error::invalid("email", message),
                            "name" => Error::invalid("name", message),
                            "token" => Error::invalid("token", message),
                            _ => Error::BadRequest(message),
                        });
                    }
                }
            }
            Ok(fields)
        }
    }
}

/// A JSON array of strings (`null` is no value); anything else is refused, naming the field.
fn strings(field: &'static str, value: Value) -> Result<Option<Vec<String>>, Error> {
    let refused = || Error::invalid(field, format!("The field \"{field}\" must be a list of text, e.g. [\"weekly\"]."));
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(refused()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(refused()),
    }
}

/// A request type read from text fields (a form, or a JSON object of strings): any type that
/// derives `Deserialize` and `Default` with `#[serde(default)]`, its fields `String` or
/// `Option<String>`. Missing fields are empty or `None`, fields we do not know are ignored; the
/// handler's parsing (`domain`) says what is wrong with the values.
pub trait FromFields {
    fn from_fields(fields: HashMap<String, String>) -> Self;
}

impl<T: DeserializeOwned + Default> FromFields for T {
    fn from_fields(fields: HashMap<String, String>) -> Self {
        let object = fields.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
        // Every field is text with a default, and every value is text: nothing can fail.
        serde_json::from_value(Value::Object(object)).unwrap_or_default()
    }
}

/// The text fields of a form body (JSON accepted too); a body that cannot be read is a 4xx.
pub async fn form_fields(request: Request) -> Result<HashMap<String, String>, Error> {
    let kind = body_kind(request.headers()).unwrap_or(BodyKind::Form);
    let bytes = body(Bytes::from_request(request, &()).await)?;
    text_fields(kind, &bytes)
}

/// A form a person submitted from a page; a body that cannot be read gets the error page.
pub struct PageForm<T>(pub T);

impl<T: FromFields, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(T::from_fields(form_fields(request).await?)))
    }
}

/// A request type of the admin API, deserialized by serde from its [`JsonRequest::Body`]
/// (`serde_path_to_error` names the field a wrong value sits in; fields we do not know are
/// ignored), then finished by [`JsonRequest::from_body`] for what a type alone cannot check.
pub trait JsonRequest: Sized {
    type Body: DeserializeOwned;
    /// The body's fields, as named in the JSON: the one at fault is named in the error.
    const FIELDS: &'static [&'static str];
    /// Whether an empty body stands for `{}` (every field at its default).
    const EMPTY_IS_DEFAULT: bool = false;
    /// What a wrong value of `field` must be, as a sentence.
    fn expected(field: &'static str) -> String {
        format!("The field \"{field}\" must be text.")
    }
    fn from_body(body: Self::Body, headers: &HeaderMap) -> Result<Self, Error>;
}

/// The admin API's JSON body: `415` unless JSON, `413` past the limit, `400` unless a JSON
/// object, `422` naming the field that is wrong.
pub struct JsonBody<T>(pub T);

impl<T: JsonRequest, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, &()).await;
        let map = match &bytes {
            Ok(b) if T::EMPTY_IS_DEFAULT && b.is_empty() => Map::new(),
            _ => json_object(&headers, bytes)?,
        };
        let body = serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| refused::<T>(&e))?;
        T::from_body(body, &headers).map(Self)
    }
}

/// serde's complaint as a sentence naming the field.
fn refused<T: JsonRequest>(e: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let inner = e.inner().to_string();
    let known = |name: &str| T::FIELDS.iter().copied().find(|f| *f == name);
    // A missing field is reported at the object, with its name in the message.
    if let Some(field) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()).and_then(known) {
        return Error::invalid(field, format!("The field \"{field}\" is required."));
    }
    match e.path().iter().next().map(ToString::to_string).as_deref().and_then(known) {
        Some(field) if inner.starts_with("invalid type: null") => {
            Error::invalid(field, format!("The field \"{field}\" is required."))
        }
        Some(field) => Error::invalid(field, T::expected(field)),
        None => Error::BadRequest(format!("The body could not be read: {inner}.")),
    }
}

fn json_object(headers: &HeaderMap, bytes: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, Error> {
    if body_kind(headers)? != BodyKind::Json {
        return Err(Error::UnsupportedMediaType("Send JSON (Content-Type: application/json).".to_owned()));
    }
    let bytes = body(bytes)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::BadRequest("Expected a JSON object.".to_owned())),
        Err(e) => Err(Error::BadRequest(format!("The body is not valid JSON ({e})."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_form_field_keeps_every_value_and_the_others_their_first() {
        let body = b"email=a%40example.com&lists=weekly&email=b%40example.com&lists=&lists=events";
        let fields = text_fields_with(BodyKind::Form, body, "lists").unwrap();
        assert_eq!(fields.text["email"], "a@example.com");
        assert_eq!(fields.repeated, Some(vec!["weekly".to_owned(), "events".to_owned()]));
        assert!(!fields.text.contains_key("lists"));
        let without = text_fields_with(BodyKind::Form, b"email=a%40example.com", "lists").unwrap();
        assert_eq!(without.repeated, None);
        // The plain reader still keeps only the first value of anything.
        assert_eq!(text_fields(BodyKind::Form, b"lists=a&lists=b").unwrap()["lists"], "a");
    }

    #[test]
    fn a_json_list_must_be_an_array_of_strings() {
        let fields = text_fields_with(BodyKind::Json, br#"{"email": "a@example.com", "lists": ["x", "y"]}"#, "lists");
        assert_eq!(fields.unwrap().repeated, Some(vec!["x".to_owned(), "y".to_owned()]));
        let null = text_fields_with(BodyKind::Json, br#"{"lists": null}"#, "lists").unwrap();
        assert_eq!(null.repeated, None);
        for bad in [&br#"{"lists": "x"}"#[..], br#"{"lists": [1]}"#, br#"{"lists": [["x"]]}"#, br#"{"lists": {}}"#] {
            let error = text_fields_with(BodyKind::Json, bad, "lists").unwrap_err();
            assert_eq!(error.field(), Some("lists"), "{}", String::from_utf8_lossy(bad));
        }
        // Other fields keep their checks.
        let error = text_fields_with(BodyKind::Json, br#"{"email": 5, "lists": []}"#, "lists").unwrap_err();
        assert_eq!(error.field(), Some("email"));
    }
}
