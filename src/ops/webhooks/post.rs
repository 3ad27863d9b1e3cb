//! One delivery of one message to one endpoint, signed per the Standard Webhooks specification:
//! `webhook-id` (the message's, the same on every try), `webhook-timestamp` (this try's, in Unix
//! seconds: receivers refuse old ones to stop replays) and `webhook-signature`
//! (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed by the secret's decoded bytes).

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::{EventType, WebhookSecret};
use crate::ops::feeds::{FetchPolicy, describe};
use crate::telemetry::redact_url;

/// What is read of an answer's body (then it is dropped): only the status counts.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: serde_json::Value,
}

/// The body every try of a message sends: `{"type", "timestamp", "data"}`, with `timestamp` the
/// event's time. `subscriber.unsubscribed` names the list that was left (the newsletter).
pub fn body(event_type: &str, created_at: DateTime<Utc>, data: &str, list: &str) -> Result<String, String> {
    let mut data: serde_json::Value =
        serde_json::from_str(data).map_err(|e| format!("the stored event is not JSON: {e}"))?;
    if event_type == EventType::SubscriberUnsubscribed.as_str() {
        if let Some(fields) = data.as_object_mut() {
            fields.insert("list".to_owned(), serde_json::Value::String(list.to_owned()));
        }
    }
    let body = Body { event_type, timestamp: created_at.to_rfc3339_opts(SecondsFormat::Millis, true), data };
    serde_json::to_string(&body).map_err(|e| format!("cannot write the event: {e}"))
}

/// `webhook-id` for a message: its id, as the specification's examples spell them.
pub fn webhook_id(msg_id: uuid::Uuid) -> String {
    format!("msg_{}", msg_id.simple())
}

/// What an endpoint answered, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed: Duration,
}

impl Answer {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// POSTs `body` to `url`, signed with `secret`. Never fails: a refusal of the address, a timeout
/// or an unsuccessful status are all an [`Answer`] to record.
pub async fn post(
    client: &reqwest::Client,
    policy: FetchPolicy,
    url: &str,
    secret: &WebhookSecret,
    webhook_id: &str,
    body: String,
) -> Answer {
    let started = Instant::now();
    let failed = |error: String| Answer { status: None, error: Some(error), elapsed: started.elapsed() };
    let url = match url::Url::parse(url) {
        Ok(url) => url,
        Err(e) => return failed(format!("not a URL: {e}")),
    };
    // An IP-literal host never reaches the resolver, which checks names.
    if let Err(why) = policy.check_url(&url) {
        return failed(why);
    }
    let timestamp = Utc::now().timestamp();
    let signature = secret.sign(webhook_id, timestamp, body.as_bytes());
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return failed("no answer in time (webhooks.timeout_secs)".to_owned()),
        Err(e) => return failed(describe(e)),
    };
    let status = response.status();
    let error = if status.is_success() {
        None
    } else if status.is_redirection() {
        let to = response.headers().get("location").and_then(|l| l.to_str().ok()).map(|l| redact_url(l).into_owned());
        Some(format!(
            "answered {status} to {}; redirects are not followed (change the endpoint's URL instead)",
            to.unwrap_or_else(|| "nowhere".to_owned())
        ))
    } else {
        Some(format!("answered {status}"))
    };
    // Read (a little of) the answer so the connection can be used again; what it says is not ours.
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > MAX_ANSWER_BYTES {
            break;
        }
    }
    Answer { status: Some(status.as_u16()), error, elapsed: started.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_body_carries_type_timestamp_and_data_and_unsubscribes_name_the_list() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z").unwrap().with_timezone(&Utc);
        let body = body("subscriber.unsubscribed", at, r#"{"id": "x", "email": "a@b.example"}"#, "Broadsheet").unwrap();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["type"], "subscriber.unsubscribed");
        assert_eq!(value["timestamp"], "2026-12-07T10:00:00.000Z");
        assert_eq!(value["data"]["list"], "Broadsheet");
        let body = body_of("subscriber.erased", at, r#"{"id": "x"}"#);
        assert_eq!(body, r#"{"type":"subscriber.erased","timestamp":"2026-12-07T10:00:00.000Z","data":{"id":"x"}}"#);
    }

    fn body_of(event_type: &str, at: DateTime<Utc>, data: &str) -> String {
        body(event_type, at, data, "list").unwrap()
    }

    /// An endpoint we may reach (exempt) redirects to an internal address: not followed, and the
    /// internal server never sees a request.
    #[tokio::test]
    async fn a_redirect_to_an_internal_address_is_not_followed() {
        let internal = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let internal_port = internal.local_addr().unwrap().port();
        let endpoint = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = endpoint.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = endpoint.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.2:{internal_port}/\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        let policy = FetchPolicy::for_webhooks(false).exempting("127.0.0.1".parse().unwrap());
        let client = crate::ops::feeds::webhook_client(policy, Duration::from_secs(5)).unwrap();
        let secret = WebhookSecret::generate().unwrap();
        let url = format!("http://127.0.0.1:{port}/hook");
        let answer = post(&client, policy, &url, &secret, "msg_1", "{}".to_owned()).await;
        assert_eq!(answer.status, Some(307));
        assert!(!answer.delivered());
        assert!(answer.error.as_deref().unwrap().contains("redirects are not followed"), "{answer:?}");
        let reached = tokio::time::timeout(Duration::from_millis(200), internal.accept()).await;
        assert!(reached.is_err(), "the internal address was reached");

        // And an internal address given directly is refused before any connection.
        let direct =
            post(&client, policy, &format!("http://127.0.0.2:{internal_port}/"), &secret, "msg_1", "{}".into()).await;
        assert!(direct.error.as_deref().unwrap().contains("webhooks.allow_private"), "{direct:?}");
    }
}
