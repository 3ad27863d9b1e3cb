//! Fetching a feed URL without letting the URL reach into our own network.
//!
//! A feed URL is outside input (an operator pastes it; a feed's server chooses where to redirect
//! it). Without a check, a redirect to `127.0.0.1:5432` or to the cloud metadata service makes
//! the worker fetch an internal document and store it as an article. So every address is checked
//! after DNS resolution, in our own resolver (so a name that resolves to a public address for a
//! check and to an internal one for the fetch cannot slip past: there is only one resolution),
//! IP-literal hosts (which skip the resolver) are checked before the first request and at every
//! redirect, redirects are limited in number and to http(s), and proxies from the environment are
//! ignored (they would resolve names for us).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::Host;

const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Feeds move now and then (http → https, a new domain); a longer chain is a loop or a trick.
pub const MAX_REDIRECTS: usize = 5;

/// Which addresses a feed fetch (or a webhook delivery, which follows the same rules) may reach.
#[derive(Debug, Clone, Copy)]
pub struct FetchPolicy {
    /// `feeds.allow_private` (or `webhooks.allow_private`): reach loopback, private and
    /// link-local addresses too.
    pub allow_private: bool,
    /// Tests only: one internal address treated as public, so that a redirect from it to another
    /// internal address can be tried on a machine where every test server is on loopback.
    pub(crate) exempt: Option<IpAddr>,
    /// The setting a refusal tells the operator about.
    setting: &'static str,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self::new(false)
    }
}

impl FetchPolicy {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private, exempt: None, setting: "feeds.allow_private" }
    }

    /// The same rules for webhook endpoints, whose refusals name `webhooks.allow_private`.
    pub fn for_webhooks(allow_private: bool) -> Self {
        Self { allow_private, exempt: None, setting: "webhooks.allow_private" }
    }

    /// Tests only: `ip` (internal) is treated as public.
    #[cfg(test)]
    pub(crate) fn exempting(mut self, ip: IpAddr) -> Self {
        self.exempt = Some(ip);
        self
    }

    fn refuses(&self, ip: IpAddr) -> bool {
        !self.allow_private && Some(ip) != self.exempt && is_internal(ip)
    }

    /// The scheme and, for an IP-literal host, the address (names are checked when resolved).
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{}: URLs are refused; only http(s) URLs are fetched", url.scheme()));
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err("the URL has no host".to_owned()),
        };
        if self.refuses(ip) { Err(self.refusal(&ip.to_string(), ip)) } else { Ok(()) }
    }

    fn refusal(&self, host: &str, ip: IpAddr) -> String {
        let what = if host == ip.to_string() { ip.to_string() } else { format!("{host} ({ip})") };
        let setting = self.setting;
        format!(
            "{what} is a loopback, private, link-local or otherwise internal address; only public addresses \
             may be reached (set {setting} = true to allow internal ones)"
        )
    }
}

/// A client builder that applies `policy` to every connection: our resolver, no proxies from
/// the environment, our own rustls configuration.
fn guarded(policy: FetchPolicy) -> reqwest::ClientBuilder {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let builder = reqwest::Client::builder().no_proxy().dns_resolver(Arc::new(GuardedResolver { policy }));
    match tls {
        Ok(tls) => builder.use_preconfigured_tls(tls),
        Err(_) => builder,
    }
}

/// An HTTP client for webhook deliveries under `policy`, each request bounded by `timeout`
/// (connecting included). Redirects are not followed at all: a webhook is a POST to the address
/// the operator gave, and following one would mean re-sending a signed body somewhere else
/// (or, for 301/302, turning it into a GET); a 3xx is an unsuccessful answer like any other.
pub fn webhook_client(policy: FetchPolicy, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    guarded(policy)
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("broadsheet/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
        .redirect(redirect::Policy::none())
        .build()
}

/// An HTTP client for feeds that applies `policy` to every connection it makes.
pub fn client(policy: FetchPolicy) -> Result<reqwest::Client, reqwest::Error> {
    guarded(policy)
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("broadsheet/", env!("CARGO_PKG_VERSION"), " (feed import)"))
        .redirect(redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                let error = format!("more than {MAX_REDIRECTS} redirects");
                return attempt.error(error);
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let error =
                        format!("redirect to {} refused: {why}", crate::telemetry::redact_url(attempt.url().as_str()));
                    attempt.error(error)
                }
            }
        }))
        .build()
}

