//! TXT lookups for `broadsheet doctor --dns`, through hickory-resolver: it sends EDNS0 and asks
//! again over TCP when a UDP answer comes back truncated, which a 4096-bit DKIM key (over 512
//! bytes) needs.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;

/// The first `nameserver` in /etc/resolv.conf. Read here rather than through hickory's
/// system-config feature: that one line is all we take from the file.
pub fn system_nameserver() -> Option<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines().find_map(|line| {
        let address = line.trim().strip_prefix("nameserver")?.trim();
        address.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The TXT records of `name` (each record's strings joined), empty when the name does not exist
/// or has no TXT record. `timeout` bounds the whole lookup, a retry over TCP included.
pub async fn txt(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<String>, String> {
    let resolver = resolver(server, timeout);
    // Fully qualified: no search domains appended, whatever the dots.
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let too_slow = || format!("{server} did not answer within {} s", timeout.as_secs_f64());
    let lookup = tokio::time::timeout(timeout, resolver.txt_lookup(fqdn)).await.map_err(|_| too_slow())?;
    match lookup {
        Ok(found) => Ok(found
            .iter()
            .map(|record| {
                let text: Vec<u8> = record.iter().flat_map(|s| s.iter().copied()).collect();
                String::from_utf8_lossy(&text).into_owned()
            })
            .collect()),
        Err(e) => match e.proto().map(|p| p.kind()) {
            Some(ProtoErrorKind::NoRecordsFound {
                response_code: ResponseCode::NXDomain | ResponseCode::NoError,
                ..
            }) => Ok(Vec::new()),
            Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => {
                Err(format!("the nameserver answered with error code {} ({response_code})", u16::from(*response_code)))
            }
            Some(ProtoErrorKind::Timeout) => Err(too_slow()),
            _ => Err(format!("cannot ask {server}: {e}")),
        },
    }
}

/// A resolver that asks `server` alone, over UDP first and over TCP for truncated answers.
pub(super) fn resolver(server: SocketAddr, timeout: Duration) -> Resolver<TokioConnectionProvider> {
    let mut config = ResolverConfig::new();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        config.add_name_server(NameServerConfig::new(server, protocol));
    }
    let mut options = ResolverOpts::default();
    // Room for a 4096-bit key in one UDP answer where the server allows it; TCP otherwise.
    options.edns0 = true;
    // Two tries over UDP (a datagram can be lost) within the caller's bound.
    options.attempts = 2;
    options.timeout = timeout / 2;
    // One lookup per resolver, and the doctor reports what the nameserver says, not /etc/hosts.
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    Resolver::builder_with_config(config, TokioConnectionProvider::default()).with_options(options).build()
}
