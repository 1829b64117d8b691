//! Typed errors. Each service returns its own enum (`FunctionsError`,
//! `VersionsError`, `LayersError`, …, `InvocationError` for the funnel),
//! declared with [`service_error!`]: every variant names AWS's exception
//! type once, next to its message (`#[error]`), and a `Common` variant
//! wraps [`ServiceError`], the failures all services share (the function
//! that is not found, the update in progress, the RevisionId that does not
//! match, the store's failures, model's validation errors), written once
//! here. The HTTP API renders any of them (any [`ErrorCode`] becomes AWS's
//! error response there); callers that must tell kinds apart (the
//! triggers) match on variants.

use lambdad_model::{AwsError, Code, ErrorCode, validate};
use lambdad_store::StoreError;

/// The failures every service shares; each service's enum wraps it as `Common`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request refused by one of model's validations, with AWS's
    /// exception type and message (`lambdad_model::validate`).
    #[error(transparent)]
    Rejected(#[from] AwsError),
    /// A required member is missing (`1 validation error detected: Value null at 'MEMBER' …`).
    #[error("{}", validate::null_error(.0))]
    Missing(&'static str),
    /// The function (at a qualifier) does not exist; the ARN it was looked up by.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    /// A function ARN names another region.
    #[error("Functions from '{named}' are not reachable in this region ('{region}')")]
    OtherRegion {
        /// The region the ARN names.
        named: String,
        /// The region the request addresses.
        region: String,
    },
    /// A function ARN names another account.
    #[error("")]
    OtherAccount,
    /// `FunctionName` parses as neither a name nor an ARN.
    #[error("invalid function name")]
    BadFunctionName,
    /// The qualifier in the ARN and the `Qualifier` parameter differ.
    #[error("The derived qualifier from the function name does not match the specified qualifier.")]
    QualifierMismatch,
    /// An operation on functions got a version or alias.
    #[error(
        "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN."
    )]
    FunctionsOnly,
    /// An archive that is not base64 (or not a zip).
    #[error("Could not unzip uploaded file. Please check your file, then try to upload again.")]
    NotAZip,
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
    /// A resource policy has a statement with this id already.
    #[error(
        "The statement id ({0}) provided already exists. Please provide a new statement id, or remove the existing statement."
    )]
    StatementExists(String),
    /// A resource policy has no statement with this id.
    #[error("Statement {0} is not found in resource policy.")]
    StatementNotFound(String),
    /// The resource has no policy.
    #[error("No policy is associated with the given resource.")]
    NoPolicy,
    /// `Code.S3Bucket`/`S3Key` (functions, layers) names an object larger
    /// than an archive may be.
    #[error("Zipped size must be smaller than {0} bytes")]
    S3CodeTooLarge(u64),
    /// `Code.S3Bucket`/`S3Key` could not be read: S3's error code and message, when it has one.
    #[error("Error occurred while GetObject.{}", .0.as_deref().map(|e| format!(" {e}")).unwrap_or_default())]
    S3CodeUnreadable(Option<String>),
    /// The metadata store failed (or refused a compare-and-set).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task or a background writer went away, or a record is corrupt.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// A function's or alias's RevisionId does not match.
    pub const FUNCTION_REVISION_MISMATCH: Self = Self::RevisionMismatch {
        read_with: "GetFunction/GetAlias",
    };

    /// `ServiceException` with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// Whether the store refused a compare-and-set (the record changed since it was read).
    pub fn is_store_revision_mismatch(&self) -> bool {
        matches!(self, Self::Store(StoreError::RevisionMismatch { .. }))
    }

    /// Whether the store refused to create a record that exists.
    pub fn is_store_conflict(&self) -> bool {
        matches!(self, Self::Store(StoreError::AlreadyExists { .. }))
    }

    /// Whether this says that a function (at a qualifier) does not exist.
    pub fn is_function_not_found(&self) -> bool {
        matches!(self, Self::FunctionNotFound(_) | Self::OtherRegion { .. })
    }
}

impl ErrorCode for ServiceError {
    fn error_code(&self) -> Code {
        match self {
            Self::Rejected(e) => e.code,
            Self::Missing(_) | Self::BadFunctionName => Code::Validation,
            Self::FunctionNotFound(_)
            | Self::OtherRegion { .. }
            | Self::StatementNotFound(_)
            | Self::NoPolicy => Code::ResourceNotFound,
            Self::OtherAccount => Code::AccessDenied,
            Self::QualifierMismatch
            | Self::FunctionsOnly
            | Self::NotAZip
            | Self::S3CodeTooLarge(_)
            | Self::S3CodeUnreadable(_) => Code::InvalidParameterValue,
            Self::UpdateInProgress(_) | Self::StatementExists(_) => Code::ResourceConflict,
            Self::RevisionMismatch { .. } => Code::PreconditionFailed,
            Self::Store(e) => e.error_code(),
            Self::Internal(_) => Code::Service,
        }
    }

