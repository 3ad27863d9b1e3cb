/// A subscriber's display name: trimmed, at most [`SubscriberName::MAX_CHARS`] characters, no
/// control characters (so it can never break a header line), and no links (a signup form that
/// mails whatever name it is given is a spam relay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("Your name can be at most 100 characters long.")]
    TooLong,
    #[error("Your name contains characters we can't accept (such as line breaks).")]
    ControlCharacters,
    #[error("Your name can't contain a web address or domain name (such as example.com).")]
    ContainsLink,
}

impl SubscriberName {
    pub const MAX_CHARS: usize = 100;

    /// An empty or blank name is no name: `Ok(None)`.
    pub fn parse(input: &str) -> Result<Option<Self>, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(NameError::TooLong);
        }
        // Bidi overrides and other format characters (Unicode Cf) can disguise text, so they go too.
        if trimmed.chars().any(|c| c.is_control() || is_format_char(c)) {
            return Err(NameError::ControlCharacters);
        }
        if contains_link(trimmed) {
            return Err(NameError::ContainsLink);
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL (`://`, a word starting `www.` and going on) or anything shaped like a domain: letters
/// or digits, a dot, then at least two letters, as in `evil.com`, `evil.com/x` or `a.b.co`.
/// Initials and titles (`J. R. R. Tolkien`, `Dr. Jane Doe`, `St. John`) have a space or the end
/// after their dot, so they pass; `Jane.Doe` does not, which is the price of refusing `evil.com`.
/// `www.` counts only where a word starts and something follows the dot, so `www.1x` is refused
/// and a name ending in `…www.` (`Awww.`) is not. Full-width and ideographic dots count as dots
/// (browsers accept them in domain names).
fn contains_link(name: &str) -> bool {
    let lower = name.to_lowercase();
    if lower.contains("://") {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    let is_dot = |c: char| matches!(c, '.' | '\u{3002}' | '\u{FF0E}' | '\u{FF61}');
    let starts_word = |i: usize| i == 0 || !chars[i - 1].is_alphanumeric();
    let www_host = chars
        .windows(5)
        .enumerate()
        .any(|(i, w)| starts_word(i) && w[..3] == ['w', 'w', 'w'] && is_dot(w[3]) && w[4].is_alphanumeric());
    www_host
        || chars.iter().enumerate().any(|(i, &c)| {
            let tld_after = chars.get(i + 1..i + 3).is_some_and(|two| two.iter().all(|c| c.is_alphabetic()));
            is_dot(c) && !starts_word(i) && tld_after
        })
}

fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

impl AsRef<str> for SubscriberName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn blank_is_no_name() {
        assert_eq!(SubscriberName::parse("   "), Ok(None));
    }

    #[test]
    fn keeps_ordinary_names_including_non_ascii() {
        for name in [
            "Ada Lovelace",
            "Zoë O'Brien-Smith",
            "李小龙",
            "<b>Bob</b> & co",
            "J. R. R. Tolkien",
            "Dr. Jane Doe",
            "St. John",
            "Martin Luther King Jr.",
            "A.J. Smith",
            "Mr. T",
            "Awww.",
            "Awww. Bob",
            "Www. Smith",
        ] {
            assert_eq!(SubscriberName::parse(name).unwrap().unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_header_injection_and_links() {
        assert_eq!(SubscriberName::parse("Ada\r\nBcc: x@example.com"), Err(NameError::ControlCharacters));
        assert_eq!(SubscriberName::parse("Ada\u{202E}"), Err(NameError::ControlCharacters));
        assert_eq!(SubscriberName::parse("win at https://spam.example"), Err(NameError::ContainsLink));
        assert_eq!(SubscriberName::parse(&"a".repeat(101)), Err(NameError::TooLong));
    }

    #[test]
    fn refuses_bare_domains_and_urls() {
        for name in [
            "Claim at evil.com/prize",
            "evil.com",
            "Visit EVIL.COM now",
            "win.big.example",
            "www.evil",
            "see www.1x",
            "WWW.EVIL",
            "http://x",
            "bob@evil.ru",
            "cheap meds at pharmacy.xyz!",
            "例子。中国",
            "evil．com",
        ] {
            assert_eq!(SubscriberName::parse(name), Err(NameError::ContainsLink), "{name}");
        }
    }

    proptest! {
        #[test]
        fn any_domain_shaped_token_is_refused(
            before in "[A-Za-z ]{0,20}",
            label in "[a-z0-9]{1,20}",
            tld in "[a-zA-Z]{2,10}",
            after in "(/[a-z0-9]{0,10})?( [A-Za-z]{0,10})?",
        ) {
            let name = format!("{before}{label}.{tld}{after}");
            prop_assert_eq!(SubscriberName::parse(&name), Err(NameError::ContainsLink));
        }

        #[test]
        fn names_with_initials_pass(parts in proptest::collection::vec("[A-Z]\\.|[A-Z][a-z]{1,10}\\.?", 1..5)) {
            let name = parts.join(" ");
            prop_assert_eq!(SubscriberName::parse(&name).map(|n| n.map(|n| n.as_str().to_owned())), Ok(Some(name.clone())));
        }

        #[test]
        fn never_panics_and_output_is_safe_in_a_header(input in ".{0,150}") {
            if let Ok(Some(name)) = SubscriberName::parse(&input) {
                prop_assert!(!name.as_str().chars().any(char::is_control));
                prop_assert!(name.as_str().chars().count() <= SubscriberName::MAX_CHARS);
                prop_assert_eq!(name.as_str(), name.as_str().trim());
            }
        }
    }
}
