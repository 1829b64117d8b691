//! SQS's errors: each variant's message and, in [`QueuesError::shape`],
//! its exception shape (the JSON protocol's `__type`), its code in the
//! Query protocol (the `x-amzn-query-error` header the SDKs read as the
//! error code) and whether the sender is at fault.

use crate::error::ServiceError;

/// Largest batch, in entries.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// Why an SQS request failed.
#[derive(Debug, thiserror::Error)]
pub enum QueuesError {
    /// No queue of that name (or URL) in this account.
    #[error("The specified queue does not exist.")]
    NoSuchQueue,
    /// CreateQueue of an existing name with other attribute values.
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    NameExists(String),
    /// A parameter's value is invalid.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A required parameter is missing.
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(&'static str),
    /// An attribute name SQS does not know (or that cannot be set here).
    #[error("Unknown Attribute {0}.")]
    InvalidAttributeName(String),
    /// An attribute's value is invalid.
    #[error("Invalid value for the parameter {0}.")]
    InvalidAttributeValue(String),
    /// A receipt handle that is not one of this queue's.
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    /// ChangeMessageVisibility of a message not in flight.
    #[error(
        "Value {0} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    )]
    MessageNotInflight(String),
    /// A batch without entries.
    #[error("There should be at least one {0} in the request.")]
    EmptyBatchRequest(&'static str),
    /// A batch of more than ten entries.
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntries(usize),
    /// Two entries of a batch with one id.
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    /// A batch entry id SQS does not accept.
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    /// A batch whose messages together are too large.
    #[error("Batch requests cannot be longer than {max} bytes. You have sent {sent} bytes.")]
    BatchRequestTooLong {
        /// The limit.
        max: usize,
        /// What the batch holds.
        sent: usize,
    },
    /// A body with characters XML cannot carry.
    #[error(
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
    )]
    InvalidMessageContents,
    /// A second PurgeQueue within 60 seconds.
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    /// A resource a message move task names does not exist.
    #[error("{0}")]
    ResourceNotFound(&'static str),
    /// The operation is not offered by the built-in SQS.
    #[error("{0} is not supported by lambdad's built-in SQS.")]
    Unsupported(String),
    /// The store failed.
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

/// How an error goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorShape {
    /// The exception shape (`com.amazonaws.sqs#NAME` in the JSON protocol).
    pub exception: &'static str,
    /// The Query protocol's error code.
    pub query_code: &'static str,
    /// Whether the sender is at fault (HTTP 400) or the service (500).
    pub sender: bool,
}

impl QueuesError {
    /// The HTTP status of the error.
    pub fn status(&self) -> u16 {
        match self {
            Self::ResourceNotFound(_) => 404,
            Self::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The error's wire shape.
    pub fn shape(&self) -> ErrorShape {
        let (exception, query_code) = match self {
            Self::NoSuchQueue => (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ),
            Self::NameExists(_) => ("QueueNameExists", "QueueAlreadyExists"),
            Self::InvalidParameterValue(_) => ("InvalidParameterValue", "InvalidParameterValue"),
            Self::MissingParameter(_) => ("MissingParameter", "MissingParameter"),
            Self::InvalidAttributeName(_) => ("InvalidAttributeName", "InvalidAttributeName"),
            Self::InvalidAttributeValue(_) => ("InvalidAttributeValue", "InvalidAttributeValue"),
            Self::ReceiptHandleIsInvalid(_) => ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"),
            Self::MessageNotInflight(_) => (
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
            ),
            Self::EmptyBatchRequest(_) => (
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
            ),
            Self::TooManyEntries(_) => (
                "TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ),
            Self::BatchEntryIdsNotDistinct(_) => (
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            ),
            Self::InvalidBatchEntryId => (
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
            ),
            Self::BatchRequestTooLong { .. } => (
                "BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
            ),
            Self::InvalidMessageContents => ("InvalidMessageContents", "InvalidMessageContents"),
            Self::PurgeQueueInProgress(_) => (
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
            ),
            Self::ResourceNotFound(_) => ("ResourceNotFoundException", "ResourceNotFoundException"),
            Self::Unsupported(_) => (
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
            ),
            Self::Internal(_) => ("InternalError", "InternalError"),
        };
        ErrorShape {
            exception,
            query_code,
            sender: !matches!(self, Self::Internal(_)),
        }
    }
}
