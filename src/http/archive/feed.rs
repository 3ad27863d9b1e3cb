//! `GET /archive/feed.atom`: the newest digests with their articles, for feed readers.
//!
//! Rendering is the expensive part (Markdown and HTML of articles up to 512 KiB each), and anyone
//! may ask for the feed, so it is rendered once per change of the archive and kept in the
//! application state ([`FeedCache`]). Each request costs one indexed query: the ids and start
//! times of the newest digests, which change exactly when a digest starts sending or leaves the
//! archive. One render runs at a time; while it runs, others get the previous version. A sent
//! digest's content never changes, so its entry is reused from the previous render and only a
//! new digest is rendered. Bytes are capped: each entry's content at [`ENTRY_MAX`] (the rest is a
//! "read on" link to the digest's page), the whole feed at [`FEED_MAX`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::context;
use uuid::Uuid;

use super::super::AppState;
use super::super::error::{Error, PageError};
use super::super::pages;
use crate::domain::{Article, BaseUrl, DigestContent};
use crate::store::digests::{self, Archived};

/// Digests in the feed.
const ENTRIES: i64 = 20;
/// An entry's content as sent (escaped HTML); what does not fit is on the digest's page.
pub const ENTRY_MAX: usize = 64 * 1024;
/// The whole document: entries past this are left out (20 full entries stay well below it).
pub const FEED_MAX: usize = 2 * 1024 * 1024;

/// The feed as last rendered, shared by every request (it lives in [`AppState`]).
#[derive(Default)]
pub struct FeedCache {
    current: Mutex<Option<Arc<Feed>>>,
    /// Held while rendering: one render at a time.
    rendering: tokio::sync::Mutex<()>,
    renders: AtomicU64,
}

