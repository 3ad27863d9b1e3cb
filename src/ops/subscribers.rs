//! Subscribers in and out, shared by the CLI, the admin API and the console: import a list, add
//! one address, export, show everything held about a person, erase them.
//!
//! Import and add follow one set of rules: an existing subscriber is never changed, an address
//! that unsubscribed, bounced or complained (or was erased after doing so) is never added back,
//! a new address is `pending` with a confirmation mail queued in the same transaction unless
//! the operator vouches for the person's consent (`confirmed` with a note).

mod csv_input;
mod spreadsheet;

use std::io::Read;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use utoipa::ToSchema;
use uuid::Uuid;

pub use self::csv_input::{InvalidLine, MAX_RECORD_BYTES, MAX_REPORTED};
use super::OpsError;
use crate::domain::{Attributes, Locale, SubscriberEmail, SubscriberName, SubscriberStatus};
use crate::store::bounces::{self, BounceRecord};
use crate::store::imports;
use crate::store::lists::{self, Membership};
use crate::store::subscribers::{
    self, Added, ConsentRecord, DeliveryRecord, Erased, ErasureKey, Interface, SubscriberDetail,
};

/// Why an import file was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a list we can read (no header, no email column, not CSV); nothing was imported.
    #[error("{0}")]
    Format(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<ImportError> for OpsError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Format(message) => OpsError::invalid("file", message),
            ImportError::Internal(e) => OpsError::Internal(e),
        }
    }
}

/// The operator's word on consent: with `confirmed`, new addresses need no confirmation mail,
/// and the note (where and how the people agreed) is required and kept with each.
#[derive(Debug, Clone)]
pub struct Consent {
    confirmed: bool,
    note: Option<String>,
}

impl Consent {
    pub fn parse(confirmed: bool, note: Option<&str>) -> Result<Self, OpsError> {
        let note = note.map(crate::domain::single_line).map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
            return Err(OpsError::invalid("consent", "Keep the consent note under 1000 characters."));
        }
        if confirmed && note.is_none() {
            return Err(OpsError::invalid(
                "consent",
                "Adding people as confirmed needs a consent note: say where and how they agreed \
                 (e.g. --consent \"signed up at our stand, 2026-11-20\").",
            ));
        }
        Ok(Self { confirmed, note })
    }
}

/// What an import did: `imported N, existing N, skipped N, invalid N`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// New subscribers.
    pub imported: i64,
    /// Already subscribers (pending or confirmed); left as they are.
    pub existing: i64,
    /// Not added: unsubscribed, bounced, complained or erased-and-suppressed addresses, and
    /// repeats of an address earlier in the file.
    pub skipped: i64,
    /// The bad lines, each with its number and what is wrong (the first 1000).
    pub invalid: Vec<InvalidLine>,
    /// How many lines were bad in all.
    pub invalid_count: u64,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "imported {}, existing {}, skipped {}, invalid {}",
            self.imported, self.existing, self.skipped, self.invalid_count
        )
    }
}

