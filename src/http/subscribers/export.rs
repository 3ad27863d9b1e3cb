//! The export as a response body (the admin API's and the console's), and what keeps downloads
//! from starving everyone else: an export used to stream one query on one connection at the
//! client's pace, so ten clients reading slowly held the whole pool and unsubscribes, confirmations
//! and `/ready` answered 503.
//!
//! - Few at once: at most [`Exports::cap`] exports run; another gets `429` with `Retry-After`.
//! - No connection at the reader's pace: rows are read in pages, each on a connection taken and
//!   given back at once (`ops::subscribers::export`), so a running export holds a connection only
//!   while it reads a page, and never more than the cap together.
//! - No place held for ever: a reader that takes nothing for [`STALL`] ends its export, which
//!   gives its place back.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::super::AppState;
use super::super::error::Error;
use crate::domain::SubscriberStatus;
use crate::ops::subscribers as ops;

/// A reader that takes nothing of the export for this long is cut off.
pub const STALL: Duration = Duration::from_secs(30);

/// What a client that finds every place taken is told to wait.
const RETRY_AFTER_SECS: u64 = 10;

/// The places for exports running at once.
#[derive(Clone)]
pub struct Exports(Arc<Semaphore>);

impl Exports {
    /// A quarter of `database.max_connections`, at least one and at most two: running exports
    /// may all read a page at the same moment, and the rest of the pool stays for the public
    /// routes and the worker.
    pub fn cap(max_connections: u32) -> usize {
        (max_connections / 4).clamp(1, 2) as usize
    }

    pub fn new(max_connections: u32) -> Self {
        Self(Arc::new(Semaphore::new(Self::cap(max_connections))))
    }

    fn take(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.0.clone().try_acquire_owned().map_err(|_| Error::Busy {
            message: "Another export of the subscribers is running; please try again in a few seconds.",
            retry_after_secs: RETRY_AFTER_SECS,
        })
    }
}

/// The export as a response body, written by a task while the client reads it, which keeps its
/// place until it ends. A database error mid-way, or a reader that stalls, ends the body with an
/// error, so the client sees a broken download rather than a list that looks complete.
pub fn csv_stream(state: &AppState, list: Option<i32>, status: Option<SubscriberStatus>) -> Result<Response, Error> {
    let place = state.exports.take()?;
    let (writer, reader) = tokio::io::duplex(64 * 1024);
    let (done, outcome) = tokio::sync::oneshot::channel::<bool>();
    let db = state.db.clone();
    tokio::spawn(async move {
        let ok = match ops::export(&db, list, status, writer, Some(STALL)).await {
            Ok(rows) => {
                tracing::info!(rows, "subscribers exported");
                true
            }
            Err(e) => {
                tracing::warn!(error = ?e, "export ended early");
                false
            }
        };
        drop(place);
        let _ = done.send(ok);
    });
    let end = futures_util::stream::once(outcome).filter_map(|ok| async move {
        match ok {
            Ok(true) => None,
            _ => Some(Err(std::io::Error::other("the export failed"))),
        }
    });
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader).chain(end));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"subscribers.csv\""));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_take_a_bounded_share_of_the_pool() {
        assert_eq!(Exports::cap(1), 1);
        assert_eq!(Exports::cap(5), 1);
        assert_eq!(Exports::cap(10), 2);
        assert_eq!(Exports::cap(100), 2);
    }
}