pub struct Feed {
    /// What the archive looked like when this was rendered: its newest digests' ids and starts.
    key: Vec<(Uuid, DateTime<Utc>)>,
    /// Each digest's entry content, escaped and capped, kept for the next render.
    entries: Vec<(Uuid, Arc<str>)>,
    xml: bytes::Bytes,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

impl FeedCache {
    /// How many times the feed was rendered (`broadsheet_archive_feed_renders_total`).
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    fn current(&self) -> Option<Arc<Feed>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The feed for the archive as it is now, rendered only if the archive changed.
    async fn get(&self, state: &AppState) -> Result<Arc<Feed>, Error> {
        let newest = newest_digests(state).await?;
        let previous = self.current();
        if let Some(feed) = previous.as_ref().filter(|f| f.key == key(&newest)) {
            return Ok(feed.clone());
        }
        let _rendering = match (self.rendering.try_lock(), previous) {
            (Ok(guard), _) => guard,
            // Someone is rendering the new version: the previous one will do meanwhile.
            (Err(_), Some(previous)) => return Ok(previous),
            (Err(_), None) => self.rendering.lock().await,
        };
        // Asked again under the lock: a render may have finished while we waited, or the archive
        // changed since (a render from the earlier answer would replace a newer feed).
        let newest = newest_digests(state).await?;
        let previous = self.current();
        if let Some(feed) = previous.as_ref().filter(|f| f.key == key(&newest)) {
            return Ok(feed.clone());
        }
        let feed = Arc::new(render(state, newest, previous.as_deref()).await?);
        self.renders.fetch_add(1, Ordering::Relaxed);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(feed.clone());
        Ok(feed)
    }
}

async fn newest_digests(state: &AppState) -> Result<Vec<Archived>, Error> {
    Ok(digests::archive(&state.db, None, ENTRIES, 0).await?.0)
}

fn key(newest: &[Archived]) -> Vec<(Uuid, DateTime<Utc>)> {
    newest.iter().map(|d| (d.id, d.started_at)).collect()
}

/// The archive as an Atom feed: the newest digests with their articles.
#[utoipa::path(get, path = "/archive/feed.atom", tag = "archive",
    responses(
        (status = 200, description = "Atom 1.0, with `ETag` and `Last-Modified`", content_type = "application/atom+xml", body = String),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`"),
        (status = 404, description = "The archive is turned off", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
pub async fn archive_feed(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    super::enabled(&state)?;
    let feed = state.feed.get(&state).await?;
    // Readers poll: `no-cache` has them ask each time, and an unchanged feed costs them 304.
    let validators = [
        (header::ETAG, feed.etag.clone()),
        (header::LAST_MODIFIED, feed.last_modified.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || tag.trim().trim_start_matches("W/") == feed.etag);
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, validators).into_response());
    }
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static("application/atom+xml; charset=utf-8"));
    Ok((validators, [content_type], feed.xml.clone()).into_response())
}

/// Renders the feed for `newest`, reusing the entries `previous` already has.
async fn render(state: &AppState, newest: Vec<Archived>, previous: Option<&Feed>) -> Result<Feed, Error> {
    let base_url = &state.settings.http.base_url;
    let mut entries = Vec::with_capacity(newest.len());
    for digest in &newest {
        let kept = previous.and_then(|p| p.entries.iter().find(|(id, _)| *id == digest.id));
        let content = match kept {
            Some((_, content)) => content.clone(),
            None => {
                let Some(content) = digests::content(&state.db, digest.id).await? else { continue };
                let page = base_url.join(&format!("/archive/{}", digest.id));
                let html = tokio::task::spawn_blocking(move || entry_content(&content, &page))
                    .await
                    .map_err(|e| Error::Internal(e.into()))?;
                Arc::from(html)
            }
        };
        entries.push((digest.id, content));
    }
    let xml = atom(base_url, &state.newsletter, &newest, &entries);
    let updated = newest.first().map_or(DateTime::<Utc>::UNIX_EPOCH, |d| d.started_at);
    Ok(Feed {
        key: key(&newest),
        etag: etag(&xml),
        last_modified: header_value(&updated.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        xml: xml.into(),
        entries,
    })
}

/// A digest's articles as the archive page shows them, escaped for the feed, article by article
/// while they fit in [`ENTRY_MAX`]; the first that does not is shown by its heading, the start of
/// its text and a link to the page, where the whole issue is. Runs on a blocking thread (it
/// renders bodies).
fn entry_content(content: &DigestContent, page: &str) -> String {
    let read_on = |article: &Article, excerpt: &str| {
        let ctx = context! { title => article.title, url => article.url, excerpt => excerpt, page => page };
        escape(&pages::fragment("archive/read_on.html", ctx))
    };
    let mut out = String::new();
    for article in &content.articles {
        let html = crate::content::article_html(article.body_format, &article.body);
        let view = context! {
            title => article.title,
            url => article.url,
            html => minijinja::Value::from_safe_string(html),
        };
        let piece = escape(&pages::fragment("archive/articles.html", context! { articles => vec![view] }));
        // Room is kept for the link, so the cap holds whichever article stops the entry.
        let room = ENTRY_MAX.saturating_sub(out.len());
        if piece.len() + read_on(article, "").len() > room {
            let text = crate::content::article_text(article.body_format, &article.body);
            let with_excerpt = read_on(article, &excerpt(&text, EXCERPT_CHARS));
            let link = if with_excerpt.len() <= room { with_excerpt } else { read_on(article, "") };
            if link.len() <= room {
                out.push_str(&link);
            }
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// Characters of an article's text shown before the "read on" link.
const EXCERPT_CHARS: usize = 600;

/// The first `max` characters of `text`, ended at a space, with an ellipsis when cut.
fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    let Some((cut, _)) = text.char_indices().nth(max) else { return text.to_owned() };
    let head = &text[..cut];
    let head = head.rfind(char::is_whitespace).map_or(head, |space| &head[..space]);
    format!("{}…", head.trim_end())
}

fn atom(base_url: &BaseUrl, newsletter: &str, newest: &[Archived], entries: &[(Uuid, Arc<str>)]) -> String {
    let updated = newest.first().map_or(DateTime::<Utc>::UNIX_EPOCH, |d| d.started_at);
    let self_url = base_url.join("/archive/feed.atom");
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>{}</id>\n<title>{}</title>\n<updated>{}</updated>\n<author><name>{}</name></author>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        escape(&self_url),
        escape(newsletter),
        updated.to_rfc3339(),
        escape(newsletter),
        escape(&self_url),
        escape(&base_url.join("/archive")),
    );
    const END: &str = "</feed>\n";
    for (id, content) in entries {
        let Some(digest) = newest.iter().find(|d| d.id == *id) else { continue };
        let url = base_url.join(&format!("/archive/{id}"));
        let entry = format!(
            "<entry>\n<id>urn:uuid:{id}</id>\n<title>{}</title>\n<updated>{}</updated>\n<published>{}</published>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<content type=\"html\">{content}</content>\n</entry>\n",
            escape(&digest.subject),
            digest.started_at.to_rfc3339(),
            digest.started_at.to_rfc3339(),
            escape(&url),
        );
        // Entries are newest first: what does not fit is the oldest, still on the archive pages.
        if xml.len() + entry.len() + END.len() > FEED_MAX {
            break;
        }
        xml.push_str(&entry);
    }
    xml.push_str(END);
    xml
}

/// A strong validator: the first 128 bits of the document's SHA-256.
fn etag(xml: &str) -> HeaderValue {
    use sha2::{Digest as _, Sha256};
    let hash = Sha256::digest(xml.as_bytes());
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    header_value(&format!("\"{hex}\""))
}

/// Our own ASCII text (a hash, a date) as a header value.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// XML text and attribute escaping; characters XML 1.0 forbids are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, excerpt};

    #[test]
    fn excerpts_end_at_a_space_with_an_ellipsis() {
        assert_eq!(excerpt("  short text ", 600), "short text");
        assert_eq!(excerpt("one two three", 9), "one two…");
        assert_eq!(excerpt("ééé ééé", 5), "ééé…");
    }

    #[test]
    fn xml_escaping_covers_markup_and_drops_forbidden_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
