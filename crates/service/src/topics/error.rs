//! SNS's errors: each variant's message and, in [`TopicsError::shape`], its
//! Query protocol code (`<Error><Code>`), its HTTP status and whether the
//! sender is at fault.

use crate::error::ServiceError;

/// Why an SNS request failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    /// No such topic in this account.
    #[error("Topic does not exist")]
    TopicNotFound,
    /// No such subscription.
    #[error("Subscription does not exist")]
    SubscriptionNotFound,
    /// No such resource (tagging).
    #[error("Resource does not exist")]
    ResourceNotFound,
    /// A parameter is missing or invalid (`Invalid parameter: …`).
    #[error("Invalid parameter: {0}")]
    InvalidParameter(String),
    /// A parameter's value is invalid (`ParameterValueInvalid`).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A batch without entries.
    #[error("The batch request doesn't contain any entries")]
    EmptyBatchRequest,
    /// A batch of more than ten entries.
    #[error("The batch request contains more entries than permissible.")]
    TooManyEntries,
    /// Two entries of a batch with one id.
    #[error("Two or more batch entries in the request have the same Id.")]
    BatchEntryIdsNotDistinct,
    /// A batch entry id SNS does not accept.
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    /// The topic's access policy does not let the caller do this.
    #[error("{0}")]
    AuthorizationError(String),
    /// The store failed.
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

/// How an error goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorShape {
    /// The Query protocol's error code.
    pub code: &'static str,
    /// The HTTP status.
    pub status: u16,
}

impl TopicsError {
    /// The error's wire shape (botocore's sns model: `NotFoundException` is
    /// code `NotFound`, 404; `InvalidParameterException` `InvalidParameter`, 400; …).
    pub fn shape(&self) -> ErrorShape {
        let (code, status) = match self {
            Self::TopicNotFound | Self::SubscriptionNotFound => ("NotFound", 404),
            Self::ResourceNotFound => ("ResourceNotFound", 404),
            Self::InvalidParameter(_) => ("InvalidParameter", 400),
            Self::InvalidParameterValue(_) => ("ParameterValueInvalid", 400),
            Self::EmptyBatchRequest => ("EmptyBatchRequest", 400),
            Self::TooManyEntries => ("TooManyEntriesInBatchRequest", 400),
            Self::BatchEntryIdsNotDistinct => ("BatchEntryIdsNotDistinct", 400),
            Self::InvalidBatchEntryId => ("InvalidBatchEntryId", 400),
            Self::AuthorizationError(_) => ("AuthorizationError", 403),
            Self::Internal(_) => ("InternalError", 500),
        };
        ErrorShape { code, status }
    }

    /// Whether the sender is at fault.
    pub fn sender(&self) -> bool {
        self.shape().status < 500
    }
}

/// An invalid parameter named `what`.
pub(crate) fn invalid(what: impl Into<String>) -> TopicsError {
    TopicsError::InvalidParameter(what.into())
}
