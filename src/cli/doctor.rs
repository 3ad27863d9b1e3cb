//! `broadsheet doctor`: checks what an operator gets wrong about deliverability and prints the
//! DNS records to publish. Makes no network calls.

use super::CliError;
use crate::config::Settings;
use crate::ops::doctor::{self, Level};

pub fn run_doctor(settings: &Settings) -> Result<(), CliError> {
    let checkup = doctor::check(settings);
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
