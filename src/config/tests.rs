//! The layering and each section's checks, through `Settings::load_from` as a deployment sees them.

use secrecy::ExposeSecret as _;

use super::tokens::read_or_create_key;
use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn compiled_in_defaults_run_anywhere() {
    let s = Settings::load_from(None, &[]).unwrap();
    assert_eq!(s.http.addr.port(), 8080);
    assert_eq!(s.mail.url.unwrap().expose_secret(), "file://var/outbox");
    assert_eq!(s.limits.confirmation_mails_per_address_per_day, 3);
}

#[test]
fn environment_variables_win() {
    let s = Settings::load_from(
        None,
        &vars(&[
            ("BROADSHEET__MAIL__CONCURRENCY", "64"),
            ("BROADSHEET__ADMIN__TOKEN", "12345678901234567890123456789012345"),
            ("DATABASE_URL", "postgres://x@db/y"),
        ]),
    )
    .unwrap();
    assert_eq!(s.mail.concurrency, 64);
    assert_eq!(s.admin.token.unwrap().expose_secret(), "12345678901234567890123456789012345");
    assert_eq!(s.database.url.expose_secret(), "postgres://x@db/y");
}

#[test]
fn bad_values_name_their_key() {
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__CONCURRENCY", "lots")])).unwrap_err().to_string();
    assert!(err.contains("mail.concurrency"), "{err}");
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__HTTP__BASE_URL", "not a url")])).unwrap_err().to_string();
    assert!(err.contains("http.base_url"), "{err}");
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__URLL", "smtp://x")])).unwrap_err().to_string();
    assert!(err.contains("urll"), "{err}");
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__URL", "ftp://x")])).unwrap_err().to_string();
    assert!(err.contains("mail.url"), "{err}");
}

#[test]
fn production_requires_mail_url_and_admin_token() {
    let err = Settings::load_from(None, &vars(&[("BROADSHEET_ENV", "production")])).unwrap_err().to_string();
    assert!(err.contains("mail.url"), "{err}");
    let ok = Settings::load_from(
        None,
        &vars(&[
            ("BROADSHEET_ENV", "production"),
            ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587?tls=required"),
            ("BROADSHEET__ADMIN__TOKEN", "0123456789abcdef0123456789abcdef"),
            ("BROADSHEET__TOKENS__KEYS", KEY),
        ]),
    )
    .unwrap();
    assert_eq!(ok.log.format, LogFormat::Json);
}

const KEY: &str = "n4bQgYhMfWwaL+fRHOLi2zFTNdqKHMiXgSjqzOfB8Jc=";

