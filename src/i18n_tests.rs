use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::*;

/// Every message of one catalogue source, with the variables (`$name`) it uses. A message is a
/// line `id = …` at the start of a line; its continuation lines are indented.
fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let body = if line.starts_with(char::is_whitespace) || line.starts_with('}') {
            line
        } else {
            let (id, rest) = line.split_once('=').unwrap_or_else(|| panic!("not a message: {line}"));
            let id = id.trim().to_owned();
            assert!(found.insert(id.clone(), BTreeSet::new()).is_none(), "{id} is defined twice");
            current = Some(id);
            rest
        };
        let vars = found.get_mut(current.as_ref().expect("a message before continuation lines")).unwrap();
        for (i, _) in body.match_indices('$') {
            let name: String =
                body[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
            vars.insert(name);
        }
    }
    found
}

fn catalogue(locale: Locale) -> BTreeMap<String, BTreeSet<String>> {
    let (_, sources) = SOURCES.iter().find(|(l, _)| *l == locale).unwrap();
    let mut all = BTreeMap::new();
    for source in sources {
        for (id, vars) in messages(source) {
            assert!(all.insert(id.clone(), vars).is_none(), "{locale}: {id} is in two files");
        }
    }
    all
}

#[test]
fn every_locale_has_every_message_with_the_same_variables() {
    let en = catalogue(Locale::En);
    assert!(en.len() > 100, "{}", en.len());
    for locale in Locale::ALL {
        let other = catalogue(locale);
        let missing: Vec<_> = en.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<_> = other.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing.is_empty(), "{locale} lacks {missing:?}");
        assert!(extra.is_empty(), "{locale} has messages en lacks: {extra:?}");
        for (id, vars) in &en {
            assert_eq!(&other[id], vars, "{locale}: {id} uses other variables than en's");
        }
    }
}

#[test]
fn every_catalogue_parses_and_every_message_formats() {
    for (locale, sources) in SOURCES {
        for source in sources {
            if let Err((_, errors)) = FluentResource::try_new(source.to_owned()) {
                panic!("{locale}: {errors:?}");
            }
        }
        let bundle = &BUNDLES[locale.index()];
        let mut args = FluentArgs::new();
        for name in ["newsletter", "name", "list", "email", "month", "day", "year"] {
            args.set(name, "x");
        }
        args.set("count", 3);
        args.set("hours", 48);
        for id in catalogue(locale).keys() {
            let pattern = bundle.get_message(id).and_then(|m| m.value()).unwrap_or_else(|| panic!("{locale}: {id}"));
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
            assert!(errors.is_empty(), "{locale}: {id}: {errors:?}");
            assert!(!text.trim().is_empty(), "{locale}: {id} is empty");
        }
    }
}

/// Every `t("key"` in the pages and the mail templates names a message of the catalogue.
#[test]
fn every_key_the_templates_use_exists() {
    let en = catalogue(Locale::En);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src/http/pages"), root.join("email-templates")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "html" || e == "j2") {
                files.push(path);
            }
        }
    }
    let mut used = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("t(\"") {
            if i > 0 && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let key: String = text[i + 3..].chars().take_while(|c| *c != '"').collect();
            assert!(en.contains_key(&key), "{}: {key} is in no catalogue", file.display());
            used += 1;
        }
    }
    assert!(used > 100, "{used}");
}

#[test]
fn plurals_follow_each_language() {
    let count = |locale, n: i64| {
        let mut args = FluentArgs::new();
        args.set("count", n);
        message(locale, "archive-count", Some(&args))
    };
    assert_eq!(count(Locale::En, 1), "One issue on this page.");
    assert_eq!(count(Locale::En, 2), "2 issues on this page.");
    assert!(count(Locale::De, 5).starts_with('5'), "{}", count(Locale::De, 5));
    // French counts 0 and 1 as singular.
    assert_eq!(count(Locale::Fr, 0), "0 numéro sur cette page.");
    assert_eq!(count(Locale::Fr, 2), "2 numéros sur cette page.");
    assert_eq!(count(Locale::Es, 1), "Un número en esta página.");
    assert_eq!(count(Locale::Es, 0), "0 números en esta página.");
}

#[test]
fn dates_read_as_each_language_writes_them() {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    assert_eq!(date(Locale::En, day), "7 December 2026");
    assert_eq!(date(Locale::De, day), "7. Dezember 2026");
    assert_eq!(date(Locale::Fr, day), "7 décembre 2026");
    assert_eq!(date(Locale::Es, day), "7 de diciembre de 2026");
}

#[test]
fn the_template_function_reads_the_locale_and_falls_back() {
    let mut env = minijinja::Environment::new();
    add_to(&mut env);
    let render = |tpl: &str, ctx: Value| env.render_str(tpl, ctx).unwrap();
    let ctx = |locale: &str| minijinja::context! { locale, newsletter => "Broadsheet" };
    assert_eq!(render(r#"{{ t("welcome-subject", newsletter=newsletter) }}"#, ctx("en")), "Welcome to Broadsheet");
    assert_eq!(render(r#"{{ t("welcome-subject", newsletter=newsletter) }}"#, ctx("de")), "Willkommen bei Broadsheet");
    assert_eq!(render(r#"{{ t("welcome-subject", newsletter=newsletter) }}"#, ctx("xx")), "Welcome to Broadsheet");
    assert_eq!(render(r#"{{ t("no-such-key") }}"#, ctx("fr")), "no-such-key");
    assert_eq!(render(r#"{{ t("link-expires", hours="1") }}"#, ctx("en")), "The link expires in one hour.");
    assert_eq!(render(r#"{{ t("link-expires", hours="1.5") }}"#, ctx("en")), "The link expires in 1.5 hours.");
}
