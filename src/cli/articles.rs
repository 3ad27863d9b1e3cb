use std::io::Read as _;
use std::path::PathBuf;

use clap::Subcommand;
use sqlx::PgPool;

use super::CliError;
use crate::config::Settings;
use crate::domain::MAX_BODY_BYTES;
use crate::ops::{OpsError, feeds};
use crate::store::articles;

#[derive(Debug, Subcommand)]
pub enum ArticlesCommand {
    /// Add an article; prints its id.
    Add {
        #[arg(long)]
        title: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        summary: Option<String>,
        /// Markdown file, or - for standard input.
        #[arg(long)]
        body: PathBuf,
    },
    /// List articles, newest first.
    List,
    /// Import an RSS or Atom feed (file path or http(s) URL); entries already imported are skipped.
    Import { feed: String },
}

pub async fn run_articles(db: &PgPool, settings: &Settings, command: ArticlesCommand) -> Result<(), CliError> {
    match command {
        ArticlesCommand::Add { title, url, summary, body } => {
            let text = read_body(&body)?;
            let id = crate::ops::articles::add(db, &title, &text, url.as_deref(), summary.as_deref()).await.map_err(
                |e| match e {
                    // Named as the option that carries it.
                    OpsError::Invalid { field, message } => CliError::Usage(format!("--{field}: {message}")),
                    other => other.into(),
                },
            )?;
            println!("{id}");
        }
        ArticlesCommand::Import { feed } => {
            let policy = feeds::FetchPolicy::new(settings.feeds.allow_private);
            let report = feeds::import(db, &feed, policy).await.map_err(|e| match e {
                feeds::FeedError::Database(e) => CliError::from(e),
                other => CliError::Usage(other.to_string()),
            })?;
            println!(
                "{} new articles, {} already imported, {} entries without content skipped",
                report.added, report.known, report.skipped
            );
        }
        ArticlesCommand::List => {
            for a in articles::list(db, 1000).await? {
                let state = if a.digest_id.is_some() { "sent" } else { "new" };
                // Titles are cleaned on the way in; rows stored before that are cleaned here, so no
                // escape sequence reaches the terminal.
                let title = crate::domain::single_line(&a.title);
                println!("{}  {}  {:<4}  {}", a.id, a.created_at.format("%Y-%m-%d %H:%M"), state, title);
            }
        }
    }
    Ok(())
}

fn read_body(path: &PathBuf) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    let limit = (MAX_BODY_BYTES + 1) as u64;
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Usage(format!("--body -: cannot read standard input: {e}")))?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| CliError::Usage(format!("--body {}: {e}", path.display())))?;
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Usage(format!("--body {}: {e}", path.display())))?;
    }
    String::from_utf8(bytes).map_err(|_| CliError::Usage("--body: the file is not UTF-8 text".to_owned()))
}
