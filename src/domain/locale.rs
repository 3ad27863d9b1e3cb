//! The languages pages and mails are shown in, and the choice of one from `Accept-Language`.

use std::fmt;

/// A locale the service ships a catalogue for. Anything a visitor sends (a form field, a header,
/// a stored value) becomes one of these or nothing, so no other string can reach a catalogue
/// look-up or a template path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Locale {
    En,
    De,
    Fr,
    Es,
}

impl Locale {
    /// Every shipped locale, in the order the language selects list them.
    pub const ALL: [Locale; 4] = [Locale::En, Locale::De, Locale::Fr, Locale::Es];

    /// The language tag: `en`, `de`, `fr`, `es`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
            Locale::Fr => "fr",
            Locale::Es => "es",
        }
    }

    /// The language's own name, as a language select shows it.
    pub const fn native_name(self) -> &'static str {
        match self {
            Locale::En => "English",
            Locale::De => "Deutsch",
            Locale::Fr => "Français",
            Locale::Es => "Español",
        }
    }

    /// Index into per-locale tables (`0..ALL.len()`).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A shipped locale from a language tag: the primary subtag decides (`de-AT` → `de`),
    /// case-insensitively. Anything else (an unshipped language, `../../etc`, an empty string)
    /// is `None`: the caller falls back to the configured default.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Self::ALL.into_iter().find(|l| primary.eq_ignore_ascii_case(l.as_str()))
    }

    /// The visitor's preferred shipped locale from an `Accept-Language` header: the highest
    /// `q` wins, ties go to the earlier range, `q=0` excludes. Bounded: only the first
    /// [`MAX_HEADER_BYTES`] bytes and [`MAX_RANGES`] ranges are read, so a 10 kB header costs
    /// the same as a short one. `*` and unshipped languages match nothing; `None` means "use
    /// the default".
    pub fn negotiate(accept_language: &str) -> Option<Self> {
        let header = match accept_language.get(..MAX_HEADER_BYTES) {
            Some(head) => head,
            // Cut on a character boundary (the header should be ASCII, but need not be).
            None if accept_language.len() > MAX_HEADER_BYTES => {
                let mut end = MAX_HEADER_BYTES;
                while !accept_language.is_char_boundary(end) {
                    end -= 1;
                }
                &accept_language[..end]
            }
            None => accept_language,
        };
        let mut best: Option<(Self, u16)> = None;
        for range in header.split(',').take(MAX_RANGES) {
            let mut parts = range.split(';');
            let Some(locale) = parts.next().and_then(Self::parse) else { continue };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .map_or(Some(1000), parse_q);
            let Some(q) = q else { continue };
            if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((locale, q));
            }
        }
        best.map(|(locale, _)| locale)
    }
}

/// At most this many bytes of `Accept-Language` are read; real browsers send well under 200.
pub const MAX_HEADER_BYTES: usize = 1024;
/// At most this many language ranges are read.
pub const MAX_RANGES: usize = 16;

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when it is not one (RFC 9110 12.4.2).
fn parse_q(raw: &str) -> Option<u16> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, digit) in fraction.bytes().chain(std::iter::repeat(b'0')).take(3).enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    if whole == 1000 && thousandths > 0 {
        return None;
    }
    Some(whole + thousandths)
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Locale> for &'static str {
    fn from(locale: Locale) -> Self {
        locale.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shipped_locales_parse() {
        assert_eq!(Locale::parse("de"), Some(Locale::De));
        assert_eq!(Locale::parse("de-AT"), Some(Locale::De));
        assert_eq!(Locale::parse("FR-ca"), Some(Locale::Fr));
        assert_eq!(Locale::parse("es_MX"), Some(Locale::Es));
        assert_eq!(Locale::parse("../../etc"), None);
        assert_eq!(Locale::parse("it"), None);
        assert_eq!(Locale::parse(""), None);
        assert_eq!(Locale::parse("deu"), None);
    }

    #[test]
    fn accept_language_respects_q_values() {
        assert_eq!(Locale::negotiate("de-DE,de;q=0.9,en;q=0.8"), Some(Locale::De));
        assert_eq!(Locale::negotiate("it, fr;q=0.5, en;q=0.7"), Some(Locale::En));
        assert_eq!(Locale::negotiate("en;q=0, es"), Some(Locale::Es));
        assert_eq!(Locale::negotiate("es;q=0.3, fr;q=0.3"), Some(Locale::Es));
        assert_eq!(Locale::negotiate("fr;q=1.0"), Some(Locale::Fr));
        assert_eq!(Locale::negotiate("fr;q=2, de;q=abc, es;q=0.001"), Some(Locale::Es));
        assert_eq!(Locale::negotiate("*"), None);
        assert_eq!(Locale::negotiate("it-IT, ja"), None);
        assert_eq!(Locale::negotiate(""), None);
    }

    #[test]
    fn accept_language_reads_a_bounded_prefix() {
        // 500 ranges: only the first 16 count, so a `de` at the end is not seen.
        let many = format!("{}de", "it;q=0.5,".repeat(500));
        assert_eq!(Locale::negotiate(&many), None);
        let long = format!("{}, fr", "x".repeat(10_000));
        assert_eq!(Locale::negotiate(&long), None);
        let multibyte = "é".repeat(5_000);
        assert_eq!(Locale::negotiate(&multibyte), None);
        assert_eq!(Locale::negotiate(&format!("fr,{}", "é".repeat(5_000))), Some(Locale::Fr));
    }
}
