//! Newtypes that parse outside input once; the rest of the code cannot hold an unchecked value.

mod article;
mod base_url;
mod email;
mod name;
mod status;
mod text;
mod token;

pub use article::{ArticleInput, FieldError, MAX_BODY_BYTES, parse_idempotency_key, parse_subject};
pub use base_url::BaseUrl;
pub use email::{EmailError, SubscriberEmail};
pub use name::{NameError, SubscriberName};
pub use status::SubscriberStatus;
pub use text::{multi_line, single_line};
pub use token::{Token, TokenHash};
