//! Text from outside that ends up in a mail header, a web page or an operator's terminal:
//! control characters go. An escape sequence in a feed title would otherwise recolour or retitle
//! the terminal of whoever runs `broadsheet articles list`, and a bell would ring in it.

/// One line (a title, a subject): every control character goes (C0, DEL and C1), and so do the
/// invisible format characters that can reorder or hide text (bidi overrides, zero-width
/// characters); tabs and line breaks become spaces.
pub fn single_line(input: &str) -> String {
    input
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() || is_format_char(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Several lines (a summary, a body): line feeds and tabs stay, carriage returns and every other
/// control character go.
pub fn multi_line(input: &str) -> String {
    input.chars().filter(|&c| c == '\n' || c == '\t' || !c.is_control()).collect()
}

/// Unicode format characters (Cf) that disguise text: bidi controls, zero-width characters.
pub fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escape_sequences_bells_and_overrides_go() {
        assert_eq!(single_line("Red \u{1b}[31malert\u{7}\u{202E}!"), "Red [31malert!");
        assert_eq!(single_line("a\r\nb\tc\u{85}d"), "a  b cd");
        assert_eq!(multi_line("one\r\ntwo\tthree\u{1b}[0m\u{0}"), "one\ntwo\tthree[0m");
        assert_eq!(single_line("Zoë – 李"), "Zoë – 李");
    }

    proptest! {
        #[test]
        fn nothing_a_terminal_acts_on_survives(input in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f a-z]{0,40}") {
            prop_assert!(!single_line(&input).chars().any(|c| c.is_control() || is_format_char(c)));
            prop_assert!(!multi_line(&input).chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
}
