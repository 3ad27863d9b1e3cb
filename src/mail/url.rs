use std::path::PathBuf;

use secrecy::SecretString;

/// `mail.url`, parsed once at start-up.
#[derive(Debug, Clone)]
pub enum MailUrl {
    Smtp {
        host: String,
        port: u16,
        tls: TlsMode,
        credentials: Option<(String, SecretString)>,
    },
    /// One `.eml` file per message in this directory.
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text only (`?tls=none`): a local relay or a test sink.
    None,
    /// STARTTLS when the server offers it (the default for `smtp://` without a user name).
    Opportunistic,
    /// STARTTLS or fail (`?tls=required`, and the default for `smtp://` with a user name).
    Required,
    /// TLS from the first byte (`smtps://`, port 465 by default).
    Implicit,
}

impl MailUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        // `file://var/outbox` is a relative path; a URL parser would call `var` a host.
        if let Some(path) = input.strip_prefix("file://") {
            if path.is_empty() {
                return Err("file:// needs a directory, e.g. file://var/outbox".into());
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        let url = ::url::Url::parse(input)
            .map_err(|e| format!("not a URL ({e}); use smtp://host:port, smtps://user:pass@host or file://DIR"))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(format!("unsupported scheme {other:?}; use smtp://, smtps:// or file://")),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("missing host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port().unwrap_or(if implicit { 465 } else { 25 });
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") if !implicit => tls = Some(TlsMode::Required),
                ("tls", "opportunistic") if !implicit => tls = Some(TlsMode::Opportunistic),
                ("tls", "none") if !implicit => tls = Some(TlsMode::None),
                _ => {
                    return Err(format!("unknown option {key}={value}; smtp:// takes tls=required|opportunistic|none"));
                }
            }
        }
        let has_user = !url.username().is_empty();
        // A password must never travel unencrypted because a server (or someone in between, who
        // strips the STARTTLS offer) says it cannot do TLS: with credentials, TLS is required
        // unless the operator writes tls=none for a relay they trust.
        let tls = match (implicit, tls, has_user) {
            (true, _, _) => TlsMode::Implicit,
            (false, None, true) => TlsMode::Required,
            (false, None, false) => TlsMode::Opportunistic,
            (false, Some(TlsMode::Opportunistic), true) => {
                return Err("tls=opportunistic with a user name would send the password unencrypted to a server \
                            that offers no STARTTLS (or when an attacker strips the offer); leave tls out (TLS is \
                            then required) or write tls=none for a local relay"
                    .to_owned());
            }
            (false, Some(mode), _) => mode,
        };
        let credentials = if !has_user {
            None
        } else {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| "user name or password is not valid percent-encoded UTF-8".to_owned())
            };
            let user = decode(url.username())?;
            let pass = decode(url.password().unwrap_or(""))?;
            Some((user, SecretString::from(pass)))
        };
        Ok(Self::Smtp { host, port, tls, credentials })
    }
}

/// Percent-decoding by the `percent-encoding` crate, which passes a malformed escape through as
/// it is; for credentials we want an error instead, so every `%` must start an escape.
fn percent_decode(s: &str) -> Option<String> {
    let escapes_ok = s
        .split('%')
        .skip(1)
        .all(|after| after.as_bytes().get(..2).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !escapes_ok {
        return None;
    }
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_the_documented_forms() {
        match MailUrl::parse("smtp://127.0.0.1:2525").unwrap() {
            MailUrl::Smtp { host, port, tls, credentials } => {
                assert_eq!((host.as_str(), port, tls), ("127.0.0.1", 2525, TlsMode::Opportunistic));
                assert!(credentials.is_none());
            }
            other => panic!("{other:?}"),
        }
        match MailUrl::parse("smtps://me%40x.com:p%40ss@mail.example.com").unwrap() {
            MailUrl::Smtp { port, tls, credentials: Some((user, pass)), .. } => {
                assert_eq!((port, tls, user.as_str()), (465, TlsMode::Implicit, "me@x.com"));
                assert_eq!(pass.expose_secret(), "p@ss");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            MailUrl::parse("smtp://h:587?tls=required").unwrap(),
            MailUrl::Smtp { tls: TlsMode::Required, .. }
        ));
        assert!(
            matches!(MailUrl::parse("file://var/outbox").unwrap(), MailUrl::File(p) if p == std::path::Path::new("var/outbox"))
        );
        assert!(MailUrl::parse("http://x").is_err());
        // A password implies TLS, unless plaintext is asked for by name.
        assert!(matches!(MailUrl::parse("smtp://u:p@h:587").unwrap(), MailUrl::Smtp { tls: TlsMode::Required, .. }));
        assert!(matches!(
            MailUrl::parse("smtp://u:p@h:25?tls=none").unwrap(),
            MailUrl::Smtp { tls: TlsMode::None, .. }
        ));
        let refused = MailUrl::parse("smtp://u:p@h:587?tls=opportunistic").unwrap_err();
        assert!(refused.contains("unencrypted"), "{refused}");
        assert!(MailUrl::parse("smtp://h?tls=maybe").is_err());
    }
}