/// Imports a CSV list in one transaction: every good row is streamed with `COPY` into a staging
/// table, then one statement adds the new ones. A file that cannot be read as a list (or a
/// database error) leaves nothing behind. Memory stays bounded whatever the size of `input`.
/// New subscribers join `lists` (slugs; none: the default list), or the lists their row's `lists`
/// column names (`a|b`); an unknown list anywhere refuses the whole file.
pub async fn import(
    db: &PgPool,
    input: Box<dyn Read + Send>,
    consent: &Consent,
    interface: Interface,
    lists: &[String],
) -> Result<ImportReport, OpsError> {
    let lists: Vec<i32> = super::lists::targets(db, "list", lists, false).await?.iter().map(|l| l.id).collect();
    let mut tx = db.begin().await?;
    let mut copy = imports::stage(&mut tx).await?;
    let (chunks, mut received) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let parser =
        tokio::task::spawn_blocking(move || csv_input::parse(input, |chunk| chunks.blocking_send(chunk).is_ok()));
    let mut failed = None;
    while let Some(chunk) = received.recv().await {
        if let Err(e) = copy.send(chunk).await {
            failed = Some(e);
            break;
        }
    }
    // Lets the parser see that nobody is listening any more, if the copy failed.
    drop(received);
    let parsed = parser.await.map_err(|e| OpsError::Internal(e.into()));
    let parsed = match (parsed, failed) {
        (Ok(Ok(parsed)), None) => parsed,
        (Ok(Err(e)), _) => {
            copy.abort("the file was refused").await.ok();
            return Err(e.into());
        }
        (_, Some(e)) => {
            copy.abort("the copy failed").await.ok();
            return Err(e.into());
        }
        (Err(e), None) => {
            copy.abort("the parser failed").await.ok();
            return Err(e);
        }
    };
    copy.finish().await?;
    // A row naming a list that does not exist stops the whole import: the operator fixes the
    // file (or creates the list) and runs it again, rather than finding half of it joined.
    if let Some(slug) = imports::unknown_list(&mut tx).await? {
        return Err(OpsError::invalid(
            "lists",
            format!("The lists column names {slug}, and there is no list called {slug}; nothing was imported."),
        ));
    }
    let applied = imports::apply(&mut tx, consent.confirmed, consent.note.as_deref(), interface, &lists).await?;
    tx.commit().await?;
    tracing::info!(
        rows = parsed.rows,
        imported = applied.imported,
        existing = applied.existing,
        skipped = applied.skipped,
        invalid = parsed.invalid_count,
        ?interface,
        "subscribers imported"
    );
    Ok(ImportReport {
        imported: applied.imported,
        existing: applied.existing,
        skipped: applied.skipped,
        invalid: parsed.invalid,
        invalid_count: parsed.invalid_count,
    })
}

/// A subscriber an operator added.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddedSubscriber {
    pub id: Uuid,
    pub status: SubscriberStatus,
}

/// One address, by the import's rules, joining `lists` (slugs; none: the default list). An
/// existing subscriber or a suppressed address is a conflict, and changes nothing.
pub async fn add(
    db: &PgPool,
    email: &str,
    name: Option<&str>,
    consent: &Consent,
    interface: Interface,
    lists: &[String],
    attributes: Option<serde_json::Value>,
) -> Result<AddedSubscriber, OpsError> {
    let email = SubscriberEmail::parse(email).map_err(|e| OpsError::invalid("email", e.to_string()))?;
    let name = SubscriberName::parse(name.unwrap_or("")).map_err(|e| OpsError::invalid("name", e.to_string()))?;
    let attributes = attributes.map(Attributes::parse).transpose()?;
    let lists: Vec<i32> = super::lists::targets(db, "lists", lists, false).await?.iter().map(|l| l.id).collect();
    let status = if consent.confirmed { SubscriberStatus::Confirmed } else { SubscriberStatus::Pending };
    let mut conn = db.acquire().await?;
    let note = consent.note.as_deref();
    match subscribers::add_one(&mut conn, &email, name.as_ref(), status, note, interface, &lists, attributes.as_ref())
        .await?
    {
        Added::New { id, status } => {
            tracing::info!(subscriber = %id, status = status.as_str(), ?interface, "subscriber added");
            Ok(AddedSubscriber { id, status })
        }
        Added::Exists => Err(OpsError::Conflict("This address is already a subscriber; nothing was changed.".into())),
        Added::Suppressed => Err(OpsError::Conflict(
            "This address was erased after it unsubscribed, bounced or complained; it cannot be added again.".into(),
        )),
    }
}

/// Subscribers read from the database at a time by an export: a page in memory is a few
/// hundred kilobytes, and a connection is held only while one is read.
const EXPORT_PAGE: i64 = 2000;

