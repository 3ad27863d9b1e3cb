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
    #[error("Your name can't contain a web address.")]
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
        let lower = trimmed.to_lowercase();
        if lower.contains("://") || lower.contains("www.") {
            return Err(NameError::ContainsLink);
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
        for name in ["Ada Lovelace", "Zoë O'Brien-Smith", "李小龙", "<b>Bob</b> & co"] {
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

    proptest! {
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
