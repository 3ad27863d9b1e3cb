//! Newtypes that parse outside input once; the rest of the code cannot hold an unchecked value.

mod article;
mod base_url;
mod content;
mod email;
mod link_token;
mod name;
mod schedule;
mod status;
mod text;
mod token;
mod webhook;

pub use article::{ArticleInput, FieldError, MAX_BODY_BYTES, parse_idempotency_key, parse_subject};
pub use base_url::BaseUrl;
pub use content::{Article, BodyFormat, DigestContent};
pub use email::{EmailError, SubscriberEmail};
pub use link_token::{Claims, KeyError, LinkToken, MIN_KEY_BYTES, TokenKeys, TokenPurpose};
pub use name::{NameError, SubscriberName};
pub use schedule::Schedule;
pub use status::{DeliveryStatus, DigestStatus, SubscriberStatus};
pub use text::{multi_line, single_line};
pub use token::{Token, TokenHash};
pub use webhook::{EventType, WebhookSecret, WebhookUrl};
