//! SQL, one module per aggregate. Queries are checked against the schema at compile time
//! (`sqlx::query!`, with the offline data in `.sqlx/`).

pub mod articles;
pub mod bounces;
pub mod chunks;
pub mod deliveries;
pub mod digests;
pub mod imports;
pub mod lifecycle;
pub mod pool;
pub mod sessions;
pub mod signups;
pub mod subscribers;
pub mod tokens;
pub mod webhook_messages;
pub mod webhooks;
