//! What may reach a log line: text without email addresses, URLs without credentials.

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

/// A URL as it may be logged or shown: without the `user:password@` part, which feed and mail
/// URLs may carry. Every URL that reaches a log line goes through here (a test checks the call
/// sites). Text that is not a URL (a file path) comes back unchanged.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else { return url.into() };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..authority_start], &rest[at + 1..]).into(),
        None => url.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, without_addresses};

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:pa%40ss@feeds.example.com:8443/a@b?x=@#y"),
            "https://feeds.example.com:8443/a@b?x=@#y"
        );
        assert_eq!(redact_url("http://token@h/f"), "http://h/f");
        assert_eq!(redact_url("https://a:b:c@h"), "https://h");
        assert_eq!(redact_url("https://example.com/feed.xml"), "https://example.com/feed.xml");
        assert_eq!(redact_url("tests/feeds/rss2.xml"), "tests/feeds/rss2.xml");
    }

    /// Every log statement (and every feed error, which the poller logs) that mentions a URL or a
    /// feed passes it through `redact_url`.
    #[test]
    fn every_logged_url_goes_through_redact_url() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.clone()];
        let mut offenders = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let code = std::fs::read_to_string(&path).unwrap();
            for macro_name in ["trace!(", "debug!(", "info!(", "warn!(", "error!("] {
                for (at, _) in code.match_indices(&format!("tracing::{macro_name}")) {
                    let end = code[at..].find(");").map_or(code.len(), |e| at + e);
                    let call = &code[at..end];
                    let lower = call.to_lowercase();
                    if (lower.contains("url") || lower.contains("feed")) && !call.contains("redact_url") {
                        offenders.push(format!("{}: {call}", path.display()));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "log statements with a URL not passed through redact_url:\n{}",
            offenders.join("\n")
        );
    }

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
