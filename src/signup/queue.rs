//! Signups gathered into one statement (group commit).
//!
//! A request hands its signup to a queue and waits for the answer. A few tasks take from it:
//! each takes whatever has queued up since it last looked (one signup when the service is quiet,
//! dozens under load) and runs them as one statement (`store::signups::signup_many`). A signup
//! alone still costs one statement and waits for nothing; under load the statement, its round
//! trip and the commit's WAL flush, which were most of what a signup cost Postgres, are shared.
//!
//! The tasks, not the request, own a signup once it is queued: a client that hangs up cannot
//! cancel it between the statement and the hand-over of its confirmation (`handover`).
//! A statement that fails for any reason but an unreachable database is run again one signup at
//! a time, so one bad row cannot fail its neighbours. One whose connection was found dead (after
//! a restart of Postgres) is run again at once on a fresh connection: each signup keeps its id
//! from the moment it was queued, and the statement, run again with the same ids, repeats nothing
//! of a first run that committed unanswered (`store::signups::signup_many`).
//!
//! The tasks keep the connections they used (a few, see [`Held`]) instead of handing each back
//! to the pool after every statement. sqlx sends a round trip on every connection it takes back
//! (its check on release), and its pool hands out the connection idle longest: a statement every
//! millisecond or so went to each of the pool's backends in turn, all of them cold. Kept, they
//! run on one or two warm backends with no extra round trip. bench/run, signups at 8
//! connections, three alternating rounds each: Postgres CPU per signup 145–167 µs against
//! 220–252, and 0.62–0.73 of pgbench against 0.40–0.49.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use uuid::Uuid;

use super::handover::{Handover, Slot, hand_over};
use super::{Signup, SignupError as Error};
use crate::domain::{Locale, SubscriberEmail, SubscriberName};
use crate::store::retry;
use crate::store::signups::{self, Done, ListChoice, Nonces, Replayed, Request};
use crate::store::subscribers::Origin;

/// At most this many statements at once. Normally one runs while the next batch gathers: a
/// second statement mostly splits what would have been one batch (bench/run, alternating runs:
/// one at a time 2,995–3,884 req/s at 8 connections and 7,154–8,087 at 64; two 2,885–3,099 and
/// 6,359–7,613; four 3,032 and 8,162). The others are for a statement that waits (a row lock
/// held by an import, or by another process's signup for the same address): after `LINGER` the
/// next batch goes ahead beside it.
const STATEMENTS: usize = 4;
/// How long a gathered batch waits for the statement before it; a statement under load takes
/// a few milliseconds.
const LINGER: Duration = Duration::from_millis(10);
/// At most this many signups in one statement.
const BATCH: usize = 256;
/// Signups waiting for a statement; past this, requests wait to join the queue.
const QUEUE: usize = 4096;
/// At most this many connections are kept between statements, and no more than a quarter of the
/// pool: the rest of the service (the worker, the admin API) must still find connections.
const KEEP: u32 = 2;
/// Kept connections go back to the pool once signups have stopped for this long, where the
/// pool's own care (its check on release, its lifetime) applies to them again.
const KEEP_IDLE: Duration = Duration::from_secs(30);

/// The signup side: cheap to clone, one per process.
#[derive(Clone)]
pub struct SignupQueue {
    tx: mpsc::Sender<Job>,
    held: Arc<Held>,
}

struct Job {
    /// The request's id, the same for every run of its statement (see `store::signups::Request`).
    id: Uuid,
    email: SubscriberEmail,
    name: Option<SubscriberName>,
    lists: Vec<ListChoice>,
    origin: Origin,
    locale: Locale,
    nonces: Nonces,
    reply: oneshot::Sender<Result<Signup, Error>>,
}

struct Runner {
    db: PgPool,
    /// `limits.confirmation_mails_per_address_per_day`.
    cap: u32,
    handover: Option<Handover>,
    wake: Arc<Notify>,
    jobs: Mutex<mpsc::Receiver<Job>>,
    /// Statements running now, and a signal each time one ends.
    running: AtomicUsize,
    finished: Notify,
    held: Arc<Held>,
}

/// Connections kept between statements, the most recently used on top (see the module's
/// documentation).
struct Held {
    /// How many may be kept: `KEEP`, or a quarter of the pool if that is fewer.
    limit: usize,
    conns: std::sync::Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    /// Set at shutdown: nothing is kept any more, so the pool can close.
    closed: std::sync::atomic::AtomicBool,
}

