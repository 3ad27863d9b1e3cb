//! Signups: the one statement that creates or finds a subscriber, records their consent and
//! queues the confirmation mail, for one signup or for many at once.
//!
//! Many at once is how the service runs it (`signup::SignupQueue` gathers the signups that arrive
//! while the previous statement runs): each row still costs its index entries and foreign-key
//! checks, but the statement, its round trip and the commit (a WAL flush) are paid once per
//! batch instead of once per signup, and those were most of what a signup cost Postgres.

use sqlx::PgConnection;
use sqlx::types::ipnetwork::IpNetwork;
use uuid::Uuid;

use super::deliveries::{Claimed, DeliveryKind};
use super::subscribers::{Origin, truncate};
use crate::domain::{Locale, SubscriberEmail, SubscriberName, SubscriberStatus};

/// A list a signup asks to join, as the caller found it (the signup pipeline keeps the lists in
/// memory, so a signup costs no look-up of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListChoice {
    pub id: i32,
    pub double_opt_in: bool,
}

/// One signup of a batch.
pub struct Request<'a> {
    /// Names the request in the answer, becomes the subscriber's id if the address is new, and
    /// keys the signup's consent record, so that running the statement again with the same ids
    /// repeats nothing a first run committed (see [`signup_many`]). Time-ordered (UUIDv7): each
    /// new key lands at the right edge of the primary-key index rather than on a random page of
    /// it, which a large list would have to read back first.
    pub id: Uuid,
    pub email: &'a SubscriberEmail,
    pub name: Option<&'a SubscriberName>,
    pub origin: &'a Origin,
    /// The lists asked for: at least one.
    pub lists: &'a [ListChoice],
    /// The in-process worker (id, lease in seconds) that takes the confirmation, if any.
    pub lease: Option<(Uuid, f64)>,
    /// The language the signup was made in: stored for a new subscriber (and one who had none),
    /// never over a language already stored. `None`: the configured default.
    pub locale: Option<Locale>,
    /// The nonces of the signup form's token and of a proof-of-work challenge, when the signup
    /// carried them: each is good once (`form_nonces`).
    pub nonces: Nonces,
}

/// Single-use nonces a signup presents (see `domain::Stamp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nonces {
    pub form: Option<Uuid>,
    pub pow: Option<Uuid>,
}

impl Nonces {
    pub fn iter(&self) -> impl Iterator<Item = Uuid> {
        self.form.into_iter().chain(self.pow)
    }
}

/// A request that presented a nonce used before (by another request, in this process or
/// another): nothing was written for it but the nonces it had not used yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub request: Uuid,
    pub form: bool,
    pub pow: bool,
}

/// What the statement did: one entry per request, in one of the two.
#[derive(Debug, Default)]
pub struct Answers {
    pub done: Vec<Done>,
    pub replayed: Vec<Replayed>,
}

impl<'a> Request<'a> {
    pub fn new(
        email: &'a SubscriberEmail,
        name: Option<&'a SubscriberName>,
        lists: &'a [ListChoice],
        origin: &'a Origin,
    ) -> Self {
        Self { id: Uuid::now_v7(), email, name, origin, lists, lease: None, locale: None, nonces: Nonces::default() }
    }

    /// The signup was made in `locale`.
    pub fn in_locale(mut self, locale: Locale) -> Self {
        self.locale = Some(locale);
        self
    }

    /// Taken only if none of `nonces` was used before; they are recorded as used in the statement.
    pub fn with_nonces(mut self, nonces: Nonces) -> Self {
        self.nonces = nonces;
        self
    }

    /// The request keeps the id it was given when it was first taken, for every run of it.
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// The confirmation, if this signup queues one, is leased to `worker` for `lease_secs`.
    pub fn leased_to(mut self, lease: Option<(Uuid, f64)>) -> Self {
        self.lease = lease;
        self
    }
}

/// What the statement did for one request.
#[derive(Debug)]
pub struct Done {
    /// The request's `id`.
    pub request: Uuid,
    pub subscriber_id: Uuid,
    pub email: SubscriberEmail,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub token_version: i32,
    /// The subscriber's stored language, which their mails are in.
    pub locale: Option<String>,
    /// The confirmation queued, if any: leased to the request's worker when it named one.
    pub delivery: Option<i64>,
}

