//! lambdad's shared vocabulary: the Lambda domain and wire types, their
//! validation, and the error codes every layer maps to AWS's exceptions.
//!
//! Nothing here does I/O: no tokio, no SQL, no HTTP. The CLI, the API, the
//! engine and the store all depend on this crate and on nothing of each other
//! through it.
#![forbid(unsafe_code)]

pub mod arn;
pub mod error;
pub mod eventpattern;
pub mod function;
pub mod gateway;
pub mod iam;
pub mod logfilter;
pub mod policy;
pub mod schedule;
pub mod snapshot;
pub mod url;
pub mod validate;

pub use error::{AwsError, Code, ErrorCode};
pub use snapshot::{ImageRun, NetworkMode, VersionSnapshot};
