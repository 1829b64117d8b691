//! Error codes: one table that maps every error lambdad reports to AWS's
//! exception name and HTTP status (the Meilisearch `ErrorCode` pattern).
//!
//! Domain errors in every crate implement [`ErrorCode`]; the API turns any of
//! them into AWS's error response (`x-amzn-ErrorType` header and a JSON body
//! with `Type`, `Message` and `message`).

use std::fmt;

macro_rules! codes {
    ($($variant:ident => $status:expr, $name:expr, $fault:expr;)*) => {
        /// An AWS Lambda exception type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[allow(missing_docs)] $variant,)*
        }

        impl Code {
            /// The HTTP status AWS answers with.
            pub fn http_status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }
            /// The exception name (`x-amzn-ErrorType`, JSON `Type`/`__type`).
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }
            /// "User" for client errors, "Service" for server faults (the JSON `Type` field).
            pub fn fault(self) -> &'static str {
                match self { $(Code::$variant => $fault,)* }
            }
        }
    };
}

codes! {
    InvalidParameterValue => 400, "InvalidParameterValueException", "User";
    InvalidRequestContent => 400, "InvalidRequestContentException", "User";
    Validation => 400, "ValidationException", "User";
    UnsupportedMediaType => 415, "UnsupportedMediaTypeException", "User";
    InvalidRuntime => 502, "InvalidRuntimeException", "User";
    InvalidZipFile => 502, "InvalidZipFileException", "User";
    CodeStorageExceeded => 400, "CodeStorageExceededException", "User";
    ResourceNotFound => 404, "ResourceNotFoundException", "User";
    CodeSigningConfigNotFound => 404, "CodeSigningConfigNotFoundException", "User";
    CodeVerificationFailed => 400, "CodeVerificationFailedException", "User";
    ProvisionedConcurrencyConfigNotFound => 404, "ProvisionedConcurrencyConfigNotFoundException", "User";
    ResourceConflict => 409, "ResourceConflictException", "User";
    ResourceInUse => 400, "ResourceInUseException", "User";
    InvalidEventPattern => 400, "InvalidEventPatternException", "User";
    LimitExceeded => 400, "LimitExceededException", "User";
    ResourceNotReady => 502, "ResourceNotReadyException", "User";
    PreconditionFailed => 412, "PreconditionFailedException", "User";
    PolicyLengthExceeded => 400, "PolicyLengthExceededException", "User";
    RequestTooLarge => 413, "RequestTooLargeException", "User";
    RequestEntityTooLarge => 413, "RequestEntityTooLargeException", "User";
    TooManyRequests => 429, "TooManyRequestsException", "User";
    AccessDenied => 403, "AccessDeniedException", "User";
    UnrecognizedClient => 403, "UnrecognizedClientException", "User";
    InvalidSignature => 403, "InvalidSignatureException", "User";
    IncompleteSignature => 403, "IncompleteSignatureException", "User";
    ExpiredToken => 403, "ExpiredTokenException", "User";
    MissingAuthenticationToken => 403, "MissingAuthenticationTokenException", "User";
    UnknownOperation => 404, "UnknownOperationException", "User";
    NotImplemented => 501, "NotImplementedException", "User";
    GatewayNotFound => 404, "NotFoundException", "User";
    GatewayBadRequest => 400, "BadRequestException", "User";
    GatewayConflict => 409, "ConflictException", "User";
    Service => 500, "ServiceException", "Service";
    EC2Unexpected => 502, "EC2UnexpectedException", "Service";
    KMSAccessDenied => 502, "KMSAccessDeniedException", "Service";
}

/// Implemented by every error that can reach an API caller.
pub trait ErrorCode: std::error::Error {
    /// The AWS exception this error is reported as.
    fn error_code(&self) -> Code;

    /// The message sent to the caller; by default the error's `Display`.
    fn error_message(&self) -> String {
        self.to_string()
    }

    /// Extra top-level JSON fields of the error body (for example `Reason`).
    fn extra_fields(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whether the body carries the `Type` member ("User"/"Service"); a few
    /// of AWS's errors have none (a code signing configuration not found).
    fn typed(&self) -> bool {
        true
    }
}

/// A ready-to-send AWS error: a code plus the exact message AWS uses.
///
/// Used where an error is produced directly with AWS's wording (validation),
/// rather than wrapped from a lower layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The exception type.
    pub code: Code,
    /// The message, verbatim as AWS writes it.
    pub message: String,
    /// Extra top-level JSON fields some exceptions carry (for example `Reason`).
    pub extra: Vec<(String, String)>,
    /// Whether the body carries `Type` ([`ErrorCode::typed`]).
    pub typed: bool,
}

impl AwsError {
    /// An error with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Vec::new(),
            typed: true,
        }
    }

    /// Adds an extra top-level JSON field (e.g. `Reason` on TooManyRequestsException).
    pub fn with_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// `InvalidParameterValueException` with `message`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidParameterValue, message)
    }

    /// `ValidationException` with `message`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::Validation, message)
    }

    /// `ResourceNotFoundException` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceNotFound, message)
    }

    /// `ServiceException` with `message`.
    pub fn service(message: impl Into<String>) -> Self {
        Self::new(Code::Service, message)
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AwsError {}

impl ErrorCode for AwsError {
    fn error_code(&self) -> Code {
        self.code
    }

    fn extra_fields(&self) -> Vec<(String, String)> {
        self.extra.clone()
    }

    fn typed(&self) -> bool {
        self.typed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_aws_names_and_statuses() {
        assert_eq!(Code::ResourceNotFound.http_status(), 404);
        assert_eq!(Code::ResourceNotFound.name(), "ResourceNotFoundException");
        assert_eq!(Code::TooManyRequests.http_status(), 429);
        assert_eq!(Code::Service.fault(), "Service");
    }
}
