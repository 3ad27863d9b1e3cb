//! Cells a spreadsheet would run as formulas (CSV injection). Anyone can put text in an export
//! through the public signup form: a name such as `=cmd|' /C calc'!A0`, or an address such as
//! `=1+2@example.com` or `-1@example.com` (RFC 5321 allows both, so they are not refused at
//! signup: refusing them would turn away real addresses, and would protect nothing already stored
//! or imported). So every cell of every export is made inert instead, by OWASP's rule: a cell that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front and is quoted.
//! A cell that starts with `'` gets one more, so that the import can take exactly one away again
//! ([`plain`]) and an exported list comes back as it was.

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula, and `'`, the one that
/// marks a cell we neutralised.
const TRIGGERS: &[u8] = b"=+-@\t\r'";

/// The cell as an export writes it: prefixed with `'` when a spreadsheet would run it.
pub fn neutralised(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b) if TRIGGERS.contains(b) => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// One CSV row of an export, with its line break, appended to `out`: every cell neutralised, and
/// quoted (RFC 4180, quotes doubled) when it was, or when it holds a comma, quote or line break.
pub fn write_row(out: &mut Vec<u8>, cells: &[&str]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let cell = neutralised(cell);
        let quoted = matches!(cell, Cow::Owned(_)) || cell.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
        if quoted {
            out.push(b'"');
            out.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.push(b'\n');
}

/// A cell of an import file as it was before an export neutralised it: one leading `'` taken
/// away where a trigger follows it. A file written by hand with such a cell loses that quote too;
/// no address or name needs one there.
pub fn plain(cell: &[u8]) -> &[u8] {
    match cell {
        [b'\'', next, ..] if TRIGGERS.contains(next) => &cell[1..],
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> String {
        let mut out = Vec::new();
        write_row(&mut out, cells);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formula_cells_are_prefixed_and_quoted_and_others_left_alone() {
        assert_eq!(
            row(&["=1+2@example.com", "=cmd|' /C calc'!A0", "confirmed", "2026-01-01T00:00:00+00:00"]),
            "\"'=1+2@example.com\",\"'=cmd|' /C calc'!A0\",confirmed,2026-01-01T00:00:00+00:00\n"
        );
        assert_eq!(row(&["+a", "-b", "@c", "\td", "\re"]), "\"'+a\",\"'-b\",\"'@c\",\"'\td\",\"'\re\"\n");
        assert_eq!(row(&["'=x", "'quoted'"]), "\"''=x\",\"''quoted'\"\n");
        assert_eq!(
            row(&["ann@example.com", "Ann, \"the\" first", "", "a=b"]),
            "ann@example.com,\"Ann, \"\"the\"\" first\",,a=b\n"
        );
    }

    #[test]
    fn the_import_takes_away_exactly_what_the_export_added() {
        for cell in ["=1+2", "-1@example.com", "+x", "@x", "\tx", "\rx", "'=x", "''", "'", "plain", "", "it's"] {
            assert_eq!(plain(neutralised(cell).as_bytes()), cell.as_bytes(), "{cell:?}");
        }
        assert_eq!(plain(b"'quote"), b"'quote");
    }
}
