//! Newtypes that parse outside input once; the rest of the code cannot hold an unchecked value.

mod api_key;
mod article;
mod attributes;
mod base_url;
mod content;
mod email;
mod link_token;
mod list;
mod locale;
mod name;
mod schedule;
mod scope;
pub mod segment;
mod status;
mod text;
mod token;
mod webhook;

pub use api_key::{ApiKey, KEY_PREFIX, KeyName, KeyNameError};
pub use article::{ArticleInput, FieldError, MAX_BODY_BYTES, parse_idempotency_key, parse_subject};
pub use attributes::{Attributes, is_attribute_key};
pub use base_url::BaseUrl;
pub use content::{Article, BodyFormat, DigestContent, DigestList};
pub use email::{EmailError, SubscriberEmail};
pub use link_token::{Claims, KeyError, LinkToken, MIN_KEY_BYTES, Stamp, StampPurpose, TokenKeys, TokenPurpose};
pub use list::{ListSlug, ListSlugError, MembershipStatus};
pub use locale::Locale;
pub use name::{NameError, SubscriberName};
pub use schedule::Schedule;
pub use scope::{Scope, ScopeError, Scopes};
pub use segment::{Segment, SegmentError};
pub use status::{DeliveryStatus, DigestStatus, SubscriberStatus};
pub use text::{multi_line, single_line};
pub use token::{Token, TokenHash};
pub use webhook::{EventType, WebhookSecret, WebhookUrl};