#[test]
fn a_local_link_key_is_generated_once_privately_and_kept() {
    let dir = std::env::temp_dir().join(format!("broadsheet-key-{}", uuid::Uuid::new_v4().simple()));
    let path = dir.join("var").join("token-key");
    let first = read_or_create_key(&path).unwrap();
    let again = read_or_create_key(&path).unwrap();
    assert_eq!(first.expose_secret(), again.expose_secret(), "links survive a restart");
    crate::domain::TokenKeys::new(&[first]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn taking_reports_in_production_needs_neither_the_admin_token_nor_the_link_keys() {
    let mta = [("BROADSHEET_ENV", "production"), ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587")];
    assert!(Settings::load_from(None, &vars(&mta)).is_err(), "the service needs both");
    let inbound = Settings::load_from_for(None, &vars(&mta), Purpose::Inbound).unwrap();
    assert!(inbound.token_keys().is_err(), "and has none to check an unsubscribe mail with");
    let weak = [mta.as_slice(), &[("BROADSHEET__TOKENS__KEYS", "secret")]].concat();
    assert!(Settings::load_from_for(None, &vars(&weak), Purpose::Inbound).is_ok());
    let broken = [mta.as_slice(), &[("BROADSHEET__MAIL__CONCURRENCY", "lots")]].concat();
    assert!(Settings::load_from_for(None, &vars(&broken), Purpose::Inbound).is_err());
}

#[test]
fn production_refuses_to_start_without_a_strong_link_key() {
    let base = [
        ("BROADSHEET_ENV", "production"),
        ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587?tls=required"),
        ("BROADSHEET__ADMIN__TOKEN", "0123456789abcdef0123456789abcdef"),
    ];
    let err = Settings::load_from(None, &vars(&base)).unwrap_err().to_string();
    assert!(err.contains("tokens.keys") && err.contains("required"), "{err}");
    for weak in ["secret", "00000000000000000000000000000000000000000000000000000000000000000000"] {
        let err = Settings::load_from(None, &vars(&[base.as_slice(), &[("BROADSHEET__TOKENS__KEYS", weak)]].concat()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokens.keys"), "{err}");
    }
    let two = format!("{KEY}, 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    let ok =
        Settings::load_from(None, &vars(&[base.as_slice(), &[("BROADSHEET__TOKENS__KEYS", &two)]].concat())).unwrap();
    assert_eq!(ok.tokens.keys.len(), 2, "a rotated-in key first, the old one after it");
    ok.token_keys().unwrap();
}

#[test]
fn a_short_admin_token_is_refused_in_every_environment() {
    for env in ["local", "production"] {
        let err = Settings::load_from(
            None,
            &vars(&[
                ("BROADSHEET_ENV", env),
                ("BROADSHEET__MAIL__URL", "smtp://mail.example.com:587?tls=required"),
                ("BROADSHEET__ADMIN__TOKEN", "secret"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("admin.token") && err.contains("32 characters"), "{env}: {err}");
    }
    assert!(Settings::load_from(None, &[]).unwrap().admin.token.is_none(), "unset locally: one is generated");
}

/// A config directory for one test, removed when it ends.
struct Dir(std::path::PathBuf);

impl Dir {
    fn with(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("broadsheet-config-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn layers_win_in_order_key_by_key() {
    let dir = Dir::with(&[
        ("base.toml", "[mail]\nconcurrency = 2\nmax_attempts = 5\n[http]\nmax_connections = 7\n"),
        ("local.toml", "[mail]\nconcurrency = 3\n"),
        ("production.toml", "[mail]\nconcurrency = 99\n"),
    ]);
    let s = Settings::load_from(Some(&dir.0), &[]).unwrap();
    assert_eq!((s.mail.concurrency, s.mail.max_attempts, s.http.max_connections), (3, 5, 7));
    assert_eq!(s.mail.from.to_string(), "Broadsheet <news@localhost>", "a section is merged, not replaced");
    assert_eq!(s.mail.url.unwrap().expose_secret(), "file://var/outbox", "compiled-in local defaults");
    let s = Settings::load_from(Some(&dir.0), &vars(&[("BROADSHEET__MAIL__CONCURRENCY", "4")])).unwrap();
    assert_eq!(s.mail.concurrency, 4);
    let both = [("DATABASE_URL", "postgres://a@db/a"), ("BROADSHEET__DATABASE__URL", "postgres://b@db/b")];
    let s = Settings::load_from(None, &vars(&both)).unwrap();
    assert_eq!(s.database.url.expose_secret(), "postgres://b@db/b", "the BROADSHEET__ variable wins");
}

#[test]
fn secrets_of_digits_stay_the_exact_text() {
    let digits = "00123456789012345678901234567890123";
    let s = Settings::load_from(
        None,
        &vars(&[
            ("BROADSHEET__ADMIN__TOKEN", digits),
            ("BROADSHEET__MAIL__BOUNCE_ADDRESS", "bounces@news.example.com"),
            ("BROADSHEET__MAIL__BOUNCE_SECRET", digits),
        ]),
    )
    .unwrap();
    assert_eq!(s.admin.token.unwrap().expose_secret(), digits);
    assert_eq!(s.mail.bounce_secret.unwrap().expose_secret(), digits);
}

#[test]
fn lists_come_as_toml_lists_or_comma_separated_text() {
    let dir = Dir::with(&[("base.toml", "[feeds]\nurls = [\"https://a.example/feed\", \"https://b.example/atom\"]\n")]);
    let s = Settings::load_from(Some(&dir.0), &[]).unwrap();
    assert_eq!(s.feeds.urls, ["https://a.example/feed", "https://b.example/atom"]);
    let s = Settings::load_from(None, &vars(&[("BROADSHEET__FEEDS__URLS", " https://a.example/feed, ,")])).unwrap();
    assert_eq!(s.feeds.urls, ["https://a.example/feed"]);
    let s = Settings::load_from(None, &vars(&[("BROADSHEET__FEEDS__URLS", "")])).unwrap();
    assert!(s.feeds.urls.is_empty());
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__FEEDS__URLS", "ftp://x")])).unwrap_err().to_string();
    assert!(err.contains("feeds.urls"), "{err}");
}

#[test]
fn mistakes_in_files_and_variable_names_are_named() {
    let dir = Dir::with(&[("base.toml", "[mail]\nconcurency = 2\n")]);
    let err = Settings::load_from(Some(&dir.0), &[]).unwrap_err().to_string();
    assert!(err.contains("concurency"), "{err}");
    let dir = Dir::with(&[("local.toml", "[mail\n")]);
    let err = Settings::load_from(Some(&dir.0), &[]).unwrap_err().to_string();
    assert!(err.contains("local.toml") && err.contains("line 1") && !err.contains('\n'), "{err}");
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__SURPRISE", "1")])).unwrap_err().to_string();
    assert!(err.contains("BROADSHEET__SURPRISE") && err.contains("BROADSHEET__SECTION__KEY"), "{err}");
    let err = Settings::load_from(None, &vars(&[("BROADSHEET__BOGUS__KEY", "1")])).unwrap_err().to_string();
    assert!(err.contains("bogus"), "{err}");
    let err = Settings::load_from(None, &vars(&[("BROADSHEET_ENV", "staging")])).unwrap_err().to_string();
    assert!(err.contains("BROADSHEET_ENV"), "{err}");
}

#[test]
fn each_section_names_its_own_key() {
    for (name, value, key) in [
        ("BROADSHEET__DATABASE__MAX_CONNECTIONS", "0", "database.max_connections"),
        ("BROADSHEET__HTTP__MAX_CONNECTIONS", "0", "http.max_connections"),
        ("BROADSHEET__HTTP__IDLE_TIMEOUT_SECS", "-1", "http.idle_timeout_secs"),
        ("BROADSHEET__HTTP__CLIENT_IP_HEADER", "X Forwarded", "http.client_ip_header"),
        ("BROADSHEET__LIMITS__IPV6_PREFIX", "0", "limits.ipv6_prefix"),
        ("BROADSHEET__SUBSCRIPTIONS__TOKEN_TTL_HOURS", "0", "subscriptions.token_ttl_hours"),
        ("BROADSHEET__SUBSCRIPTIONS__REMINDER_AFTER_HOURS", "-1", "subscriptions.reminder_after_hours"),
        ("BROADSHEET__SUBSCRIPTIONS__PREFERENCES_TTL_DAYS", "0", "subscriptions.preferences_ttl_days"),
        ("BROADSHEET__SUBSCRIPTIONS__DEFAULT_LOCALE", "it", "subscriptions.default_locale"),
        ("BROADSHEET__SUBSCRIPTIONS__DEFAULT_LOCALE", "../../etc", "subscriptions.default_locale"),
        ("BROADSHEET__BOUNCES__SOFT_LIMIT", "0", "bounces.soft_limit"),
        ("BROADSHEET__BOUNCES__SOFT_WINDOW_DAYS", "0", "bounces.soft_window_days"),
        ("BROADSHEET__DIGESTS__TIMEZONE", "Mars/Olympus", "digests.timezone"),
        ("BROADSHEET__DIGESTS__SCHEDULE", "every day", "digests.schedule"),
        ("BROADSHEET__DIGESTS__MAX_LATENESS_HOURS", "0", "digests.max_lateness_hours"),
        ("BROADSHEET__FEEDS__POLL_MINUTES", "0.5", "feeds.poll_minutes"),
        ("BROADSHEET__LOG__FORMAT", "xml", "log.format"),
    ] {
        let err = Settings::load_from(None, &vars(&[(name, value)])).unwrap_err().to_string();
        assert!(err.starts_with(&format!("configuration: {key}: ")) && !err.contains('\n'), "{name}: {err}");
    }
}

#[test]
fn values_of_the_wrong_type_are_refused_not_rounded_or_guessed() {
    let dir = std::env::temp_dir().join(format!("broadsheet-config-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (text, key) in [
        ("[mail]\nconcurrency = 2.5\n", "mail.concurrency"),
        ("[http]\narchive = \"yes\"\n", "http.archive"),
        ("[database]\nmax_connections = \"8\"\n", "database.max_connections"),
    ] {
        std::fs::write(dir.join("base.toml"), text).unwrap();
        let err = Settings::load_from(Some(&dir), &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // From the environment, text reads as TOML would read it bare: 8 is a number, yes is not true.
    let ok = Settings::load_from(None, &vars(&[("BROADSHEET__DATABASE__MAX_CONNECTIONS", "8")])).unwrap();
    assert_eq!(ok.database.max_connections, 8);
    for (name, value) in [("BROADSHEET__HTTP__ARCHIVE", "yes"), ("BROADSHEET__MAIL__CONCURRENCY", "2.5")] {
        assert!(Settings::load_from(None, &vars(&[(name, value)])).is_err(), "{name}={value}");
    }
}

#[test]
fn each_provider_names_its_own_key_and_is_off_without_its_section() {
    let s = Settings::load_from(None, &[]).unwrap();
    assert!(s.providers.ses.is_none() && s.providers.postmark.is_none());
    assert!(s.providers.mailgun.is_none() && s.providers.sendgrid.is_none());
    let arn = ("BROADSHEET__PROVIDERS__SES__TOPIC_ARNS", "arn:aws:sns:us-east-1:123456789012:ses");
    for (pairs, key) in [
        (vec![("BROADSHEET__PROVIDERS__SES__TOPIC_ARNS", "")], "providers.ses.topic_arns"),
        (vec![("BROADSHEET__PROVIDERS__SES__TOPIC_ARNS", "arn:aws:sqs:x:1:y")], "providers.ses.topic_arns"),
        (vec![arn, ("BROADSHEET__PROVIDERS__SES__CERTIFICATE_HOSTS", "https://x/")], "providers.ses.certificate_hosts"),
        (vec![("BROADSHEET__PROVIDERS__SES__CERTIFICATE_HOSTS", "x")], "providers.ses: missing field `topic_arns`"),
        (vec![("BROADSHEET__PROVIDERS__MAILGUN__SIGNING_KEY", "short")], "providers.mailgun.signing_key"),
        (
            vec![
                ("BROADSHEET__PROVIDERS__POSTMARK__USERNAME", "a:b"),
                ("BROADSHEET__PROVIDERS__POSTMARK__PASSWORD", "x"),
            ],
            "providers.postmark.username",
        ),
        (
            vec![
                ("BROADSHEET__PROVIDERS__POSTMARK__USERNAME", "postmark"),
                ("BROADSHEET__PROVIDERS__POSTMARK__PASSWORD", "1234"),
            ],
            "providers.postmark.password",
        ),
        (vec![("BROADSHEET__PROVIDERS__SENDGRID__PUBLIC_KEY", "MFkwEw==")], "providers.sendgrid.public_key"),
        (vec![("BROADSHEET__PROVIDERS__SENDGRID__KEY", "x")], "providers.sendgrid"),
    ] {
        let err = Settings::load_from(None, &vars(&pairs)).unwrap_err().to_string();
        assert!(err.starts_with(&format!("configuration: {key}")) && !err.contains('\n'), "{pairs:?}: {err}");
    }
    let ok = Settings::load_from(
        None,
        &vars(&[arn, ("BROADSHEET__PROVIDERS__SES__CERTIFICATE_HOSTS", "127.0.0.1:4567, certs.example.test")]),
    )
    .unwrap();
    assert_eq!(ok.providers.ses.unwrap().certificate_hosts, ["127.0.0.1:4567", "certs.example.test"]);
    // A password of digits stays text.
    let digits = "1234567890123456789";
    let ok = Settings::load_from(
        None,
        &vars(&[
            ("BROADSHEET__PROVIDERS__POSTMARK__USERNAME", "1234"),
            ("BROADSHEET__PROVIDERS__POSTMARK__PASSWORD", digits),
        ]),
    )
    .unwrap();
    assert_eq!(ok.providers.postmark.unwrap().password.expose_secret(), digits);
}

#[test]
fn a_tls_ca_file_that_cannot_be_trusted_stops_the_start_naming_its_key() {
    let dir = std::env::temp_dir().join(format!("broadsheet-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let no_cert = dir.join("no-cert.pem");
    std::fs::write(&no_cert, "just some text\n").unwrap();
    let bad_cert = dir.join("bad-cert.pem");
    std::fs::write(&bad_cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let not_pem = dir.join("not-pem.pem");
    std::fs::write(&not_pem, "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n").unwrap();
    let missing = dir.join("missing.pem");
    for (path, says) in [
        (&missing, "cannot read"),
        (&no_cert, "no certificate"),
        (&bad_cert, "not usable"),
        (&not_pem, "not a PEM certificate file"),
    ] {
        let path = path.to_str().unwrap();
        let err = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__TLS_CA_FILE", path)])).unwrap_err().to_string();
        assert!(err.contains("mail.tls_ca_file") && err.contains(says) && err.contains(path), "{err}");
        assert!(!err.trim_end().contains('\n'), "one line: {err}");
    }
    let test_ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-ca.pem");
    let s = Settings::load_from(None, &vars(&[("BROADSHEET__MAIL__TLS_CA_FILE", test_ca)])).unwrap();
    assert_eq!(s.mail.tls_roots().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bot_defences_default_on_and_bad_values_name_their_key() {
    let s = Settings::load_from(None, &[]).unwrap();
    assert_eq!(s.limits.signup_min_seconds, 2);
    assert_eq!(s.limits.signup_pow, 0, "proof of work is off unless asked for");
    assert!(!s.subscriptions.check_mx);
    for (var, value, key) in [
        ("BROADSHEET__LIMITS__SIGNUP_MIN_SECONDS", "7200", "limits.signup_min_seconds"),
        ("BROADSHEET__LIMITS__SIGNUP_MIN_SECONDS", "-1", "limits.signup_min_seconds"),
        ("BROADSHEET__LIMITS__SIGNUP_POW", "40", "limits.signup_pow"),
        ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX", "perhaps", "subscriptions.check_mx"),
        ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX_NAMESERVER", "not an address", "subscriptions.check_mx_nameserver"),
    ] {
        let err = Settings::load_from(None, &vars(&[(var, value)])).unwrap_err().to_string();
        assert!(err.contains(key), "{var}={value}: {err}");
    }
    let s = Settings::load_from(
        None,
        &vars(&[
            ("BROADSHEET__LIMITS__SIGNUP_POW", "18"),
            ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX", "true"),
            ("BROADSHEET__SUBSCRIPTIONS__CHECK_MX_NAMESERVER", "127.0.0.1:5353"),
        ]),
    )
    .unwrap();
    assert_eq!(s.limits.signup_pow, 18);
    assert!(s.subscriptions.check_mx);
    assert_eq!(s.subscriptions.check_mx_nameserver, Some("127.0.0.1:5353".parse().unwrap()));
}
