//! Logging: human-readable locally, JSON in production, filtered by `RUST_LOG`.
//!
//! Request spans carry the method, the path and a request id, never the query string: tokens
//! travel in queries (`/unsubscribe?token=…`) and must not reach the logs.

use axum::http::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn";

/// Installs the global subscriber. A second call (tests build many apps) is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
}

/// The span every request runs in; `x-request-id` is set by the layer in front of this one.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// Text from elsewhere (an SMTP server's reply, say) with anything that looks like an email
/// address replaced: servers like to echo the recipient (`550 5.1.1 <ada@example.com>: unknown
/// user`), and addresses must not reach the logs.
pub fn without_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if word.contains('@') { "[address]" } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')' | '[' | ']' | ',' | ';') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::without_addresses;

    #[test]
    fn addresses_are_taken_out_of_foreign_text() {
        assert_eq!(
            without_addresses("550 5.1.1 <Ada@Example.com>: Recipient address rejected"),
            "550 5.1.1 <[address]>: Recipient address rejected"
        );
        assert_eq!(without_addresses("to=ada@example.com, status"), "[address], status");
        assert_eq!(without_addresses("451 4.3.0 try later"), "451 4.3.0 try later");
    }
}
