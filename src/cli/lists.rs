//! `broadsheet lists …`: add, list, edit and remove lists.

use clap::Subcommand;
use sqlx::PgPool;

use super::CliError;
use crate::config::Settings;
use crate::ops::lists::{self as ops, ListInput};
use crate::store::lists::ListWithCounts;

#[derive(Debug, Subcommand)]
pub enum ListsCommand {
    /// Create a list (public and double opt-in unless told otherwise).
    Add {
        /// Lower-case letters, digits and hyphens, e.g. `weekly`; used in links and List-Id.
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Not offered on the signup and preference pages; members are added by the operator.
        #[arg(long)]
        private: bool,
        /// Join at once, without a confirmation mail.
        #[arg(long)]
        single_opt_in: bool,
        /// Cron schedule for automatic digests to this list, in digests.timezone (e.g. "0 9 * * MON").
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Every list with its member counts.
    List,
    /// One list with its member counts.
    Show { slug: String },
    /// Change a list; options not given stay as they are.
    Edit {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "public")]
        private: bool,
        #[arg(long)]
        public: bool,
        #[arg(long, conflicts_with = "double_opt_in")]
        single_opt_in: bool,
        #[arg(long)]
        double_opt_in: bool,
        /// A cron schedule, or "" to stop automatic digests to this list.
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Remove a list and its memberships (refused while a digest to it is scheduled, or once
    /// digests were sent to it).
    Remove { slug: String },
}

pub async fn run_lists(db: &PgPool, settings: &Settings, command: ListsCommand) -> Result<(), CliError> {
    let zone = settings.timezone().name().to_owned();
    match command {
        ListsCommand::Add { slug, name, description, private, single_opt_in, schedule } => {
            let input = ListInput {
                name: Some(name),
                description,
                public: Some(!private),
                double_opt_in: Some(!single_opt_in),
                schedule,
            };
            let list = ops::add(db, &slug, &input, &zone).await?;
            println!("list {} created", list.slug);
        }
        ListsCommand::List => {
            println!(
                "{:<20} {:>9} {:>9} {:>12}  {:<7} {:<6} name",
                "slug", "confirmed", "pending", "unsubscribed", "", ""
            );
            for l in ops::all_with_counts(db).await? {
                print_row(&l);
            }
        }
        ListsCommand::Show { slug } => {
            let l = ops::show(db, &slug).await?;
            println!("slug          {}", l.list.slug);
            println!("name          {}", l.list.name);
            if !l.list.description.is_empty() {
                println!("description   {}", l.list.description);
            }
            println!("visibility    {}", if l.list.public { "public" } else { "private" });
            println!("opt-in        {}", if l.list.double_opt_in { "double" } else { "single" });
            println!("schedule      {}", l.list.schedule.as_deref().unwrap_or("none"));
            println!("confirmed     {}", l.members.confirmed);
            println!("pending       {}", l.members.pending);
            println!("unsubscribed  {}", l.members.unsubscribed);
            println!("reachable     {} (confirmed here, address in good standing)", l.reachable);
        }
        ListsCommand::Edit { slug, name, description, private, public, single_opt_in, double_opt_in, schedule } => {
            let input = ListInput {
                name,
                description,
                public: flag(public, private),
                double_opt_in: flag(double_opt_in, single_opt_in),
                schedule,
            };
            let list = ops::edit(db, &slug, &input, &zone).await?;
            println!("list {} changed", list.slug);
        }
        ListsCommand::Remove { slug } => {
            ops::remove(db, &slug).await?;
            println!("list {slug} removed");
        }
    }
    Ok(())
}

/// `--public` / `--private` (and the opt-in pair): one of them, or neither (unchanged).
fn flag(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn print_row(l: &ListWithCounts) {
    println!(
        "{:<20} {:>9} {:>9} {:>12}  {:<7} {:<6} {}",
        l.list.slug,
        l.members.confirmed,
        l.members.pending,
        l.members.unsubscribed,
        if l.list.public { "public" } else { "private" },
        if l.list.double_opt_in { "double" } else { "single" },
        l.list.name
    );
}
