//! Reading request bodies ourselves, so every malformed one gets our error with a sentence a
//! person understands, never a framework default or a 500.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use super::error::Error;

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
            let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                Error::BadRequest(format!(
                    "The body is not valid JSON ({e}). Expected e.g. {{\"email\": \"you@example.com\"}}."
                ))
            })?;
            let serde_json::Value::Object(map) = value else {
                return Err(Error::BadRequest(
                    "Expected a JSON object, e.g. {\"email\": \"you@example.com\"}.".to_owned(),
                ));
            };
            let mut fields = HashMap::new();
            for (name, value) in map {
                match value {
                    serde_json::Value::String(s) => {
                        fields.insert(name, s);
                    }
                    serde_json::Value::Null => {}
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
