//! Operator actions shared by the CLI and the admin API (JSON and console): adding articles,
//! importing feeds, subscribers in and out (import, add, export, show, erase), choosing, previewing and queueing digests, API keys. They take plain inputs and return
//! [`OpsError`], which knows nothing of HTTP or exit codes: each caller maps it.

pub mod articles;
pub mod digests;
mod dns;
pub mod doctor;
mod error;
pub mod feeds;
pub mod inbound;
pub mod keys;
pub mod lists;
pub mod mail_domain;
pub mod providers;
pub mod segments;
pub mod subscribers;
pub mod webhooks;

pub use self::error::OpsError;