impl Held {
    fn new(pool: &PgPool) -> Self {
        let limit = KEEP.min(pool.options().get_max_connections() / 4);
        Self { limit: limit as usize, conns: std::sync::Mutex::new(Vec::new()), closed: false.into() }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection used last, unless it has been idle past `KEEP_IDLE`.
    fn take(&self) -> Option<PoolConnection<Postgres>> {
        let mut conns = self.conns();
        let (conn, used) = conns.pop()?;
        if used.elapsed() < KEEP_IDLE {
            return Some(conn);
        }
        // Idle too long: it and those under it go back to the pool (dropped), which checks them.
        conns.clear();
        None
    }

    fn keep(&self, conn: PoolConnection<Postgres>) {
        let mut conns = self.conns();
        if conns.len() < self.limit && !self.closed.load(Ordering::Acquire) {
            conns.push((conn, Instant::now()));
        }
    }

    /// Gives every kept connection back to the pool: after an unreachable database (they are
    /// likely all broken) or when signups have stopped.
    fn clear(&self) {
        self.conns().clear();
    }
}

impl SignupQueue {
    /// Starts the tasks; they end when the last clone of the queue is dropped.
    pub fn start(db: PgPool, cap: u32, handover: Option<Handover>, wake: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let held = Arc::new(Held::new(&db));
        let runner = Arc::new(Runner {
            held: held.clone(),
            db,
            cap,
            handover,
            wake,
            jobs: Mutex::new(rx),
            running: AtomicUsize::new(0),
            finished: Notify::new(),
        });
        for _ in 0..STATEMENTS {
            tokio::spawn(runner.clone().run());
        }
        Self { tx, held }
    }

    /// At shutdown, before the pool closes: the connections kept between statements are closed
    /// here, and those of statements still running go back to the (closing) pool when they end.
    /// Kept, they are out of the pool: `Pool::close` would wait for them (measured: it waits
    /// for a connection in use until it comes back), and they come back only when the queue's
    /// tasks end, after the pool has given up waiting. Closed, not dropped: a dropped one is
    /// closed by a task it spawns, which the process may exit before.
    pub async fn close(&self) {
        self.held.closed.store(true, Ordering::Release);
        let kept = std::mem::take(&mut *self.held.conns());
        for (conn, _) in kept {
            let _ = conn.close().await;
        }
    }

    /// Queues a signup to `lists` (as [`super::PublicLists::choose`] found them), made in
    /// `locale`. With `nonces`, it is taken only if none was used before ([`Error::Replayed`]
    /// otherwise).
    pub async fn signup(
        &self,
        email: SubscriberEmail,
        name: Option<SubscriberName>,
        lists: Vec<ListChoice>,
        origin: Origin,
        locale: Locale,
        nonces: Nonces,
    ) -> Result<Signup, Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job { id: Uuid::now_v7(), email, name, lists, origin, locale, nonces, reply };
        self.tx.send(job).await.map_err(|_| Error::Internal(anyhow::anyhow!("the signup queue has stopped")))?;
        answer.await.map_err(|_| Error::Internal(anyhow::anyhow!("a signup was dropped without an answer")))?
    }
}

