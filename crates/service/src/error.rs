//! `ServiceError`: every way a service call fails, typed, with AWS's
//! exception type and message written once per variant. The HTTP API
//! renders it (any [`ErrorCode`] becomes AWS's error response there); the
//! triggers match on its variants.

use lambdad_engine::InvokeError;
use lambdad_model::{AwsError, Code, ErrorCode};
use lambdad_store::StoreError;
use lambdad_store::code::CodeError;

/// A failed service call.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request AWS refuses as it stands (validation, unsupported
    /// parameters, limits), with AWS's exception type and message.
    #[error(transparent)]
    Rejected(#[from] AwsError),
    /// A resource that does not exist, with AWS's message for its kind
    /// (`Function not found: ARN`, `The resource you requested does not exist.`, …).
    #[error("{0}")]
    NotFound(String),
    /// A resource that exists already (`ResourceConflictException`).
    #[error("{0}")]
    Conflict(String),
    /// A write raced another one to the same resource.
    #[error(
        "The operation cannot be performed at this time. An update is in progress for resource: {0}"
    )]
    UpdateInProgress(String),
    /// The caller's `RevisionId` is not the resource's; `read_with` names
    /// the operation that reads the current one (`GetFunction/GetAlias`,
    /// `GetPolicy`, `GetLayerPolicy`).
    #[error(
        "The Revision Id provided does not match the latest Revision Id. Call the {read_with} API to retrieve the latest Revision Id"
    )]
    RevisionMismatch {
        /// The operation that reads the current RevisionId.
        read_with: &'static str,
    },
    /// The metadata store failed (or refused a compare-and-set).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A code archive was refused or could not be stored.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// The engine could not run an invocation (throttles included).
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// A blocking task or a background writer went away.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// A function's or alias's RevisionId does not match.
    pub const FUNCTION_REVISION_MISMATCH: Self = Self::RevisionMismatch {
        read_with: "GetFunction/GetAlias",
    };

    /// `ResourceNotFoundException` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// `ResourceConflictException` with `message`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// `InvalidParameterValueException` with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Rejected(AwsError::invalid_parameter(message))
    }

    /// `ValidationException` with `message`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Rejected(AwsError::validation(message))
    }

    /// `ServiceException` with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// An error of type `code` with `message`.
    pub fn aws(code: Code, message: impl Into<String>) -> Self {
        Self::Rejected(AwsError::new(code, message))
    }

    /// Whether the store refused a compare-and-set (the record changed since it was read).
    pub fn is_store_revision_mismatch(&self) -> bool {
        matches!(self, Self::Store(StoreError::RevisionMismatch { .. }))
    }

    /// Whether the store refused to create a record that exists.
    pub fn is_store_conflict(&self) -> bool {
        matches!(self, Self::Store(StoreError::AlreadyExists { .. }))
    }
}

impl ErrorCode for ServiceError {
    fn error_code(&self) -> Code {
        match self {
            Self::Rejected(e) => e.code,
            Self::NotFound(_) => Code::ResourceNotFound,
            Self::Conflict(_) | Self::UpdateInProgress(_) => Code::ResourceConflict,
            Self::RevisionMismatch { .. } => Code::PreconditionFailed,
            Self::Store(e) => e.error_code(),
            Self::Code(e) => e.error_code(),
            Self::Invoke(e) => e.error_code(),
            Self::Internal(_) => Code::Service,
        }
    }

    fn extra_fields(&self) -> Vec<(String, String)> {
        match self {
            Self::Rejected(e) => e.extra.clone(),
            Self::Invoke(InvokeError::Throttled(t)) => {
                vec![("Reason".to_owned(), t.reason().to_owned())]
            }
            _ => Vec::new(),
        }
    }
}

/// Shorthand for service results.
pub type ServiceResult<T> = Result<T, ServiceError>;
