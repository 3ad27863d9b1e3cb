//! `broadsheet doctor`: the configuration mistakes that send mail to spam or lose bounces,
//! checked without the network, and the DNS records to publish, printed exactly.

use serde::Serialize;

use crate::config::Settings;
use crate::mail::DkimSigner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub level: Level,
    pub message: String,
}

/// A DNS record to publish.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub name: String,
    pub kind: &'static str,
    pub value: String,
    pub why: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checkup {
    pub findings: Vec<Finding>,
    pub records: Vec<Record>,
}

impl Checkup {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Error)
    }
}

/// DMARC's relaxed alignment compares organisational domains; the last two labels are a fair
/// stand-in without a public-suffix list (it misjudges `co.uk`-style suffixes, and then errs
/// towards a warning).
fn organisational(domain: &str) -> String {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".").to_ascii_lowercase()
}

pub fn check(settings: &Settings) -> Checkup {
    let mut findings = Vec::new();
    let mut records = Vec::new();
    let mut say = |level: Level, message: String| findings.push(Finding { level, message });
    let mail = &settings.mail;
    let from_domain = mail.from.email.domain().to_ascii_lowercase();
    say(Level::Ok, format!("mail.from is {} (domain {from_domain})", mail.from.email));

    match mail.dkim_signer() {
        Ok(Some(signer)) => {
            let aligned = organisational(&signer.domain) == organisational(&from_domain);
            if aligned {
                say(Level::Ok, format!("DKIM signs as d={} with selector {}, aligned with mail.from", signer.domain, signer.selector));
            } else {
                say(Level::Error, format!(
                    "DKIM signs as d={} but mail.from is at {from_domain}: DMARC needs them aligned (set mail.dkim.domain to {from_domain})",
                    signer.domain
                ));
            }
            match round_trip(&signer) {
                Ok(()) => say(Level::Ok, "the DKIM key signs, and the public key below verifies what it signs".to_owned()),
                Err(e) => say(Level::Error, format!("the DKIM key does not sign: {e}")),
            }
            let (name, value) = signer.dns_record();
            records.push(Record { name, kind: "TXT", value, why: "DKIM public key" });
        }
        Ok(None) => say(
            Level::Warn,
            "mail is not DKIM-signed: Gmail and Yahoo require DKIM from bulk senders (set mail.dkim.domain, .selector, .private_key)"
                .to_owned(),
        ),
        Err(e) => say(Level::Error, format!("{}: {}", e.key, e.message)),
    }

    let envelope_domain = match mail.bounce_address() {
        Ok(Some(_)) => {
            let domain =
                mail.bounce_address.as_deref().and_then(|a| a.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase());
            let domain = domain.unwrap_or_default();
            if organisational(&domain) == organisational(&from_domain) {
                say(
                    Level::Ok,
                    format!("bounces go to tagged addresses at {domain} (VERP), aligned with mail.from for SPF"),
                );
            } else {
                say(
                    Level::Warn,
                    format!(
                        "mail.bounce_address is at {domain} but mail.from at {from_domain}: SPF will not align for DMARC"
                    ),
                );
            }
            records.push(Record {
                name: domain.clone(),
                kind: "MX",
                value: "10 <the host running Postfix with the broadsheet pipe>".to_owned(),
                why: "bounce reports reach `broadsheet inbound`",
            });
            domain
        }
        Ok(None) => {
            say(
                Level::Warn,
                "mail.bounce_address is not set: bounce reports go to mail.from and are matched only by address"
                    .to_owned(),
            );
            from_domain.clone()
        }
        Err(e) => {
            say(Level::Error, format!("{}: {}", e.key, e.message));
            from_domain.clone()
        }
    };
    if let Some(mailto) = &mail.unsubscribe_mailto {
        say(Level::Ok, format!("List-Unsubscribe also offers mailto:{mailto}; feed its mail to `broadsheet inbound`"));
    }
    if !settings.http.base_url.is_https() {
        say(
            Level::Warn,
            format!("http.base_url {} is not https: links in mail should be", settings.http.base_url.as_str()),
        );
    }
    records.push(Record {
        name: envelope_domain,
        kind: "TXT",
        value: "v=spf1 ip4:<your sending server's address> -all".to_owned(),
        why: "SPF for the envelope sender (add include: for a relay you send through)",
    });
    records.push(Record {
        name: format!("_dmarc.{}", organisational(&from_domain)),
        kind: "TXT",
        value: format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{}; adkim=r; aspf=r", organisational(&from_domain)),
        why: "DMARC: start with p=none and watch the reports, then quarantine",
    });
    Checkup { findings, records }
}

/// Signs a small message and checks the signature with the public key derived from it.
fn round_trip(signer: &DkimSigner) -> Result<(), String> {
    let signed = signer.sign(b"From: a@b.example\r\nSubject: doctor\r\n\r\nhello\r\n");
    signer.verify_own(&signed)
}

/// `--dns`: looks up the TXT records the checkup asks for and says which are published as
/// printed. `server` is a nameserver's address (default: the first in /etc/resolv.conf).
pub async fn check_dns(checkup: &Checkup, server: Option<std::net::SocketAddr>) -> Vec<Finding> {
    let Some(server) = server.or_else(super::dns::system_nameserver) else {
        return vec![Finding {
            level: Level::Error,
            message: "no nameserver to ask (none in /etc/resolv.conf)".to_owned(),
        }];
    };
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut findings = Vec::new();
    for record in checkup.records.iter().filter(|r| r.kind == "TXT") {
        let found = match super::dns::txt(server, &record.name, std::time::Duration::from_secs(5)).await {
            Ok(found) => found,
            Err(e) => {
                findings.push(Finding { level: Level::Error, message: format!("DNS: {} TXT: {e}", record.name) });
                continue;
            }
        };
        // The DKIM key must be exactly what we sign with; SPF and DMARC are ours to suggest.
        let prefix = record.value.split(';').next().unwrap_or_default().split(' ').next().unwrap_or_default();
        let (level, message) = if record.why == "DKIM public key" {
            if found.iter().any(|f| compact(f) == compact(&record.value)) {
                (Level::Ok, format!("DNS: {} publishes the DKIM key that signs", record.name))
            } else if found.is_empty() {
                (Level::Error, format!("DNS: {} has no TXT record; publish the one above", record.name))
            } else {
                (Level::Error, format!("DNS: {} publishes another key than the one that signs", record.name))
            }
        } else if found.iter().any(|f| f.starts_with(prefix)) {
            (Level::Ok, format!("DNS: {} has a {prefix} record", record.name))
        } else {
            (Level::Warn, format!("DNS: {} has no {prefix} record", record.name))
        };
        findings.push(Finding { level, message });
    }
    findings
}
