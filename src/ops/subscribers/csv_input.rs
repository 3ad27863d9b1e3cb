//! Reading an import file: a header row naming the columns (`email` required; `name`,
//! `created_at`, `status`, `lists` optional; every other column an attribute, `attributes` a JSON
//! object of them as an export writes it), UTF-8 with or without a byte-order mark,
//! commas or semicolons (whichever the header uses more), quoted fields. Every row is checked
//! here and turned into a line of CSV for `COPY`; a bad row becomes a report of its line number
//! and what is wrong, never its address.

use std::io::{self, BufRead, BufReader, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::ImportError;
use super::spreadsheet;
use crate::domain::{Attributes, EmailError, SubscriberEmail, SubscriberName, SubscriberStatus, is_attribute_key};

/// No legitimate row comes near this; a file with longer ones is not a subscriber list, and
/// reading it must not take memory in proportion to it.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Bad lines reported in full; past this they are only counted.
pub const MAX_REPORTED: usize = 1000;
/// COPY data is sent in chunks of about this size.
const CHUNK_BYTES: usize = 256 * 1024;

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InvalidLine {
    pub line: u64,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    /// The first [`MAX_REPORTED`] bad lines.
    pub invalid: Vec<InvalidLine>,
    pub invalid_count: u64,
    pub rows: u64,
}

/// Reads `input` to its end, sending the good rows as COPY CSV chunks through `send` (which
/// returns false when the receiver is gone). Runs on a blocking thread.
pub fn parse(input: Box<dyn Read + Send>, mut send: impl FnMut(Vec<u8>) -> bool) -> Result<Parsed, ImportError> {
    let mut reader = BufReader::with_capacity(64 * 1024, Limited::new(LineEnds::new(input)));
    let delimiter = sniff(&mut reader)?;
    let mut csv = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(reader);
    let headers = csv.byte_headers().map_err(read_error)?.clone();
    if headers.is_empty() {
        return Err(ImportError::Format(
            "The file is empty: the first line must name the columns, e.g. email,name.".into(),
        ));
    }
    let names: Vec<String> = headers
        .iter()
        .map(|h| std::str::from_utf8(h).map(|s| s.trim().to_ascii_lowercase()))
        .collect::<Result<_, _>>()
        .map_err(|_| ImportError::Format("The header row is not UTF-8 text; save the file as UTF-8 CSV.".into()))?;
    let column = |wanted: &str| names.iter().position(|n| n == wanted);
    let Some(email_at) = column("email") else {
        return Err(ImportError::Format(
            "The header row has no email column; name the columns in the first line, e.g. email,name.".into(),
        ));
    };
    let (name_at, created_at, status_at) = (column("name"), column("created_at"), column("status"));
    let lists_at = column("lists");
    let attribute_columns = attribute_columns(&names)?;

    let mut parsed = Parsed::default();
    let mut out = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::with_capacity(CHUNK_BYTES + 1024));
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(read_error(e)),
        }
        let line = record.position().map_or(0, csv::Position::line);
        // A cell that an export neutralised against spreadsheet formulas comes back as it was.
        let field = |at: Option<usize>| spreadsheet::plain(at.and_then(|i| record.get(i)).unwrap_or(b""));
        let checked = check_row(field(Some(email_at)), field(name_at), field(created_at), field(status_at))
            .and_then(|row| Ok((row, row_attributes(&attribute_columns, |i| field(Some(i)))?)));
        match checked {
            Ok((row, attributes)) => {
                parsed.rows += 1;
                let created = row.created_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                let status = row.status.map(SubscriberStatus::as_str).unwrap_or_default();
                let line = line.to_string();
                let lists = lists_cell(field(lists_at));
                out.write_record([
                    line.as_str(),
                    row.email.as_str(),
                    row.name.as_ref().map_or("", SubscriberName::as_str),
                    created.as_str(),
                    status,
                    lists.as_str(),
                    attributes.as_deref().unwrap_or(""),
                ])
                .map_err(|e| ImportError::Internal(e.into()))?;
            }
            Err(error) => {
                parsed.invalid_count += 1;
                if parsed.invalid.len() < MAX_REPORTED {
                    parsed.invalid.push(InvalidLine { line, error });
                }
            }
        }
        if out.get_ref().len() >= CHUNK_BYTES {
            let chunk =
                std::mem::replace(&mut out, csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new()));
            let bytes = chunk.into_inner().map_err(|e| ImportError::Internal(anyhow::anyhow!("{e}")))?;
            if !send(bytes) {
                return Err(ImportError::Internal(anyhow::anyhow!("the import was stopped")));
            }
        }
    }
    let bytes = out.into_inner().map_err(|e| ImportError::Internal(anyhow::anyhow!("{e}")))?;
    if !bytes.is_empty() && !send(bytes) {
        return Err(ImportError::Internal(anyhow::anyhow!("the import was stopped")));
    }
    Ok(parsed)
}

