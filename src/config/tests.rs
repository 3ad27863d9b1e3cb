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