impl Runner {
    async fn run(self: Arc<Self>) {
        loop {
            let jobs = {
                let mut rx = self.jobs.lock().await;
                let first = match tokio::time::timeout(KEEP_IDLE, rx.recv()).await {
                    Ok(Some(first)) => first,
                    Ok(None) => return,
                    Err(_) => {
                        self.held.clear();
                        continue;
                    }
                };
                // Registered before the count is read, so an end between the two is not missed.
                let finished = self.finished.notified();
                tokio::pin!(finished);
                finished.as_mut().enable();
                if self.running.load(Ordering::Acquire) > 0 {
                    let _ = tokio::time::timeout(LINGER, finished).await;
                }
                let mut jobs = vec![first];
                while jobs.len() < BATCH {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                jobs
            };
            self.running.fetch_add(1, Ordering::AcqRel);
            self.batch(jobs).await;
            self.running.fetch_sub(1, Ordering::AcqRel);
            self.finished.notify_waiters();
        }
    }

    async fn batch(&self, jobs: Vec<Job>) {
        let held = match self.held.take() {
            Some(conn) => Ok(conn),
            None => self.db.acquire().await,
        };
        let mut conn = match held {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "cannot get a database connection for signups");
                return unavailable(jobs);
            }
        };
        // Postgres upserts a row once per statement: signups for one address (a double click)
        // go into statements of their own, one after the other. So do signups sharing a nonce
        // (a replayed form token): the statement tells a nonce's first use by the row it inserts.
        let mut rest = jobs;
        let mut state = Conn::Sound;
        while !rest.is_empty() {
            let mut seen = HashSet::with_capacity(rest.len());
            let mut nonces = HashSet::new();
            let (now, later): (Vec<Job>, Vec<Job>) = rest.into_iter().partition(|job| {
                let alone = !seen.contains(&job.email.as_str().to_lowercase())
                    && job.nonces.iter().all(|nonce| !nonces.contains(&nonce));
                if alone {
                    seen.insert(job.email.as_str().to_lowercase());
                    nonces.extend(job.nonces.iter());
                }
                alone
            });
            rest = later;
            state = state.max(self.statement(&mut conn, now).await);
        }
        match state {
            Conn::Sound => self.held.keep(conn),
            // Back to the pool, which checks it before anyone else gets it.
            Conn::Failed => drop(conn),
            Conn::Unreachable => {
                drop(conn);
                self.held.clear();
            }
        }
    }

    /// Runs one statement for `jobs` and answers them; says what became of the connection.
    async fn statement(&self, conn: &mut PoolConnection<Postgres>, jobs: Vec<Job>) -> Conn {
        // A place in the worker's channel for each, taken before the statement: a row is
        // inserted leased only when it is certain to reach the worker.
        let slots: Vec<Option<Slot>> =
            jobs.iter().map(|_| self.handover.as_ref().and_then(Handover::reserve)).collect();
        let first = match self.attempt(conn, &jobs, &slots).await {
            // Found dead (a restart): the kept ones died with it. Run again, once, on a fresh
            // connection; the statement repeats nothing a first run committed.
            Err(e) if retry::is_dead_connection(&e) => {
                retry::saw_dead_connection();
                self.held.clear();
                tracing::info!(error = %e, "the signup statement's connection was dead; running it again on a fresh one");
                match self.db.acquire().await {
                    Ok(fresh) => {
                        *conn = fresh;
                        self.attempt(conn, &jobs, &slots).await
                    }
                    // Whatever the reason (still down, or refusing this database), unreachable.
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot get a database connection for signups");
                        unavailable(jobs);
                        return Conn::Unreachable;
                    }
                }
            }
            first => first,
        };
        match first {
            Ok(done) => {
                self.answer(jobs, slots, done);
                Conn::Sound
            }
            Err(e) if crate::store::pool::is_unavailable(&e) => {
                tracing::warn!(error = %e, "cannot get a database connection for signups");
                unavailable(jobs);
                Conn::Unreachable
            }
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(error = %e, signups = jobs.len(), "a batch of signups failed; running them one at a time");
                for (job, slot) in jobs.into_iter().zip(slots) {
                    let (job, slot) = (vec![job], vec![slot]);
                    match self.attempt(conn, &job, &slot).await {
                        Ok(done) => self.answer(job, slot, done),
                        Err(e) => fail(job, e),
                    }
                }
                Conn::Failed
            }
            Err(e) => {
                fail(jobs, e);
                Conn::Failed
            }
        }
    }

    /// The statement for `jobs`; the answer holds each job's result at the job's place.
    async fn attempt(
        &self,
        conn: &mut PoolConnection<Postgres>,
        jobs: &[Job],
        slots: &[Option<Slot>],
    ) -> sqlx::Result<Vec<Option<Result<Done, Replayed>>>> {
        let requests: Vec<Request> = jobs
            .iter()
            .zip(slots)
            .map(|(job, slot)| {
                Request::new(&job.email, job.name.as_ref(), &job.lists, &job.origin)
                    .with_id(job.id)
                    .in_locale(job.locale)
                    .leased_to(slot.as_ref().map(Slot::lease))
                    .with_nonces(job.nonces)
            })
            .collect();
        let answers = signups::signup_many(conn, &requests, self.cap).await?;
        let mut done: HashMap<_, _> = answers.done.into_iter().map(|d| (d.request, Ok(d))).collect();
        done.extend(answers.replayed.into_iter().map(|r| (r.request, Err(r))));
        Ok(requests.iter().map(|r| done.remove(&r.id)).collect())
    }

    fn answer(&self, jobs: Vec<Job>, slots: Vec<Option<Slot>>, done: Vec<Option<Result<Done, Replayed>>>) {
        for ((job, slot), done) in jobs.into_iter().zip(slots).zip(done) {
            let result = match done {
                Some(Ok(done)) => {
                    let signup = hand_over(done, slot);
                    if signup.queued && !signup.handed_over {
                        self.wake.notify_one();
                    }
                    Ok(signup)
                }
                Some(Err(Replayed { form, pow, .. })) if form || pow => Err(Error::Replayed { form, pow }),
                _ => Err(Error::Internal(anyhow::anyhow!("the signup statement returned no row for a request"))),
            };
            // The client may have hung up; what was done is done either way.
            let _ = job.reply.send(result);
        }
    }
}

/// What a batch's statements left of their connection, worst last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Conn {
    Sound,
    /// A statement failed: the connection goes back to the pool, which checks it.
    Failed,
    /// The database could not be reached: the kept ones are likely broken too.
    Unreachable,
}

fn unavailable(jobs: Vec<Job>) {
    for job in jobs {
        let _ = job.reply.send(Err(Error::Unavailable));
    }
}

/// Only ever one job here: a batch that failed is run again one signup at a time.
fn fail(jobs: Vec<Job>, e: sqlx::Error) {
    let mut e = Some(e);
    for job in jobs {
        // Turned into 503 for an unreachable database and 500 otherwise, in the HTTP layer.
        let error =
            e.take().map_or_else(|| Error::Internal(anyhow::anyhow!("the signup statement failed")), Error::Database);
        let _ = job.reply.send(Err(error));
    }
}
