//! RSS and Atom import, shared by `broadsheet articles import FEED` and the worker's feed poller
//! (`worker::feeds`).
//!
//! Entries become articles, deduplicated by the entry's id (the feed's guid/id, or what feed-rs
//! derives from its link), so importing a feed again adds only what is new. Entry HTML is
//! sanitised here, once, with its nesting limited first, and stored as `sanitised-html`, which
//! rendering uses as it is. Parsing and sanitising run on a blocking thread: a large or hostile
//! feed must not hold up the async threads that serve HTTP.

mod fetch;

use sqlx::PgPool;

pub use self::fetch::{FetchPolicy, MAX_REDIRECTS, describe, is_internal, webhook_client};
use crate::domain::BodyFormat;
use crate::domain::{MAX_BODY_BYTES, multi_line, single_line};
use crate::store::articles::{self, NewArticle};
use crate::telemetry::redact_url;

/// Feeds are small; anything this large is not one.
const MAX_FEED_BYTES: usize = 10 * 1024 * 1024;
/// A title longer than this in the feed (markup included) is cut before it is parsed.
const MAX_TITLE_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The source (without credentials) and why.
    #[error("cannot read {0}: {1}")]
    Read(String, String),
    #[error("{0} is not an RSS or Atom feed: {1}")]
    Parse(String, String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    pub known: usize,
    pub skipped: usize,
}

/// A file path or an http(s) URL.
pub async fn import(db: &PgPool, source: &str, policy: FetchPolicy) -> Result<ImportReport, FeedError> {
    let bytes = fetch(source, policy).await?;
    import_bytes(db, source, bytes).await
}

pub async fn import_bytes(db: &PgPool, source: &str, bytes: Vec<u8>) -> Result<ImportReport, FeedError> {
    let shown = redact_url(source).into_owned();
    let parsed = tokio::task::spawn_blocking(move || parse(&shown, &bytes))
        .await
        .map_err(|e| FeedError::Parse(redact_url(source).into_owned(), format!("the parser failed: {e}")))??;
    let mut report = ImportReport { skipped: parsed.skipped, ..ImportReport::default() };
    for (article, entry_id) in parsed.articles {
        let new = NewArticle {
            title: &article.title,
            body: &article.body,
            url: article.url.as_deref(),
            summary: article.summary.as_deref(),
            source_id: Some(&entry_id),
            body_format: BodyFormat::SanitisedHtml,
        };
        match articles::insert(db, &new).await? {
            Some(_) => report.added += 1,
            None => report.known += 1,
        }
    }
    Ok(report)
}

struct Parsed {
    /// With their entry ids, oldest first.
    articles: Vec<(Article, String)>,
    skipped: usize,
}

/// CPU-bound: the XML parser and the HTML sanitiser.
fn parse(source: &str, bytes: &[u8]) -> Result<Parsed, FeedError> {
    let feed = feed_rs::parser::parse(bytes).map_err(|e| FeedError::Parse(source.to_owned(), e.to_string()))?;
    // Oldest first, so the articles keep the feed's order in the next digest.
    let mut entries = feed.entries;
    entries.sort_by_key(|e| e.published.or(e.updated));
    let mut parsed = Parsed { articles: Vec::new(), skipped: 0 };
    for entry in entries {
        match Article::from_entry(&entry) {
            Some(article) => parsed.articles.push((article, entry.id)),
            None => parsed.skipped += 1,
        }
    }
    Ok(parsed)
}

struct Article {
    title: String,
    body: String,
    url: Option<String>,
    summary: Option<String>,
}

impl Article {
    /// `None` for an entry without content, or with more than an article's worth of it.
    fn from_entry(entry: &feed_rs::model::Entry) -> Option<Self> {
        let text_of = |t: &feed_rs::model::Text, max_bytes: usize| {
            let raw = cut(&t.content, max_bytes);
            if is_html(&t.content_type) { crate::content::html_to_text(raw) } else { raw.to_owned() }
        };
        let title = entry.title.as_ref().map(|t| text_of(t, MAX_TITLE_BYTES)).unwrap_or_default();
        let title: String = single_line(&title).split_whitespace().collect::<Vec<_>>().join(" ");
        let title: String = if title.is_empty() { "(untitled)".to_owned() } else { title.chars().take(300).collect() };
        let url = entry
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .or(entry.links.first())
            .map(|l| l.href.trim().to_owned())
            .filter(|h| h.starts_with("http://") || h.starts_with("https://"));
        let summary_html = entry
            .summary
            .as_ref()
            .map(|s| if is_html(&s.content_type) { s.content.clone() } else { escape_paragraphs(&s.content) });
        let body_html = match &entry.content {
            Some(content) => match &content.body {
                Some(body) if is_html(&content.content_type) => Some(body.clone()),
                Some(body) => Some(escape_paragraphs(body)),
                None => None,
            },
            None => None,
        }
        .or_else(|| summary_html.clone())?;
        // Size first: nothing larger than an article is worth parsing.
        if body_html.len() > MAX_BODY_BYTES {
            return None;
        }
        let body = multi_line(&crate::content::sanitize_html(&body_html));
        if body.trim().is_empty() || body.len() > MAX_BODY_BYTES {
            return None;
        }
        let summary = entry
            .summary
            .as_ref()
            .map(|s| text_of(s, MAX_BODY_BYTES))
            .map(|s| multi_line(&s).chars().take(1000).collect::<String>())
            .filter(|s| !s.trim().is_empty());
        Some(Self { title, body, url, summary })
    }
}

/// At most `max_bytes` of `text`, cut at a character boundary.
fn cut(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Plain text as HTML paragraphs, escaped.
fn escape_paragraphs(text: &str) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    text.split("\n\n").filter(|p| !p.trim().is_empty()).map(|p| format!("<p>{}</p>", escape(p.trim()))).collect()
}

async fn fetch(source: &str, policy: FetchPolicy) -> Result<Vec<u8>, FeedError> {
    let read_err = |e: &dyn std::fmt::Display| FeedError::Read(redact_url(source).into_owned(), e.to_string());
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        let bytes = tokio::fs::read(source).await.map_err(|e| read_err(&e))?;
        if bytes.len() > MAX_FEED_BYTES {
            return Err(read_err(&"larger than 10 MiB"));
        }
        return Ok(bytes);
    }
    let url = url::Url::parse(source).map_err(|e| read_err(&e))?;
    // An IP-literal host never reaches the resolver, which checks names.
    policy.check_url(&url).map_err(|e| read_err(&e))?;
    let client = fetch::client(policy).map_err(|e| read_err(&fetch::describe(e)))?;
    let mut response = client.get(url).send().await.map_err(|e| read_err(&fetch::describe(e)))?;
    if !response.status().is_success() {
        return Err(read_err(&format!("the server answered {}", response.status())));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| read_err(&fetch::describe(e)))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_FEED_BYTES {
            return Err(read_err(&"larger than 10 MiB"));
        }
    }
    Ok(bytes)
}

fn is_html(media_type: &impl std::fmt::Display) -> bool {
    media_type.to_string().contains("html")
}