    fn extra_fields(&self) -> Vec<(String, String)> {
        match self {
            Self::Rejected(e) => e.extra.clone(),
            _ => Vec::new(),
        }
    }

    fn typed(&self) -> bool {
        match self {
            Self::Rejected(e) => e.typed,
            _ => true,
        }
    }
}

/// Shorthand for results of the shared helpers.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Declares a service's error enum: a `Common` variant wrapping
/// [`ServiceError`], the errors of other layers it passes on unchanged
/// (`wraps`, each rendered as itself), and its own variants, each with its
/// message (`#[error]`) and AWS's exception type (`=> Code`). Implements
/// [`ErrorCode`], and `From` the shared error, `AwsError` and `StoreError`.
macro_rules! service_error {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $( ( $($tf:ty),+ $(,)? ) )? $( { $($sf:ident : $sty:ty),+ $(,)? } )? => $code:ident
            ),* $(,)?
        }
        $( wraps { $( $(#[$wmeta:meta])* $wvariant:ident($wty:ty) ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, thiserror::Error)]
        pub enum $name {
            /// A failure every service shares.
            #[error(transparent)]
            Common(#[from] $crate::error::ServiceError),
            $( $( $(#[$wmeta])* #[error(transparent)] $wvariant(#[from] $wty), )* )?
            $( $(#[$vmeta])* $variant $( ( $($tf),+ ) )? $( { $($sf : $sty),+ } )?, )*
        }

        impl lambdad_model::ErrorCode for $name {
            fn error_code(&self) -> lambdad_model::Code {
                match self {
                    Self::Common(e) => e.error_code(),
                    $( $( Self::$wvariant(e) => e.error_code(), )* )?
                    $( Self::$variant { .. } => lambdad_model::Code::$code, )*
                }
            }

            fn extra_fields(&self) -> Vec<(String, String)> {
                match self {
                    Self::Common(e) => e.extra_fields(),
                    $( $( Self::$wvariant(e) => e.extra_fields(), )* )?
                    #[allow(unreachable_patterns)]
                    _ => Vec::new(),
                }
            }

            fn typed(&self) -> bool {
                match self {
                    Self::Common(e) => e.typed(),
                    $( $( Self::$wvariant(e) => e.typed(), )* )?
                    #[allow(unreachable_patterns)]
                    _ => true,
                }
            }
        }

        impl From<lambdad_model::AwsError> for $name {
            fn from(e: lambdad_model::AwsError) -> Self {
                Self::Common(e.into())
            }
        }

        impl From<lambdad_store::StoreError> for $name {
            fn from(e: lambdad_store::StoreError) -> Self {
                Self::Common(e.into())
            }
        }
    };
}

pub(crate) use service_error;

#[cfg(test)]
mod tests {
    use super::*;

    service_error! {
        /// A service's enum, as the services declare theirs.
        pub enum Sample {
            /// A variant of its own.
            #[error("Own {0}.")]
            Own(u32) => ResourceConflict,
        }
    }

    #[test]
    fn shared_and_own_variants_carry_awss_type_and_message() {
        let cases: [(Sample, Code, &str); 4] = [
            (Sample::Own(7), Code::ResourceConflict, "Own 7."),
            (
                ServiceError::UpdateInProgress("arn:f".into()).into(),
                Code::ResourceConflict,
                "The operation cannot be performed at this time. An update is in progress for resource: arn:f",
            ),
            (
                ServiceError::FUNCTION_REVISION_MISMATCH.into(),
                Code::PreconditionFailed,
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ),
            (
                ServiceError::Missing("role").into(),
                Code::Validation,
                "1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null",
            ),
        ];
        for (e, code, message) in cases {
            assert_eq!(e.error_code(), code, "{e}");
            assert_eq!(e.error_message(), message);
        }
        let rejected: Sample = AwsError::validation("no").with_field("Reason", "R").into();
        assert_eq!(rejected.error_code(), Code::Validation);
        assert_eq!(rejected.extra_fields(), [("Reason".into(), "R".into())]);
    }
}