impl Done {
    /// The queued confirmation as a claim would have left it for the worker it is leased to.
    pub fn into_claimed(self) -> Option<Claimed> {
        let id = self.delivery?;
        Some(Claimed {
            id,
            kind: DeliveryKind::Confirmation,
            attempts: 1,
            subscriber_id: self.subscriber_id,
            digest_id: None,
            email: self.email,
            name: self.name,
            status: self.status,
            token_version: self.token_version,
            attributes: None,
            locale: self.locale,
        })
    }
}

/// Many signups in one statement, so they cost one round trip and one commit and are atomic
/// without an explicit transaction: create each subscriber or find the existing one
/// (case-insensitively), record the consent event, and queue a confirmation mail when the
/// subscriber is pending, unless one is already waiting or the address had `cap` in the last
/// day. The answer holds one `Done` per request, in no particular order.
///
/// Safe to run again with the same request ids when the connection died before the answer came
/// (the first run may or may not have committed): a request whose consent record is there
/// already writes no second record and queues no second mail, and answers with the mail its first
/// run queued when that is still leased to the request's worker (for the handover). The check is
/// made on the rows' newest versions (the consent key, the subscriber row's
/// `confirmation_queued_by`), under their locks, so it holds even when the first run commits
/// while the second is starting.
///
/// No two requests may be for the same address (Postgres refuses to upsert one row twice in a
/// statement; the caller runs those in separate statements). Rows are inserted in address order,
/// so two batches that share addresses wait for each other rather than deadlock.
///
/// Someone who unsubscribed (or bounced, or complained) starts over as pending and must confirm
/// again; a confirmed subscriber is left as they are. A new subscriber (the row inserted, not
/// found) queues `subscriber.created` for the webhook endpoints that want it, in this statement.
///
/// Lists: each request joins its lists in the same statement, `pending` on a double-opt-in list
/// and `confirmed` on a single-opt-in one (a confirmed membership stays as it is). A new address
/// that asks only for single-opt-in lists is confirmed at once, and no mail goes; a confirmed
/// address that asks for a double-opt-in list it is not confirmed on gets the confirmation mail,
/// whose link confirms that membership.
///
/// The cap holds however many signups for one address arrive at once: the times of the day's
/// mails live on the subscriber row (`confirmation_mails_at`), and the upsert reads and extends
/// them under the row lock, on the newest version of the row, where a count of deliveries would
/// read the statement's snapshot and miss the mails that simultaneous signups just queued. The
/// row remembers which request queued the latest mail, so the statement knows whether it did.
/// "Unless one is already waiting" still reads the snapshot: a burst may queue a second or third
/// mail, never more than the cap.
///
/// Nonces: a request's form-token and proof-of-work nonces are inserted into `form_nonces` in
/// the same statement (`ON CONFLICT DO NOTHING`), and a request goes on only if every nonce it
/// gave was inserted by it: one used before, by any process, makes it [`Replayed`]. A nonce
/// being inserted by another process's statement still open is waited for, so two processes
/// cannot both take it. No two requests of a statement may share a nonce (the caller splits
/// them, as for addresses).
pub async fn signup_many(conn: &mut PgConnection, requests: &[Request<'_>], cap: u32) -> sqlx::Result<Answers> {
    let n = requests.len();
    let (mut ids, mut emails, mut names) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut ips, mut agents) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut workers, mut leases) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut single_only = Vec::with_capacity(n);
    let mut locales = Vec::with_capacity(n);
    let (mut form_nonces, mut pow_nonces) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut pick_requests, mut pick_lists, mut pick_double) = (Vec::new(), Vec::new(), Vec::new());
    for r in requests {
        single_only.push(!r.lists.is_empty() && r.lists.iter().all(|l| !l.double_opt_in));
        for list in r.lists {
            pick_requests.push(r.id);
            pick_lists.push(list.id);
            pick_double.push(list.double_opt_in);
        }
        ids.push(r.id);
        emails.push(r.email.as_str().to_owned());
        names.push(r.name.map(|n| n.as_str().to_owned()));
        ips.push(r.origin.ip.map(IpNetwork::from));
        agents.push(r.origin.user_agent.as_deref().map(|ua| truncate(ua, 512).to_owned()));
        workers.push(r.lease.map(|(worker, _)| worker));
        leases.push(r.lease.map(|(_, secs)| secs));
        locales.push(r.locale.map(Locale::as_str));
        form_nonces.push(r.nonces.form);
        pow_nonces.push(r.nonces.pow);
    }
    let rows = sqlx::query!(
        r#"
        WITH given AS (
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::inet[], $5::text[], $7::uuid[], $8::float8[],
                                 $9::bool[], $13::text[], $14::uuid[], $15::uuid[])
                AS i(id, email, name, ip, user_agent, worker, lease_secs, single_only, locale, form_nonce, pow_nonce)
        ),
        -- Single-use nonces: those this statement inserts are fresh; a conflict means used before.
        fresh AS (
            INSERT INTO form_nonces (nonce)
            SELECT n.nonce FROM given g CROSS JOIN LATERAL (VALUES (g.form_nonce), (g.pow_nonce)) AS n(nonce)
            WHERE n.nonce IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING nonce
        ),
        input AS (
            SELECT * FROM given g
            WHERE (g.form_nonce IS NULL OR g.form_nonce IN (SELECT nonce FROM fresh))
              AND (g.pow_nonce IS NULL OR g.pow_nonce IN (SELECT nonce FROM fresh))
        ),
        picks AS (
            SELECT * FROM unnest($10::uuid[], $11::int4[], $12::bool[]) AS p(request, list_id, double_opt_in)
        ),
        subscriber AS (
            INSERT INTO subscribers (id, email, name, status, confirmed_at, confirmation_mails_at, confirmation_queued_by,
                                     locale)
            SELECT id, email, name,
                   CASE WHEN single_only THEN 'confirmed' ELSE 'pending' END::subscriber_status,
                   CASE WHEN single_only THEN now() END,
                   CASE WHEN $6::bigint > 0 AND NOT single_only THEN ARRAY[now()] ELSE '{}' END,
                   CASE WHEN $6 > 0 AND NOT single_only THEN id END,
                   locale
            FROM input ORDER BY lower(email)
            ON CONFLICT (lower(email)) DO UPDATE SET
                name = CASE WHEN subscribers.status = 'confirmed' THEN subscribers.name
                            ELSE coalesce(EXCLUDED.name, subscribers.name) END,
                status = CASE WHEN subscribers.status IN ('unsubscribed', 'bounced', 'complained')
                              THEN 'pending'::subscriber_status ELSE subscribers.status END,
                updated_at = now(),
                -- A known address keeps the language it chose first, whatever this request says.
                locale = coalesce(subscribers.locale, EXCLUDED.locale),
                -- Whether a mail is queued (see the function): both columns follow from that one
                -- decision, made under the row lock. A function, so a batch of new addresses never
                -- sets up its scans.
                (confirmation_mails_at, confirmation_queued_by) = (
                    SELECT d.mails_at, d.queued_by
                    FROM signup_mail_decision(subscribers.id, subscribers.status, subscribers.confirmation_mails_at,
                                              subscribers.confirmation_queued_by, EXCLUDED.id, $6, $10, $11, $12) d)
            RETURNING id, email, name, status, token_version, locale, confirmation_queued_by, xmax = 0 AS created
        ),
        -- Each request beside the subscriber it created or found: the addresses of a batch are
        -- distinct, so the address matches them up.
        matched AS (
            SELECT i.id AS request, i.ip, i.user_agent, i.worker, i.lease_secs,
                   s.id, s.email, s.name, s.status, s.token_version, s.locale,
                   coalesce(s.confirmation_queued_by = i.id, false) AS queued
            FROM input i JOIN subscriber s ON lower(s.email) = lower(i.email)
        ),
        -- Keyed by the request: run again after its connection died unanswered, the statement
        -- finds the records of a first run that committed, and queues no mail for those requests.
        consent AS (
            INSERT INTO consent_events (subscriber_id, action, ip, user_agent, request_id)
            SELECT id, 'signup', ip, user_agent, request FROM matched
            ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO NOTHING
            RETURNING request_id AS request
        ),
        joined AS (
            INSERT INTO memberships (list_id, subscriber_id, status)
            SELECT p.list_id, m.id, CASE WHEN p.double_opt_in THEN 'pending' ELSE 'confirmed' END::membership_status
            FROM matched m JOIN picks p ON p.request = m.request
            ORDER BY p.list_id, m.id
            ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()
            WHERE memberships.status <> 'confirmed'
        ),
        -- `subscriber.created` for each new subscriber, to every endpoint that asked for it: part
        -- of this statement, so it costs the signup path no statement of its own, and nothing
        -- at all is written when no endpoint wants the event.
        created_events AS (
            INSERT INTO webhook_messages (endpoint_id, type, data)
            SELECT e.id, 'subscriber.created',
                   jsonb_build_object('id', s.id, 'email', s.email, 'name', s.name, 'status', s.status)
            FROM subscriber s JOIN webhook_endpoints e ON e.enabled AND 'subscriber.created' = ANY(e.events)
            WHERE s.created
        ),
        -- Leased to the in-process worker when the request names one: as its claim would leave
        -- it (see `signup::handover`); otherwise due now, for any claimer.
        queued AS (
            INSERT INTO deliveries (kind, subscriber_id, locked_by, locked_until, attempts)
            SELECT 'confirmation', m.id, m.worker, now() + make_interval(secs => m.lease_secs),
                   CASE WHEN m.worker IS NULL THEN 0 ELSE 1 END
            FROM matched m WHERE m.queued AND m.request IN (SELECT request FROM consent)
            RETURNING id, subscriber_id
        )
        SELECT g.id AS "request!", m.id AS "id?", m.email AS "email?: SubscriberEmail", m.name,
               m.status AS "status?: SubscriberStatus", m.token_version AS "token_version?", m.locale,
               -- Run again: the first run's mail, if it is still leased to this request's worker
               -- for long enough to hand over.
               coalesce(q.id, CASE WHEN m.request IS NOT NULL AND c.request IS NULL AND m.queued
                              THEN signup_leased_confirmation(m.id, m.worker, m.lease_secs) END) AS "delivery?",
               coalesce(g.form_nonce NOT IN (SELECT nonce FROM fresh), false) AS "form_replayed!",
               coalesce(g.pow_nonce NOT IN (SELECT nonce FROM fresh), false) AS "pow_replayed!"
        FROM given g
        LEFT JOIN matched m ON m.request = g.id
        LEFT JOIN queued q ON q.subscriber_id = m.id
        LEFT JOIN consent c ON c.request = m.request
        "#,
        &ids,
        &emails as &[String],
        &names as &[Option<String>],
        &ips as &[Option<IpNetwork>],
        &agents as &[Option<String>],
        i64::from(cap),
        &workers as &[Option<Uuid>],
        &leases as &[Option<f64>],
        &single_only,
        &pick_requests,
        &pick_lists,
        &pick_double,
        &locales as &[Option<&str>],
        &form_nonces as &[Option<Uuid>],
        &pow_nonces as &[Option<Uuid>],
    )
    .fetch_all(conn)
    .await?;
    let mut answers = Answers::default();
    for r in rows {
        match (r.id, r.email, r.status, r.token_version) {
            (Some(subscriber_id), Some(email), Some(status), Some(token_version)) => answers.done.push(Done {
                request: r.request,
                subscriber_id,
                email,
                name: r.name,
                status,
                token_version,
                locale: r.locale,
                delivery: r.delivery,
            }),
            // Not matched to a subscriber: only a used nonce keeps a request out of `input`.
            _ => answers.replayed.push(Replayed { request: r.request, form: r.form_replayed, pow: r.pow_replayed }),
        }
    }
    Ok(answers)
}

/// Deletes nonces recorded before `before` (no token or challenge that old is taken any more),
/// at most `limit` of them; says how many went.
pub async fn purge_nonces(db: &sqlx::PgPool, before: chrono::DateTime<chrono::Utc>, limit: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM form_nonces WHERE nonce IN (SELECT nonce FROM form_nonces WHERE used_at < $1 LIMIT $2)",
        before,
        limit
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