/// Writes the subscribers (of one status) as CSV with a header row
/// (`email,name,status,created_at,attributes`, the last a JSON object),
/// every cell neutralised against spreadsheet formulas ([`spreadsheet`]), a page at a time: memory
/// stays constant however long the list, and no database connection is held while `out` waits
/// for its reader. With `stall`, a reader that takes nothing for that long ends the export with
/// an error (HTTP: the client's pace must not hold an export's place for ever). Returns the rows.
pub async fn export<W: AsyncWrite + Unpin>(
    db: &PgPool,
    list: Option<i32>,
    status: Option<SubscriberStatus>,
    mut out: W,
    stall: Option<Duration>,
) -> Result<u64, OpsError> {
    let mut chunk = Vec::with_capacity(256 * 1024);
    spreadsheet::write_row(&mut chunk, &["email", "name", "status", "created_at", "lists", "attributes"]);
    let mut after = None;
    let mut count = 0;
    loop {
        let rows = subscribers::export_page(db, list, status, after, EXPORT_PAGE).await?;
        for row in &rows {
            let created = row.created_at.to_rfc3339();
            let cells = [
                row.email.as_str(),
                row.name.as_deref().unwrap_or(""),
                row.status.as_str(),
                created.as_str(),
                row.lists.as_str(),
                row.attributes.as_str(),
            ];
            spreadsheet::write_row(&mut chunk, &cells);
        }
        count += rows.len() as u64;
        write_chunk(&mut out, &chunk, stall).await?;
        chunk.clear();
        match rows.last() {
            Some(last) if rows.len() as i64 == EXPORT_PAGE => after = Some(last.id),
            _ => break,
        }
    }
    out.flush().await.map_err(|e| OpsError::Internal(e.into()))?;
    Ok(count)
}

async fn write_chunk<W: AsyncWrite + Unpin>(
    out: &mut W,
    bytes: &[u8],
    stall: Option<Duration>,
) -> Result<(), OpsError> {
    let Some(stall) = stall else {
        return out.write_all(bytes).await.map_err(|e| OpsError::Internal(e.into()));
    };
    // The stall counts from the last byte the reader took, not from the start of the page.
    let mut rest = bytes;
    while !rest.is_empty() {
        match tokio::time::timeout(stall, out.write(rest)).await {
            Ok(Ok(0)) => return Err(OpsError::Internal(anyhow::anyhow!("the reader of the export went away"))),
            Ok(Ok(n)) => rest = &rest[n..],
            Ok(Err(e)) => return Err(OpsError::Internal(e.into())),
            Err(_) => {
                return Err(OpsError::Internal(anyhow::anyhow!(
                    "the reader of the export took nothing for {} s; cut off",
                    stall.as_secs()
                )));
            }
        }
    }
    Ok(())
}

/// Everything held about one person (GDPR article 15): never token hashes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonData {
    pub subscriber: SubscriberDetail,
    /// Every list they are on or were on, with their standing there.
    pub memberships: Vec<Membership>,
    /// Signup, confirmation, unsubscribe, import and additions, oldest first.
    pub consent: Vec<ConsentRecord>,
    /// Every mail, oldest first.
    pub deliveries: Vec<DeliveryRecord>,
    /// Bounces and complaints, newest first: kind, status, diagnostic, source, delivery_id, at.
    #[schema(value_type = Vec<Object>)]
    pub bounces: Vec<BounceRecord>,
    /// The operator's own fields for this person (`{"plan": "pro"}`).
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
}

pub async fn show(db: &PgPool, email: &str) -> Result<PersonData, OpsError> {
    let mut conn = db.acquire().await?;
    let subscriber = subscribers::by_email(&mut conn, lookup_key(email)?).await?.ok_or_else(not_found)?;
    drop(conn);
    data_of(db, subscriber).await
}

/// [`show`] for the person themselves: their preference link names them by id.
pub async fn show_by_id(db: &PgPool, id: Uuid) -> Result<PersonData, OpsError> {
    let mut conn = db.acquire().await?;
    let subscriber = subscribers::by_id(&mut conn, id).await?.ok_or_else(not_found)?;
    drop(conn);
    data_of(db, subscriber).await
}

async fn data_of(db: &PgPool, subscriber: SubscriberDetail) -> Result<PersonData, OpsError> {
    let mut conn = db.acquire().await?;
    let memberships = lists::memberships_of(&mut conn, subscriber.id).await?;
    let consent = subscribers::consent_of(&mut conn, subscriber.id).await?;
    let deliveries = subscribers::deliveries_of(&mut conn, subscriber.id).await?;
    let attributes = subscribers::attributes_of(&mut conn, subscriber.id).await?;
    drop(conn);
    let bounces = bounces::of_subscriber(db, subscriber.id).await?;
    // Stored as checked JSON (an object, by the column's constraint).
    let attributes = serde_json::from_str(&attributes).unwrap_or_default();
    Ok(PersonData { subscriber, memberships, consent, deliveries, bounces, attributes })
}

