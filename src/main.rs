//! The `broadsheet` command line. Exit codes: 0 ok, 2 usage or bad input, 75 try again later
//! (`inbound`: the MTA keeps the message), 1 anything else.

use std::process::ExitCode;

use anyhow::Context as _;
use broadsheet::app::{Application, close_pool, shutdown_signal};
use broadsheet::cli::{
    ArticlesCommand, CliError, DigestCommand, KeysCommand, ListsCommand, SubscribersCommand, WebhooksCommand,
    run_articles, run_digest, run_doctor, run_inbound, run_keys, run_lists, run_subscribers, run_webhooks,
};
use broadsheet::config::{Purpose, Settings};
use broadsheet::worker::Worker;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's malloc: allocation was a seventh of the service's CPU per signup.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "broadsheet",
    version,
    about = "Newsletter subscriptions with double opt-in, and digests sent over SMTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP service and sending worker in one process (the default).
    Serve {
        /// Serve HTTP only; run `broadsheet worker` elsewhere to send mail.
        #[arg(long)]
        no_worker: bool,
    },
    /// Sending worker only; run as many as you like against one database.
    Worker,
    /// Create the database if needed, apply migrations and exit.
    Migrate,
    /// Add and list articles.
    #[command(subcommand)]
    Articles(ArticlesCommand),
    /// Preview, send and watch digests.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// Process one inbound mail on stdin: a bounce report, a complaint, an automatic reply or an
    /// unsubscribe request. Exit 0 when handled or ignored, 75 to make the MTA try again later.
    Inbound {
        /// The address the MTA delivered the message to (Postfix: `${original_recipient}`).
        #[arg(long)]
        recipient: Option<String>,
    },
    /// Check the deliverability settings (DKIM, bounce address, alignment) and print the DNS
    /// records to publish. No network calls unless asked.
    Doctor {
        /// Also look the TXT records up (DKIM, SPF, DMARC) and say which are published.
        #[arg(long)]
        dns: bool,
        /// The nameserver to ask, IP:PORT (default: the first in /etc/resolv.conf); implies --dns.
        #[arg(long, value_name = "ADDR")]
        dns_server: Option<String>,
    },
    /// Import, add, export, show and erase subscribers.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Add, list, edit and remove lists.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Create, list and revoke API keys (scoped credentials for scripts).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Add, list and remove event webhook endpoints (signed per Standard Webhooks).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

fn main() -> ExitCode {
    // `inbound` runs in an MTA's pipe, which bounces a message back to its sender on any exit
    // but 0 and 75: whatever is wrong with how it is called or configured, the report waits (75)
    // until the operator fixes it, instead of going back to where it came from.
    let inbound = std::env::args().nth(1).is_some_and(|a| a == "inbound");
    let unusable = ExitCode::from(if inbound { 75 } else { 2 });
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { unusable } else { ExitCode::SUCCESS };
        }
    };
    let purpose = if inbound { Purpose::Inbound } else { Purpose::Everything };
    let settings = match Settings::load_for(purpose) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("broadsheet: {e}");
            return unusable;
        }
    };
    broadsheet::telemetry::init(settings.log.format);
    // One rustls crypto provider (ring) for every TLS connection the process makes.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("broadsheet: cannot start the async runtime: {e}");
            return if inbound { unusable } else { ExitCode::FAILURE };
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve { no_worker: false }), settings));
    // Whatever is still running (a blocking render, a task that ignored the shutdown) must not
    // keep the process alive past the bound the stop promises.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // An MTA pipe reads the exit code: 75 (EX_TEMPFAIL) keeps the message for a later try.
        Err(CliError::TryLater(message)) => {
            eprintln!("broadsheet: {message}");
            ExitCode::from(75)
        }
        Err(CliError::Usage(message)) => {
            eprintln!("broadsheet: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Other(e)) => {
            eprintln!("broadsheet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), CliError> {
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    match command {
        Command::Serve { no_worker } => {
            let app = Application::build(settings, !no_worker).await?;
            Ok(app.run(shutdown).await?)
        }
        Command::Worker => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            let worker = Worker::new(db.clone(), &settings, Default::default())?;
            // On the runtime's threads rather than this one (blocked in `block_on`): each send
            // its loop starts is then picked up by the thread that started it, not handed from
            // the main thread to a woken worker thread.
            tokio::spawn(worker.run(shutdown)).await.context("worker stopped abnormally")?.context("worker failed")?;
            close_pool(&db).await;
            Ok(())
        }
        Command::Migrate => {
            broadsheet::store::pool::connect(&settings.database).await?;
            eprintln!("broadsheet: database is up to date");
            Ok(())
        }
        Command::Articles(command) => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            until_interrupted(run_articles(&db, &settings, command), &shutdown).await
        }
        Command::Inbound { recipient } => run_inbound(&settings, recipient.as_deref()).await,
        Command::Doctor { dns, dns_server } => run_doctor(&settings, dns, dns_server.as_deref()).await,
        Command::Digest(command) => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            until_interrupted(run_digest(&db, &settings, command), &shutdown).await
        }
        Command::Subscribers(command) => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            until_interrupted(run_subscribers(&db, command), &shutdown).await
        }
        Command::Lists(command) => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            until_interrupted(run_lists(&db, &settings, command), &shutdown).await
        }
        Command::Keys(command) => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            until_interrupted(run_keys(&db, command), &shutdown).await
        }
        Command::Webhooks(command) => {
            let db = broadsheet::store::pool::connect(&settings.database).await?;
            until_interrupted(run_webhooks(&db, &settings, command), &shutdown).await
        }
    }
}

/// The signal handler above replaces the default "Ctrl-C ends the process", so a one-off
/// command must give up by itself (`digest send --wait` would otherwise watch forever). What it
/// wrote is either committed or rolled back; a queued digest keeps sending in the worker.
async fn until_interrupted(
    command: impl Future<Output = Result<(), CliError>>,
    shutdown: &CancellationToken,
) -> Result<(), CliError> {
    tokio::select! {
        result = command => result,
        () = shutdown.cancelled() => {
            eprintln!("\nbroadsheet: interrupted");
            Ok(())
        }
    }
}
