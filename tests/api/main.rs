//! End-to-end tests: the real application on its own Postgres database, mail over a real SMTP
//! socket. Each test reads like the story it checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod abuse;
mod archive;
mod bots;
mod browser;
mod chunks;
mod cli;
mod confirm;
mod connections;
mod console;
mod console_lists;
mod deliverability;
mod delivery;
mod digest;
mod exports;
mod feeds;
mod handover;
mod hardening;
mod inbound;
mod invalid_input;
mod keys;
mod languages;
mod lifecycle;
mod lists;
mod openapi;
mod pipelining;
mod preferences;
mod providers;
mod recording;
mod references;
mod restarts;
mod schedules;
mod segments;
mod signup;
mod subscribers;
mod tls;
mod tokens;
mod unsubscribe;
mod webhooks;
mod workers;
