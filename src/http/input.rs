//! Reading request bodies ourselves, so every malformed one gets our error with a sentence a
//! person understands, never a framework default or a 500. The extractors here turn a body into
//! the request type a handler takes: [`JsonBody`] for the admin API, [`PageForm`] for forms a
//! person submits (the console's CSRF-checked forms are in `session.rs`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
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
    match kind {
        BodyKind::Form => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| Error::BadRequest("The form data could not be read.".to_owned()))?;
            let mut fields = HashMap::new();
            for (name, value) in pairs {
                fields.entry(name).or_insert(value);
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
            let mut fields = HashMap::new();
            for (name, value) in map {
                match value {
                    Value::String(s) => {
                        fields.insert(name, s);
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

/// A request type read from text fields (a form, or a JSON object of strings). Missing fields
/// are empty or `None`; the handler's parsing (`domain`) says what is wrong with them.
pub trait FromFields {
    fn from_fields(fields: HashMap<String, String>) -> Self;
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

/// A request type of the admin API, read from a JSON object field by field, so that each
/// wrong field gets a sentence naming it.
pub trait FromJsonObject: Sized {
    /// Whether an empty body stands for `{}` (every field at its default).
    const EMPTY_IS_DEFAULT: bool = false;
    fn from_object(map: &Map<String, Value>, headers: &HeaderMap) -> Result<Self, Error>;
}

/// The admin API's JSON body: `415` unless JSON, `413` past the limit, `400` unless a JSON
/// object, `422` naming the field that is wrong.
pub struct JsonBody<T>(pub T);

impl<T: FromJsonObject, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, &()).await;
        let map = match &bytes {
            Ok(b) if T::EMPTY_IS_DEFAULT && b.is_empty() => Map::new(),
            _ => json_object(&headers, bytes)?,
        };
        T::from_object(&map, &headers).map(Self)
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

pub fn optional_text(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid(field, format!("The field \"{field}\" must be text."))),
    }
}

pub fn required_text(map: &Map<String, Value>, field: &'static str) -> Result<String, Error> {
    optional_text(map, field)?.ok_or_else(|| Error::invalid(field, format!("The field \"{field}\" is required.")))
}
