//! The HTTP error type lives in `http::error`. This re-export keeps the operator actions
//! (`digest`) and the CLI, which still speak it, compiling until they get their own error type
//! (issue 11); then it goes.

pub use crate::http::error::{Error, PageError};
