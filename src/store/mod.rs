//! SQL, one module per aggregate. Queries are checked against the schema at compile time
//! (`sqlx::query!`, with the offline data in `.sqlx/`).

pub mod api_keys;
pub mod articles;
pub mod bounces;
pub mod chunks;
pub mod deliveries;
pub mod digests;
pub mod imports;
pub mod lifecycle;
pub mod lists;
pub mod pool;
pub mod retry;
pub mod segments;
pub mod sessions;
pub mod signups;
pub mod subscribers;
pub mod tokens;
pub mod webhook_messages;
pub mod webhook_tokens;
pub mod webhooks;
