use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use sqlx::PgPool;
use uuid::Uuid;

use super::{CliError, parse_ids};
use crate::config::Settings;
use crate::mail::Composer;
use crate::ops::digests as ops;
use crate::store::digests::{self, Progress};

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Render the next digest to standard output; sends nothing.
    Preview {
        /// The list whose next digest to show (default: `default`).
        #[arg(long)]
        list: Option<String>,
        /// Comma-separated article ids (default: articles not yet in a digest to the list).
        #[arg(long)]
        articles: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Queue the digest for every confirmed subscriber; prints its id and recipient count.
    Send {
        /// The list it goes to (default: `default`).
        #[arg(long)]
        list: Option<String>,
        /// Only the list's members this segment matches, e.g. 'attributes.plan = "pro"'
        /// (see docs/segments.md).
        #[arg(long)]
        segment: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// Comma-separated article ids (default: articles not yet in a digest).
        #[arg(long)]
        articles: Option<String>,
        /// Schedule it for this time instead of now (RFC 3339, e.g. 2026-12-07T09:00:00+01:00);
        /// it then goes to those confirmed when it starts. `digest cancel ID` until then.
        #[arg(long, value_name = "TIME", conflicts_with = "wait")]
        at: Option<String>,
        /// Show progress until every message is sent or failed (a worker must be running).
        #[arg(long)]
        wait: bool,
    },
    /// Cancel a scheduled digest; its articles go back to the next digest.
    Cancel { id: String },
    /// Counts for one digest: recipients, sent, pending, failed.
    Status { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Html,
}

pub async fn run_digest(db: &PgPool, settings: &Settings, command: DigestCommand) -> Result<(), CliError> {
    match command {
        DigestCommand::Preview { list, articles, format } => {
            let ids = articles.as_deref().map(parse_ids).transpose()?;
            let mut composer =
                Composer::new(&settings.mail, settings.http.base_url.clone(), settings.subscriptions.token_ttl_hours)?;
            composer.default_locale = settings.subscriptions.default_locale();
            let rendered = ops::preview(db, &composer, list.as_deref(), None, ids.as_deref()).await?;
            match format {
                Format::Text => println!("Subject: {}\n\n{}", rendered.subject, rendered.text),
                Format::Html => println!("{}", rendered.html),
            }
        }
        DigestCommand::Send { list, segment, subject, articles, at, wait } => {
            let ids = articles.as_deref().map(parse_ids).transpose()?;
            let send_at = at.as_deref().map(|raw| ops::parse_send_at("at", raw, chrono::Utc::now())).transpose()?;
            let newsletter = settings.newsletter_name();
            let created = ops::send(
                db,
                &newsletter,
                list.as_deref(),
                segment.as_deref(),
                subject.as_deref(),
                ids.as_deref(),
                None,
                send_at,
            )
            .await?;
            match created.send_at {
                Some(at) => println!(
                    "digest {} scheduled for {} ({})",
                    created.id,
                    at.to_rfc3339(),
                    at.with_timezone(&settings.timezone()).format("%Y-%m-%d %H:%M %Z")
                ),
                None => println!("digest {} queued for {} recipients", created.id, created.recipients),
            }
            if wait {
                watch(db, created.id).await?;
            }
        }
        DigestCommand::Cancel { id } => {
            let id = digest_id(&id)?;
            ops::cancel(db, id).await?;
            println!("digest {id} cancelled");
        }
        DigestCommand::Status { id } => {
            let id = digest_id(&id)?;
            let progress =
                digests::progress(db, id).await?.ok_or_else(|| CliError::Usage(format!("there is no digest {id}")))?;
            println!("digest      {}", progress.id);
            println!("subject     {}", progress.subject);
            println!("status      {}", progress.status);
            if let Some(at) = progress.send_at {
                println!("send at     {}", at.with_timezone(&settings.timezone()).format("%Y-%m-%d %H:%M %Z"));
            }
            println!("recipients  {}", progress.recipients);
            println!("sent        {}", progress.sent);
            println!("pending     {}", progress.pending);
            println!("failed      {}", progress.failed);
            println!("skipped     {}", progress.skipped);
        }
    }
    Ok(())
}

fn digest_id(raw: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(raw.trim()).map_err(|_| CliError::Usage(format!("{raw:?} is not a digest id (a UUID)")))
}

/// A progress bar on a terminal, a line every few seconds otherwise, until nothing is pending.
async fn watch(db: &PgPool, id: Uuid) -> Result<(), CliError> {
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_line = Instant::now() - Duration::from_secs(60);
    let mut last_done = -1;
    let mut stalled_since = Instant::now();
    let mut warned = false;
    loop {
        let p = digests::progress(db, id).await?.ok_or_else(|| CliError::Usage(format!("there is no digest {id}")))?;
        let done = p.sent + p.failed + p.skipped;
        if done != last_done {
            last_done = done;
            stalled_since = Instant::now();
        }
        if terminal {
            eprint!("\r{}", bar(&p, started.elapsed()));
            let _ = std::io::stderr().flush();
        } else if last_line.elapsed() >= Duration::from_secs(5) || p.pending == 0 {
            eprintln!("{}", line(&p, started.elapsed()));
            last_line = Instant::now();
        }
        if p.pending == 0 {
            if terminal {
                eprintln!();
            }
            println!("done: {} sent, {} failed, {} skipped of {}", p.sent, p.failed, p.skipped, p.recipients);
            return Ok(());
        }
        if !warned && stalled_since.elapsed() > Duration::from_secs(15) {
            eprintln!("\nno progress for 15 s: is a worker running? (`broadsheet` or `broadsheet worker`)");
            warned = true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn line(p: &Progress, elapsed: Duration) -> String {
    let done = p.sent + p.failed + p.skipped;
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    format!(
        "{done}/{} done ({} sent, {} failed, {} pending) {rate:.0} msg/s",
        p.recipients, p.sent, p.failed, p.pending
    )
}

fn bar(p: &Progress, elapsed: Duration) -> String {
    const WIDTH: i64 = 30;
    let done = p.sent + p.failed + p.skipped;
    let filled = if p.recipients > 0 { (done * WIDTH / p.recipients).clamp(0, WIDTH) } else { WIDTH };
    let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '.' }).collect();
    format!("[{bar}] {}", line(p, elapsed))
}