/// A row's `lists` cell as staged: the slugs it names (`a|b`), trimmed and lower-cased; empty
/// when it names none, and the import's lists apply. Whether they exist is checked for the whole
/// file at once, in the database (`store::imports::unknown_list`).
fn lists_cell(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split('|')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

/// A column that becomes attributes: one named attribute, or an export's JSON object of them.
enum AttributeColumn {
    Key(usize, String),
    Json(usize),
}

/// Columns other than the ones the import reads itself. A header is turned into a key as a
/// person would expect (`Shoe size` → `shoe_size`); one that still cannot be a key refuses the
/// file, naming it, before any row is read.
fn attribute_columns(names: &[String]) -> Result<Vec<AttributeColumn>, ImportError> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match name.as_str() {
            "email" | "name" | "created_at" | "status" | "lists" | "" => {}
            "attributes" => out.push(AttributeColumn::Json(i)),
            other => {
                let key = other.replace([' ', '-'], "_");
                if !is_attribute_key(&key) {
                    let shown: String = other.chars().take(60).collect();
                    return Err(ImportError::Format(format!(
                        "The column {shown:?} cannot become an attribute: name it with at most {} lower-case letters, digits or _, starting with a letter (such as plan or signup_source).",
                        Attributes::MAX_KEY_CHARS
                    )));
                }
                out.push(AttributeColumn::Key(i, key));
            }
        }
    }
    Ok(out)
}

/// A row's attributes as checked JSON, `None` when it has none (empty cells are no attribute).
fn row_attributes<'a>(columns: &[AttributeColumn], cell: impl Fn(usize) -> &'a [u8]) -> Result<Option<String>, String> {
    let mut map = serde_json::Map::new();
    for column in columns {
        match column {
            AttributeColumn::Json(i) => {
                let text = std::str::from_utf8(cell(*i)).map_err(|_| "attributes: not UTF-8 text".to_owned())?.trim();
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(serde_json::Value::Object(object)) => map.extend(object),
                    _ => return Err("attributes must be a JSON object, such as {\"plan\": \"pro\"}".to_owned()),
                }
            }
            AttributeColumn::Key(i, key) => {
                let text = std::str::from_utf8(cell(*i)).map_err(|_| format!("{key}: not UTF-8 text"))?;
                if !text.is_empty() {
                    map.insert(key.clone(), serde_json::Value::String(text.to_owned()));
                }
            }
        }
    }
    if map.is_empty() {
        return Ok(None);
    }
    let attributes =
        Attributes::parse(serde_json::Value::Object(map)).map_err(|e| format!("attributes: {}", e.message))?;
    Ok(Some(attributes.to_json()))
}

struct Row {
    email: SubscriberEmail,
    name: Option<SubscriberName>,
    created_at: Option<DateTime<Utc>>,
    status: Option<SubscriberStatus>,
}

/// One row's fields; the error names what is wrong and never repeats the value.
fn check_row(email: &[u8], name: &[u8], created_at: &[u8], status: &[u8]) -> Result<Row, String> {
    fn text<'a>(bytes: &'a [u8], column: &str) -> Result<&'a str, String> {
        std::str::from_utf8(bytes).map_err(|_| format!("the {column} is not UTF-8 text; save the file as UTF-8 CSV"))
    }
    let email = SubscriberEmail::parse(text(email, "email")?).map_err(|e| match e {
        EmailError::Empty => "no email address".to_owned(),
        EmailError::TooLong => "the email address is longer than 254 characters".to_owned(),
        EmailError::Invalid => "not a valid email address".to_owned(),
    })?;
    let name = SubscriberName::parse(text(name, "name")?).map_err(|e| format!("name: {e}"))?;
    let created_at = parse_time(text(created_at, "created_at")?)?;
    let status = match text(status, "status")?.trim() {
        "" => None,
        s => Some(
            serde_json::from_value::<SubscriberStatus>(serde_json::Value::String(s.to_ascii_lowercase()))
                .map_err(|_| "status must be pending, confirmed, unsubscribed, bounced or complained".to_owned())?,
        ),
    };
    Ok(Row { email, name, created_at, status })
}

/// RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or a date, from 1970 to a day from now.
///
/// The range is checked here, with the line, because chrono reads times Postgres cannot store
/// (`0000-01-01`: Postgres has no year 0; `9999-12-31T23:59:59-23:59` is in the year 10000 in
/// UTC), and the `COPY` failing on one of them failed the whole import with a 500 and no line
/// number. Nobody subscribed to a mailing list before 1970, and a signup more than a day in the
/// future (a day leaves room for time zones and clocks) is a mistake in the file; both would also
/// put the person at either end of every list sorted by age.
fn parse_time(raw: &str) -> Result<Option<DateTime<Utc>>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let parsed = if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        t.with_timezone(&Utc)
    } else if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S") {
        t.and_utc()
    } else if let Some(t) = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
        t.and_utc()
    } else {
        return Err("created_at must be a time such as 2026-01-31T09:00:00Z or a date such as 2026-01-31".to_owned());
    };
    if parsed < DateTime::UNIX_EPOCH {
        return Err("created_at is before 1970; a signup time must be from 1970 to today".to_owned());
    }
    if parsed > Utc::now() + chrono::TimeDelta::days(1) {
        return Err("created_at is in the future; a signup time must be from 1970 to today".to_owned());
    }
    Ok(Some(parsed))
}

/// Skips a UTF-8 byte-order mark and chooses the delimiter the header row uses more of.
fn sniff(reader: &mut impl BufRead) -> Result<u8, ImportError> {
    let buffer = reader.fill_buf().map_err(io_error)?;
    let bom = buffer.starts_with(b"\xEF\xBB\xBF");
    let start = if bom { 3 } else { 0 };
    let header = &buffer[start..];
    let header = &header[..header.iter().position(|&b| b == b'\n').unwrap_or(header.len())];
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for &b in header {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    reader.consume(start);
    Ok(if semicolons > commas { b';' } else { b',' })
}

fn read_error(e: csv::Error) -> ImportError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => io_error(e),
        other => ImportError::Format(format!("The file could not be read as CSV: {other:?}")),
    }
}

fn io_error(e: io::Error) -> ImportError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<TooLong>()) {
        Some(TooLong(line)) => ImportError::Format(format!(
            "Line {line} is longer than {} KiB (or opens a quote that never closes); is this a CSV list of addresses?",
            MAX_RECORD_BYTES / 1024
        )),
        None => ImportError::Format(format!("The file could not be read: {e}")),
    }
}

/// Reads CR, LF and CRLF line endings alike, as LF: Excel's "CSV (Macintosh)" ends lines with
/// CR alone, and [`Limited`] (and the line numbers in the report) must see them as lines, or a
/// long list would be one line too long to read. A CR inside a quoted field becomes LF too; no
/// address or name may hold either.
struct LineEnds<R> {
    inner: R,
    /// The last byte read was a CR (given out as LF): an LF right after it is the same break.
    after_cr: bool,
}

