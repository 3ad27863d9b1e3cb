//! Broadsheet: newsletter subscriptions with double opt-in, and digests sent over SMTP.
//!
//! `main.rs` is a thin CLI over this library; the integration tests drive the same code.

pub mod app;
pub mod cli;
pub mod config;
pub mod content;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod inbound;
pub mod mail;
pub mod ops;
pub mod signup;
pub mod store;
pub mod telemetry;
pub mod worker;
