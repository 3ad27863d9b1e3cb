//! `broadsheet doctor`: checks what an operator gets wrong about deliverability and prints the
//! DNS records to publish. Makes no network calls unless asked (`--dns`).

use super::CliError;
use crate::config::Settings;
use crate::ops::doctor::{self, Level};

/// `dns`: look the records up (`--dns`); `server`: the nameserver to ask (`--dns-server`).
pub async fn run_doctor(settings: &Settings, dns: bool, server: Option<&str>) -> Result<(), CliError> {
    let server = server
        .map(|s| {
            s.parse::<std::net::SocketAddr>()
                .map_err(|_| CliError::Usage(format!("--dns-server: {s:?} is not IP:PORT")))
        })
        .transpose()?;
    let mut checkup = doctor::check(settings);
    if dns || server.is_some() {
        let found = doctor::check_dns(&checkup, server).await;
        checkup.findings.extend(found);
    }
    for finding in &checkup.findings {
        let tag = match finding.level {
            Level::Ok => "ok   ",
            Level::Warn => "warn ",
            Level::Error => "ERROR",
        };
        println!("{tag} {}", finding.message);
    }
    println!("\nDNS records to publish:");
    for record in &checkup.records {
        println!("  {} {} \"{}\"\n      ({})", record.name, record.kind, record.value, record.why);
    }
    if checkup.has_errors() {
        return Err(CliError::Usage("the configuration has errors (marked ERROR above)".to_owned()));
    }
    Ok(())
}