/// The system resolver, with internal addresses left out of every answer.
struct GuardedResolver {
    policy: FetchPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved.iter().copied().filter(|a| !policy.refuses(a.ip())).collect();
            match (allowed.is_empty(), resolved.first()) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some(refused)) => Err(policy.refusal(&host, refused.ip()).into()),
                (true, None) => Err(format!("{host} has no address").into()),
            }
        })
    }
}

/// Addresses a feed fetch must not reach: this host, our networks, link-local and cloud metadata
/// services, and addresses that are not meant to be reached at all.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()                         // 127/8
        || ip.is_private()                   // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                // 169.254/16, metadata 169.254.169.254
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0                            // "this network"
        || (a == 100 && (b & 0xc0) == 64)    // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0)    // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18)    // benchmarking 198.18/15
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4); // ::ffff:a.b.c.d
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00                 // unique local fc00::/7, metadata fd00:ec2::254
        || (s[0] & 0xffc0) == 0xfe80                 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                 // site-local fec0::/10 (deprecated)
        || (s[..6] == [0; 6] && internal_v4(embedded(s[6], s[7])))  // ::a.b.c.d (deprecated)
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && internal_v4(embedded(s[6], s[7])))  // NAT64
        || (s[0] == 0x2002 && internal_v4(embedded(s[1], s[2])))   // 6to4
        || s[..4] == [0x100, 0, 0, 0] // discard-only 100::/64
}

/// What went wrong with a fetch, in full (reqwest's own message names only the outermost cause),
/// without the URL (it may carry credentials; the caller names the feed).
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.255",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal} is internal");
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.0.1",
            "2606:4700::1111",
            "::ffff:93.184.215.14",
            "64:ff9b::808:808",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn literal_hosts_and_schemes_are_checked() {
        let strict = FetchPolicy::new(false);
        let check = |p: FetchPolicy, u: &str| p.check_url(&url::Url::parse(u).unwrap());
        assert!(check(strict, "https://example.com/feed").is_ok(), "names are checked when resolved");
        assert!(check(strict, "http://93.184.215.14/feed").is_ok());
        for refused in
            ["http://127.0.0.1:5432/", "http://[::1]/", "http://2130706433/", "http://0x7f.1/", "file:///etc/passwd"]
        {
            assert!(check(strict, refused).is_err(), "{refused}");
        }
        assert!(check(FetchPolicy::new(true), "http://127.0.0.1:5432/").is_ok());
    }

    /// Serves `answer` to every connection on `ip` (any port); returns the port.
    async fn serve(ip: &str, answer: String) -> u16 {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        port
    }

    fn redirect_to(location: &str) -> String {
        format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    /// A server we may reach (exempt) redirects to an internal address: the redirect is refused,
    /// and the internal server never sees a request.
    #[tokio::test]
    async fn a_redirect_to_an_internal_address_is_refused() {
        let internal = serve("127.0.0.2", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret".to_owned()).await;
        let public = serve("127.0.0.1", redirect_to(&format!("http://127.0.0.2:{internal}/internal"))).await;
        let policy = FetchPolicy::new(false).exempting("127.0.0.1".parse().unwrap());
        let error = client(policy).unwrap().get(format!("http://127.0.0.1:{public}/feed")).send().await.unwrap_err();
        let text = describe(error);
        assert!(text.contains("redirect to http://127.0.0.2") && text.contains("feeds.allow_private"), "{text}");

        // A name that resolves to an internal address is refused in the resolver, so the same
        // holds for DNS names (localhost resolves to loopback here).
        let via_name = serve("127.0.0.2", redirect_to(&format!("http://localhost:{internal}/internal"))).await;
        let policy = FetchPolicy::new(false).exempting("127.0.0.2".parse().unwrap());
        let error = client(policy).unwrap().get(format!("http://127.0.0.2:{via_name}/feed")).send().await;
        let text = describe(error.unwrap_err());
        assert!(text.contains("localhost (") && text.contains("feeds.allow_private"), "{text}");
    }
}
