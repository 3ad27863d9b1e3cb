use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;

fn err(text: &str) -> SegmentError {
    Segment::parse(text).expect_err(text)
}

fn test(text: &str) -> Test {
    match Segment::parse(text).unwrap().expr {
        Expr::Test(t) => t,
        other => panic!("not one test: {other:?}"),
    }
}

#[test]
fn the_design_example_parses() {
    let s =
        Segment::parse(r#"attributes.plan = "pro" and confirmed_at < -30d and not list.weekly = "confirmed""#).unwrap();
    let Expr::All(items) = s.expr() else { panic!("{s:?}") };
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[2], Expr::Not(_)));
    assert_eq!(s.list_slugs(), vec![("weekly", 56)]);
}

#[test]
fn every_operator_and_value_kind() {
    assert_eq!(test(r#"email = "a@b.c""#).check, Check::Compare(Cmp::Eq, Value::Text("a@b.c".into())));
    assert_eq!(test("attributes.n != 2").check, Check::Compare(Cmp::Ne, Value::Number(2.0)));
    assert_eq!(test("attributes.n<-2.5").check, Check::Compare(Cmp::Lt, Value::Number(-2.5)));
    assert_eq!(test("attributes.n <= 1e3").check, Check::Compare(Cmp::Le, Value::Number(1000.0)));
    assert_eq!(test(r#"name > "m""#).check, Check::Compare(Cmp::Gt, Value::Text("m".into())));
    let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    assert_eq!(test("created_at >= 2026-01-31").check, Check::Compare(Cmp::Ge, Value::Date(DateValue::On(day))));
    assert_eq!(test("confirmed_at < -30d").check, Check::Compare(Cmp::Lt, Value::Date(DateValue::DaysAgo(30))));
    assert_eq!(test(r#"name contains "an""#).check, Check::Contains("an".into()));
    assert_eq!(test(r#"email starts_with "x""#).check, Check::StartsWith("x".into()));
    assert_eq!(
        test(r#"status in ["pending", "confirmed"]"#).check,
        Check::In(vec![Value::Text("pending".into()), Value::Text("confirmed".into())])
    );
    assert_eq!(test("attributes.vip exists").check, Check::Exists);
    assert_eq!(test("attributes.vip = true").check, Check::Compare(Cmp::Eq, Value::Bool(true)));
    assert_eq!(test(r#"list.my-list = "pending""#).field, Field::List("my-list".into()));
    assert_eq!(
        test(r#"attributes.say = "a \"b\" \\""#).check,
        Check::Compare(Cmp::Eq, Value::Text(r#"a "b" \"#.into()))
    );
}

#[test]
fn precedence_and_binds_tighter_than_or() {
    let s = Segment::parse("attributes.a = 1 or attributes.b = 1 and attributes.c = 1").unwrap();
    let Expr::Any(items) = s.expr() else { panic!() };
    assert!(matches!(&items[1], Expr::All(v) if v.len() == 2));
    let s = Segment::parse("(attributes.a = 1 or attributes.b = 1) and attributes.c = 1").unwrap();
    assert!(matches!(s.expr(), Expr::All(v) if matches!(&v[0], Expr::Any(_))));
}

#[test]
fn errors_say_where_and_what_was_expected() {
    let e = err("plan = \"pro\"");
    assert_eq!(e.position, 0);
    assert!(e.message.contains("Unknown field \"plan\""), "{e}");
    let e = err("email \"x\"");
    assert_eq!(e.position, 6);
    assert!(e.message.contains("Expected an operator"), "{e}");
    let e = err("email = ");
    assert_eq!(e.position, 8);
    assert!(e.message.contains("Expected a value"), "{e}");
    let e = err("(email = \"a\"");
    assert_eq!(e.position, 12);
    assert!(e.message.contains("Expected )"), "{e}");
    let e = err("email = \"a\")");
    assert_eq!(e.position, 11);
    let e = err("email = \"a\" email");
    assert_eq!(e.position, 12);
    assert!(e.message.contains("and, or"), "{e}");
    assert_eq!(err("email = \"a").position, 8);
    assert_eq!(err("email = # ").position, 8);
    assert_eq!(err("").position, 0);
    assert_eq!(err("status = confirmed").message, "Expected a value: put text in double quotes, as in \"confirmed\"");
}

#[test]
fn values_must_have_the_field_type() {
    let e = err("created_at < \"yesterday\"");
    assert_eq!(e.position, 13);
    assert!(e.message.contains("date"), "{e}");
    assert!(err("status = \"gone\"").message.contains("confirmed"));
    assert!(err("status < \"confirmed\"").message.contains("not <"));
    assert!(err("list.weekly = \"member\"").message.contains("pending"));
    assert!(err("created_at contains \"1\"").message.contains("text"));
    assert!(err("status exists").message.contains("exists"));
    assert!(err("email = 3").message.contains("string"));
    assert!(err("attributes.x < true").message.contains("true/false"));
    assert!(err("attributes.x = 2026-01-01").message.contains("\"2026-01-31\""));
    assert!(err("attributes.X = 1").message.contains("Unknown field"));
    assert!(err("created_at = 2026-02-30").message.contains("not a date"));
    assert!(err("created_at = -99999d").message.contains("36500"));
    assert!(err("attributes.n = 1x").message.contains("not a value"));
}

#[test]
fn limits_are_clean_errors() {
    let long = format!("email = \"{}\"", "a".repeat(100_000));
    let e = err(&long);
    assert_eq!(e.position, Segment::MAX_BYTES);
    assert!(e.message.contains("4096"), "{e}");
    let deep = format!("{}email = \"a\"{}", "(".repeat(1000), ")".repeat(1000));
    let e = err(&deep);
    assert_eq!(e.position, 32);
    assert!(e.message.contains("32"), "{e}");
    let nots = format!("{}email = \"a\"", "not ".repeat(1000));
    assert!(err(&nots).message.contains("nested"));
    // 32 levels are allowed.
    assert!(Segment::parse(&format!("{}email = \"a\"{}", "(".repeat(32), ")".repeat(32))).is_ok());
    // A long chain is flat, not deep.
    let chain = vec!["attributes.a = 1"; 200].join(" or ");
    assert!(matches!(Segment::parse(&chain).unwrap().expr(), Expr::Any(v) if v.len() == 200));
}

fn atom() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "email",
        "name",
        "status",
        "created_at",
        "confirmed_at",
        "attributes.plan",
        "list.weekly",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        ",",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "contains",
        "starts_with",
        "in",
        "exists",
        "\"pro\"",
        "\"confirmed\"",
        "\"",
        "\\",
        "3",
        "-2.5",
        "2026-01-31",
        "-30d",
        "true",
        "false",
        " ",
        "é",
        "\0",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    #[test]
    fn any_text_parses_or_fails_cleanly(text in ".{0,200}") {
        if let Err(e) = Segment::parse(&text) {
            prop_assert!(e.position <= text.len().max(Segment::MAX_BYTES));
        }
    }

    #[test]
    fn token_soup_parses_or_fails_cleanly(parts in prop::collection::vec(atom(), 0..60)) {
        let text = parts.join(" ");
        match Segment::parse(&text) {
            Ok(s) => prop_assert_eq!(s.as_str(), text.as_str()),
            Err(e) => {
                prop_assert!(e.position <= text.len());
                prop_assert!(text.is_char_boundary(e.position));
            }
        }
    }
}

/// The table of errors in docs/segments.md (the unknown list is the store's, tested against Postgres).
#[test]
fn the_documented_errors_are_the_ones_given() {
    for (text, position, start) in [
        (r#"attributes.plan = "pro" and plan = "x""#, 28, "Unknown field \"plan\""),
        (r#"created_at < "last week""#, 13, "created_at compares with a date"),
        ("status = confirmed", 9, "Expected a value: put text in double quotes"),
        (r#"email "x""#, 6, "Expected an operator after email"),
        (r#"(email = "a""#, 12, "Expected ) to close the parenthesis"),
        ("attributes.seats < true", 19, "true/false takes = , != or in, not <"),
    ] {
        let e = err(text);
        assert_eq!(e.position, position, "{text}: {e}");
        assert!(e.message.starts_with(start), "{text}: {e}");
    }
}
