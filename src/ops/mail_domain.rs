//! Whether an address's domain can receive mail at all (`subscriptions.check_mx`): it has an MX
//! record, or an A or AAAA record (RFC 5321 §5.1: without MX, mail goes to the address record).
//! A "null MX" (RFC 7505: one MX whose host is the root, `0 .`) is a domain saying it takes no
//! mail; its address records are then not asked.
//!
//! The signup must never wait on a slow resolver: a lookup gets [`WAIT`] in all, and one that
//! does not finish, or fails for any reason but "no such record", lets the signup through. The
//! answers are kept a short while ([`FOUND_FOR`], [`MISSING_FOR`]) in a bounded map, so a burst
//! of signups from one domain asks once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_resolver::Resolver;
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;

/// The most a signup waits for the lookups, MX and A/AAAA together.
pub const WAIT: Duration = Duration::from_secs(2);
/// How long a domain that receives mail is believed to.
const FOUND_FOR: Duration = Duration::from_secs(10 * 60);
/// How long a domain without records is believed to lack them: short, as a domain being set up
/// gets its records soon.
const MISSING_FOR: Duration = Duration::from_secs(60);
/// Domains remembered at most; past it, the expired ones go, and if none has, all do.
const CACHE: usize = 10_000;

/// What the nameserver said of a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailDomain {
    /// An MX, A or AAAA record.
    Receives,
    /// No such name, none of those records, or a null MX (RFC 7505).
    NoRecord,
    /// No answer in time, or an error: the signup goes ahead.
    Unknown,
}

/// The resolver and its answers, one per process.
pub struct MailDomains {
    resolver: Resolver<TokioConnectionProvider>,
    cache: Mutex<HashMap<String, (bool, Instant)>>,
}

impl std::fmt::Debug for MailDomains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailDomains")
    }
}

impl MailDomains {
    /// Asks `server`, or the first nameserver in /etc/resolv.conf; `None` when there is neither
    /// (every domain is then [`MailDomain::Unknown`], which lets signups through).
    pub fn new(server: Option<SocketAddr>) -> Option<Self> {
        let server = server.or_else(super::dns::system_nameserver)?;
        Some(Self { resolver: super::dns::resolver(server, WAIT), cache: Mutex::new(HashMap::new()) })
    }

    /// Whether `domain` receives mail, within [`WAIT`].
    pub async fn check(&self, domain: &str) -> MailDomain {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if let Some(known) = self.cached(&domain) {
            return known;
        }
        let fqdn = format!("{domain}.");
        let found = tokio::time::timeout(WAIT, async {
            match self.resolver.mx_lookup(fqdn.as_str()).await {
                Ok(mx) if mx.iter().any(|r| !r.exchange().is_root()) => return MailDomain::Receives,
                // Only null MX records: the domain says it takes no mail.
                Ok(mx) if mx.iter().next().is_some() => return MailDomain::NoRecord,
                Ok(_) => {}
                Err(e) if no_record(&e) => {}
                Err(_) => return MailDomain::Unknown,
            }
            match self.resolver.lookup_ip(fqdn.as_str()).await {
                Ok(ips) if ips.iter().next().is_some() => MailDomain::Receives,
                Ok(_) => MailDomain::NoRecord,
                Err(e) if no_record(&e) => MailDomain::NoRecord,
                Err(_) => MailDomain::Unknown,
            }
        })
        .await
        .unwrap_or(MailDomain::Unknown);
        if found != MailDomain::Unknown {
            self.remember(domain, found == MailDomain::Receives);
        }
        found
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, Instant)>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self, domain: &str) -> Option<MailDomain> {
        let (receives, at) = *self.cache().get(domain)?;
        let good_for = if receives { FOUND_FOR } else { MISSING_FOR };
        (at.elapsed() < good_for).then_some(if receives { MailDomain::Receives } else { MailDomain::NoRecord })
    }

    fn remember(&self, domain: String, receives: bool) {
        let mut cache = self.cache();
        if cache.len() >= CACHE {
            cache.retain(|_, (receives, at)| at.elapsed() < if *receives { FOUND_FOR } else { MISSING_FOR });
            if cache.len() >= CACHE {
                cache.clear();
            }
        }
        cache.insert(domain, (receives, Instant::now()));
    }
}

fn no_record(e: &hickory_resolver::ResolveError) -> bool {
    matches!(
        e.proto().map(|p| p.kind()),
        Some(ProtoErrorKind::NoRecordsFound { response_code: ResponseCode::NXDomain | ResponseCode::NoError, .. })
    )
}