impl<R> LineEnds<R> {
    fn new(inner: R) -> Self {
        Self { inner, after_cr: false }
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            let mut kept = 0;
            for i in 0..n {
                let b = buf[i];
                let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
                if b == b'\n' && after_cr {
                    continue;
                }
                buf[kept] = if b == b'\r' { b'\n' } else { b };
                kept += 1;
            }
            // A read that was all the LF of a CRLF is not the end of the file.
            if kept > 0 || n == 0 {
                return Ok(kept);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("record too long at line {0}")]
struct TooLong(u64);

/// Refuses a record (a line, or several inside a quoted field) longer than
/// [`MAX_RECORD_BYTES`], before the CSV reader would buffer it whole.
struct Limited<R> {
    inner: R,
    in_quotes: bool,
    since_break: usize,
    line: u64,
}

impl<R> Limited<R> {
    fn new(inner: R) -> Self {
        Self { inner, in_quotes: false, since_break: 0, line: 1 }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' => {
                    self.line += 1;
                    if !self.in_quotes {
                        self.since_break = 0;
                        continue;
                    }
                }
                _ => {}
            }
            self.since_break += 1;
            if self.since_break > MAX_RECORD_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, TooLong(self.line)));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &[u8]) -> (Result<Parsed, ImportError>, String) {
        let mut copied = Vec::new();
        let result = parse(Box::new(io::Cursor::new(text.to_vec())), |chunk| {
            copied.extend(chunk);
            true
        });
        (result, String::from_utf8(copied).unwrap())
    }

    #[test]
    fn a_lists_column_is_staged_as_lower_case_slugs() {
        let (parsed, copied) = run(b"email,lists\na@example.com, Weekly | news|\nb@example.com,\n");
        assert_eq!(parsed.unwrap().rows, 2);
        assert_eq!(copied, "2,a@example.com,,,,weekly|news,\n3,b@example.com,,,,,\n");
    }

    #[test]
    fn reads_semicolons_quotes_and_a_byte_order_mark() {
        // `E-mail` is not `email`: an attribute like any other column.
        let (parsed, copied) = run(b"\xEF\xBB\xBFName;E-mail;EMAIL\n\"Doe; Jane\";x;jane@example.com\n");
        let parsed = parsed.unwrap();
        assert_eq!(parsed.rows, 1);
        assert_eq!(copied, "2,jane@example.com,Doe; Jane,,,,\"{\"\"e_mail\"\":\"\"x\"\"}\"\n");
    }

    #[test]
    fn reports_bad_lines_by_number_without_the_address() {
        let (parsed, _) = run(b"email,name,created_at\nnot-an-address,,\nok@example.com,,yesterday\n\xff@x.com,,\n");
        let parsed = parsed.unwrap();
        assert_eq!(parsed.rows, 0);
        let lines: Vec<u64> = parsed.invalid.iter().map(|i| i.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(parsed.invalid.iter().all(|i| !i.error.contains("not-an-address") && !i.error.contains("ok@")));
    }

    #[test]
    fn reads_cr_lf_and_crlf_line_endings_alike() {
        for end in ["\r", "\n", "\r\n"] {
            let text = ["email,name", "ann@example.com,Ann", "nope,x", "bea@example.com,\"Bea\""].join(end) + end;
            let (parsed, copied) = run(text.as_bytes());
            let parsed = parsed.unwrap();
            assert_eq!(parsed.rows, 2, "{end:?}");
            assert_eq!(parsed.invalid, [InvalidLine { line: 3, error: "not a valid email address".into() }], "{end:?}");
            assert_eq!(copied, "2,ann@example.com,Ann,,,,\n4,bea@example.com,Bea,,,,\n", "{end:?}");
        }
        // A CRLF split between two reads is still one line break.
        let mut ends = LineEnds::new(io::Cursor::new(b"a\r\nb\r".to_vec()));
        let mut out = Vec::new();
        let mut one = [0u8; 1];
        while ends.read(&mut one).unwrap() == 1 {
            out.push(one[0]);
        }
        assert_eq!(out, b"a\nb\n");
    }

    #[test]
    fn signup_times_postgres_cannot_store_or_nobody_had_are_that_lines_error() {
        let (parsed, copied) =
            run(b"email,created_at\na@example.com,0000-01-01\nb@example.com,9999-12-31T23:59:59-23:59\n\
              c@example.com,1969-12-31T23:59:59Z\nd@example.com,1970-01-01\n");
        let parsed = parsed.unwrap();
        let lines: Vec<(u64, &str)> = parsed.invalid.iter().map(|i| (i.line, i.error.as_str())).collect();
        assert_eq!(
            lines,
            [
                (2, "created_at is before 1970; a signup time must be from 1970 to today"),
                (3, "created_at is in the future; a signup time must be from 1970 to today"),
                (4, "created_at is before 1970; a signup time must be from 1970 to today"),
            ]
        );
        assert_eq!(copied, "5,d@example.com,,1970-01-01T00:00:00+00:00,,,\n");
        let tomorrow = (Utc::now() + chrono::TimeDelta::hours(23)).to_rfc3339();
        assert_eq!(parse_time(&tomorrow).unwrap().map(|t| t.to_rfc3339()), Some(tomorrow));
    }

    #[test]
    fn cells_an_export_neutralised_come_back_as_they_were() {
        let (parsed, copied) =
            run(b"email,name\n\"'=1+2@example.com\",\"'=cmd|' /C calc'!A0\"\n\"'-1@example.com\",''Twas\n");
        assert_eq!(parsed.unwrap().rows, 2);
        assert_eq!(copied, "2,=1+2@example.com,=cmd|' /C calc'!A0,,,,\n3,-1@example.com,'Twas,,,,\n");
    }

    #[test]
    fn refuses_a_file_without_an_email_column_or_with_a_giant_line() {
        assert!(
            matches!(run(b"name,mail\nx,y@z.com\n").0, Err(ImportError::Format(m)) if m.contains("no email column"))
        );
        let mut giant = b"email\n".to_vec();
        giant.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
        assert!(matches!(run(&giant).0, Err(ImportError::Format(m)) if m.contains("Line 2 is longer")));
        assert!(matches!(run(b"").0, Err(ImportError::Format(_))));
    }
}
