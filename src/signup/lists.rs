//! The lists a public signup may ask for, kept in memory: a signup names lists by slug, and
//! looking them up in its own statement would cost every signup a round trip. Lists change
//! rarely; the copy is read again after [`FRESH`], and at once when a signup names a slug the
//! copy does not know (a list just created in another process).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::domain::ListSlug;
use crate::store::lists::{self, List};
use crate::store::retry;
use crate::store::signups::ListChoice;

/// How long a copy of the lists is used before it is read again: how late a list made private,
/// or switched to single opt-in, is seen by the signup form of another process.
const FRESH: Duration = Duration::from_secs(5);

/// Why a choice of lists was refused: the slug that names no public list.
#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    #[error("There is no list called {0}.")]
    Unknown(String),
    #[error("Choose at most {0} lists.")]
    TooMany(usize),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Every list, and when it was read.
type Copy = Option<(Instant, Arc<Vec<List>>)>;

/// The lists, shared by a process's signups.
#[derive(Clone, Default)]
pub struct PublicLists {
    copy: Arc<RwLock<Copy>>,
}

impl PublicLists {
    /// At most this many lists in one signup.
    pub const MAX: usize = 50;

    /// Every list as last read (reading them when the copy is old).
    pub async fn all(&self, db: &PgPool) -> Result<Arc<Vec<List>>, sqlx::Error> {
        if let Some(lists) = self.fresh() {
            return Ok(lists);
        }
        self.reload(db).await
    }

    /// The public lists, for the signup page.
    pub async fn public(&self, db: &PgPool) -> Result<Vec<List>, sqlx::Error> {
        Ok(self.all(db).await?.iter().filter(|l| l.public).cloned().collect())
    }

    /// The lists a public signup names. None named means the default list (even when private).
    /// A private list is refused as if it did not exist: the form must not tell what private
    /// lists there are.
    pub async fn choose(&self, db: &PgPool, slugs: &[String]) -> Result<Vec<ListChoice>, ChoiceError> {
        let mut wanted: Vec<ListSlug> = Vec::new();
        for raw in slugs {
            let slug = ListSlug::parse(raw).map_err(|_| ChoiceError::Unknown(clip(raw)))?;
            if !wanted.contains(&slug) {
                wanted.push(slug);
            }
        }
        if wanted.len() > Self::MAX {
            return Err(ChoiceError::TooMany(Self::MAX));
        }
        let named = !wanted.is_empty();
        if !named {
            wanted.push(ListSlug::default_list());
        }
        let mut lists = self.all(db).await?;
        if wanted.iter().any(|s| !lists.iter().any(|l| l.slug == s.as_str())) {
            lists = self.reload(db).await?;
        }
        wanted
            .iter()
            .map(|slug| match lists.iter().find(|l| l.slug == slug.as_str()) {
                Some(list) if list.public || !named => {
                    Ok(ListChoice { id: list.id, double_opt_in: list.double_opt_in })
                }
                _ => Err(ChoiceError::Unknown(slug.to_string())),
            })
            .collect()
    }

    fn fresh(&self) -> Option<Arc<Vec<List>>> {
        let copy = self.copy.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        copy.as_ref().filter(|(at, _)| at.elapsed() < FRESH).map(|(_, lists)| lists.clone())
    }

    async fn reload(&self, db: &PgPool) -> Result<Arc<Vec<List>>, sqlx::Error> {
        // On the signup path: run again if the connection was dead (a restart of Postgres).
        let lists = Arc::new(retry::once(db, "lists", || lists::all(db)).await?);
        *self.copy.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), lists.clone()));
        Ok(lists)
    }
}

/// A slug that could not be one, shortened for the message that names it.
fn clip(raw: &str) -> String {
    let clipped: String = raw.chars().filter(|c| !c.is_control()).take(40).collect();
    if raw.chars().count() > 40 { format!("{clipped}…") } else { clipped }
}
