//! What every handler can reach. It lives here, next to the router that uses it: `app` builds it
//! and hands it over, and nothing below `http` knows it exists.

use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::RateLimiter;
use super::archive::FeedCache;
use crate::config::Settings;
use crate::domain::{TokenHash, TokenKeys};
use crate::mail::Composer;
use crate::ops::mail_domain::MailDomains;
use crate::ops::providers::SnsCertificates;
use crate::signup::{Handover, PublicLists, SignupQueue};

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    /// The newsletter's name every page shows: the display name of `mail.from`.
    pub newsletter: Arc<str>,
    pub admin_token: Arc<SecretString>,
    /// Fingerprint of `admin_token` kept with each console session: a session signed in with
    /// another token (before the token was rotated) is not accepted.
    pub admin_token_hash: TokenHash,
    /// Wakes the in-process worker as soon as a delivery is queued.
    pub wake: Arc<Notify>,
    pub limiter: Arc<RateLimiter>,
    /// Wrong admin tokens per client; past the limit, admin routes answer 429.
    pub auth_failures: Arc<RateLimiter>,
    /// Renders digest previews exactly as the worker renders mail.
    pub composer: Arc<Composer>,
    /// Verify the signed tokens in confirmation and unsubscribe links (`tokens.keys`).
    pub token_keys: Arc<TokenKeys>,
    /// Signups, gathered into shared statements (`signup::SignupQueue`); they hand their confirmations
    /// straight to the in-process worker when the process runs one.
    pub signups: SignupQueue,
    /// The lists signups may name, kept in memory (`signup::PublicLists`).
    pub public_lists: PublicLists,
    /// Places for subscriber exports running at once (a bounded share of the pool).
    pub exports: super::subscribers::Exports,
    /// The archive's Atom feed as last rendered: anyone may ask for it, so it is rendered only
    /// when the archive changes.
    pub feed: Arc<FeedCache>,
    /// SNS signing certificates fetched for `POST /webhooks/ses`, kept for the process's life.
    pub sns_certificates: Arc<SnsCertificates>,
    /// `subscriptions.check_mx`: whether a signup's domain receives mail; `None` when off (or
    /// when there is no nameserver to ask).
    pub mail_domains: Option<Arc<MailDomains>>,
}

impl AppState {
    /// The per-client limits come from `settings.limits`; the session fingerprint from the token.
    /// `handover` reaches the in-process worker, when the process runs one (`serve` without
    /// `--no-worker`).
    pub fn new(
        db: PgPool,
        settings: Settings,
        admin_token: SecretString,
        wake: Arc<Notify>,
        composer: Composer,
        token_keys: TokenKeys,
        handover: Option<Handover>,
    ) -> Self {
        let limits = &settings.limits;
        let cap = limits.confirmation_mails_per_address_per_day;
        let mail_domains = if settings.subscriptions.check_mx {
            let found = MailDomains::new(settings.subscriptions.check_mx_nameserver);
            if found.is_none() {
                tracing::warn!(
                    "subscriptions.check_mx is on, but there is no nameserver to ask; signups are not checked"
                );
            }
            found.map(Arc::new)
        } else {
            None
        };
        Self {
            mail_domains,
            feed: Arc::default(),
            sns_certificates: Arc::default(),
            newsletter: settings.newsletter_name().into(),
            signups: SignupQueue::start(db.clone(), cap, handover, wake.clone()),
            public_lists: PublicLists::default(),
            exports: super::subscribers::Exports::new(settings.database.max_connections),
            limiter: Arc::new(RateLimiter::new(limits.signups_per_ip_per_minute, limits.ipv6_prefix)),
            auth_failures: Arc::new(RateLimiter::new(limits.admin_auth_failures_per_minute, limits.ipv6_prefix)),
            admin_token_hash: admin_token_hash(&admin_token),
            composer: Arc::new(composer),
            token_keys: Arc::new(token_keys),
            db,
            settings: Arc::new(settings),
            admin_token: Arc::new(admin_token),
            wake,
        }
    }
}

/// SHA-256 over a label and the token: stored with console sessions, never the token itself.
fn admin_token_hash(token: &SecretString) -> TokenHash {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"broadsheet admin session\0");
    hasher.update(token.expose_secret().as_bytes());
    TokenHash(hasher.finalize().into())
}