/// Changes a person's name, attributes and language (each only when given; attributes replace
/// the old ones whole). Nothing is changed when any is refused.
pub async fn update(
    db: &PgPool,
    email: &str,
    name: Option<&str>,
    attributes: Option<serde_json::Value>,
    locale: Option<&str>,
) -> Result<PersonData, OpsError> {
    let locale = match locale {
        None => None,
        Some(raw) => Some(Locale::parse(raw).ok_or_else(|| {
            let shipped: Vec<&str> = Locale::ALL.iter().map(|l| l.as_str()).collect();
            OpsError::invalid("locale", format!("The locale must be one of {}.", shipped.join(", ")))
        })?),
    };
    let name = match name {
        None => None,
        Some(raw) => Some(SubscriberName::parse(raw).map_err(|e| OpsError::invalid("name", e.to_string()))?),
    };
    let attributes = attributes.map(Attributes::parse).transpose()?;
    let key = lookup_key(email)?;
    let found = subscribers::update_profile(
        db,
        key,
        name.as_ref().map(|n| n.as_ref().map(SubscriberName::as_str)),
        attributes.as_ref().map(Attributes::to_json).as_deref(),
        locale.map(Locale::as_str),
    )
    .await?;
    if !found {
        return Err(not_found());
    }
    show(db, key).await
}

/// Right to erasure (GDPR article 17): the subscriber and everything tied to them, in one
/// transaction. Returns whether a hash of the address stays on the suppression list.
pub async fn erase(db: &PgPool, email: &str) -> Result<bool, OpsError> {
    erase_by(db, ErasureKey::Email(lookup_key(email)?)).await
}

/// [`erase`] for the person themselves, named by id (their preference link).
pub async fn erase_by_id(db: &PgPool, id: Uuid) -> Result<bool, OpsError> {
    erase_by(db, ErasureKey::Id(id)).await
}

async fn erase_by(db: &PgPool, key: ErasureKey<'_>) -> Result<bool, OpsError> {
    let mut conn = db.acquire().await?;
    match subscribers::erase_one(&mut conn, key).await? {
        Erased::Done { suppressed } => {
            tracing::info!(suppressed, "subscriber erased");
            Ok(suppressed)
        }
        Erased::NotFound => Err(not_found()),
    }
}

/// An address to look up: no stored address has control characters (Postgres refuses NUL in
/// text outright) or is longer than an address can be.
fn lookup_key(email: &str) -> Result<&str, OpsError> {
    let email = email.trim();
    if email.is_empty() || email.len() > 320 || email.chars().any(char::is_control) {
        return Err(not_found());
    }
    Ok(email)
}

fn not_found() -> OpsError {
    OpsError::NotFound("There is no subscriber with this address.".to_owned())
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;

    use super::*;

    #[tokio::test]
    async fn a_reader_that_takes_nothing_is_cut_off_and_a_slow_one_is_not() {
        let (mut writer, _reader) = tokio::io::duplex(16);
        let stalled = write_chunk(&mut writer, &[b'x'; 200], Some(Duration::from_millis(100))).await;
        assert!(matches!(stalled, Err(OpsError::Internal(e)) if e.to_string().contains("took nothing")));

        // 16 bytes every 20 ms: 260 ms for the lot, longer than the stall, yet never stalled.
        let (mut writer, mut reader) = tokio::io::duplex(16);
        let slow = tokio::spawn(async move {
            let (mut buffer, mut total) = ([0u8; 16], 0);
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match reader.read(&mut buffer).await.unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        write_chunk(&mut writer, &[b'x'; 200], Some(Duration::from_millis(200))).await.unwrap();
        drop(writer);
        assert_eq!(slow.await.unwrap(), 200);
    }
}
