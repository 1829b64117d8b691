//! Function configuration: the wire shapes of CreateFunction,
//! UpdateFunctionConfiguration and `FunctionConfiguration`, exactly as the
//! Lambda REST-JSON API spells them (PascalCase members).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Environment` in requests, `EnvironmentResponse` in answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// Variable names to values.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// `EphemeralStorage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    /// Size of /tmp in MB.
    pub size: u32,
}

/// `TracingConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    /// `Active` or `PassThrough`.
    #[serde(default = "pass_through")]
    pub mode: String,
}

fn pass_through() -> String {
    "PassThrough".to_owned()
}

/// `LoggingConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// `Text` or `JSON`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Log group name, `/aws/lambda/NAME` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Application log level (JSON format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    /// System log level (JSON format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
}

/// `DeadLetterConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// SQS queue or SNS topic ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
}

/// `SnapStart` (accepted and echoed; never applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartResponse {
    /// `None` or `PublishedVersions`.
    pub apply_on: String,
    /// `On` or `Off`.
    pub optimization_status: String,
}

/// One entry of `Layers` in a function configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerRef {
    /// Layer version ARN.
    pub arn: String,
    /// Size of the layer archive.
    pub code_size: u64,
}

/// `FunctionCode` of CreateFunction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    /// base64 zip archive.
    pub zip_file: Option<String>,
    /// S3 source (not supported here).
    pub s3_bucket: Option<String>,
    /// S3 key (not supported here).
    pub s3_key: Option<String>,
    /// S3 object version (not supported here).
    pub s3_object_version: Option<String>,
    /// Container image: `HOST[:PORT]/REPO:TAG` or `HOST[:PORT]/REPO@sha256:HEX`.
    pub image_uri: Option<String>,
}

/// `ImageConfig`: what overrides the image's own ENTRYPOINT, CMD and WORKDIR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    /// Replaces the image's ENTRYPOINT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    /// Replaces the image's CMD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Replaces the image's WORKDIR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
}

/// `ImageConfigResponse` of a function configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfigResponse {
    /// The overrides set with `ImageConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_config: Option<ImageConfig>,
}

/// What lambdad keeps of a container image function's code (not a wire
/// shape): the names of its image and what the image's own config says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCode {
    /// `Code.ImageUri` as given.
    pub image_uri: String,
    /// `REPOSITORY@sha256:HEX`, the manifest pulled.
    pub resolved_image_uri: String,
    /// The image's ENTRYPOINT.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The image's CMD.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// The image's ENV (`NAME=VALUE`).
    #[serde(default)]
    pub env: Vec<String>,
    /// The image's WORKDIR.
    #[serde(default)]
    pub working_dir: String,
}

/// CreateFunction request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    pub function_name: Option<String>,
    pub role: Option<String>,
    pub code: Option<FunctionCode>,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    #[serde(default)]
    pub publish: bool,
    pub package_type: Option<String>,
    pub environment: Option<Environment>,
    pub layers: Option<Vec<String>>,
    pub architectures: Option<Vec<String>>,
    pub ephemeral_storage: Option<EphemeralStorageRequest>,
    pub logging_config: Option<LoggingConfig>,
    pub tracing_config: Option<TracingConfig>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub image_config: Option<ImageConfig>,
    pub code_signing_config_arn: Option<String>,
}

/// `EphemeralStorage` as a request member (the size may be out of range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorageRequest {
    /// Requested size in MB.
    pub size: i64,
}

/// UpdateFunctionConfiguration request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<Environment>,
    pub runtime: Option<String>,
    pub layers: Option<Vec<String>>,
    pub ephemeral_storage: Option<EphemeralStorageRequest>,
    pub logging_config: Option<LoggingConfig>,
    pub tracing_config: Option<TracingConfig>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub revision_id: Option<String>,
    pub image_config: Option<ImageConfig>,
}

/// UpdateFunctionCode request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub dry_run: bool,
    pub revision_id: Option<String>,
    pub architectures: Option<Vec<String>>,
}

/// `RuntimeVersionConfig`: the managed runtime's version a function runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeVersionConfig {
    /// `arn:aws:lambda:REGION::runtime:<64 hex digits>`.
    pub runtime_version_arn: String,
}

/// `FunctionConfiguration`: what every function operation answers with, and
/// what the store keeps for each function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    pub code_size: u64,
    pub code_sha256: String,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub last_modified: String,
    pub version: String,
    pub revision_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    pub tracing_config: TracingConfig,
    pub package_type: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: EphemeralStorage,
    pub snap_start: SnapStartResponse,
    pub logging_config: LoggingConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerRef>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(rename = "KMSKeyArn", skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason_code: Option<String>,
    /// Set on functions of a managed runtime (records written before it
    /// existed have none until their next update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_config: Option<RuntimeVersionConfig>,
    /// Set on container image functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_config_response: Option<ImageConfigResponse>,
}

impl FunctionConfiguration {
    /// The shape ListFunctions and ListVersionsByFunction answer with: no
    /// state members, no `RuntimeVersionConfig` (as AWS).
    pub fn for_listing(&self) -> Self {
        Self {
            runtime_version_config: None,
            state: None,
            state_reason: None,
            state_reason_code: None,
            last_update_status: None,
            last_update_status_reason: None,
            last_update_status_reason_code: None,
            ..self.clone()
        }
    }

    /// The answer to CreateFunction: `Pending`, being created, as AWS. Its
    /// RevisionId is `revision`, never the stored one: AWS regenerates the
    /// RevisionId when the function turns `Active`.
    pub fn as_created(&self, revision: String) -> Self {
        Self {
            revision_id: revision,
            state: Some("Pending".to_owned()),
            state_reason: Some("The function is being created.".to_owned()),
            state_reason_code: Some("Creating".to_owned()),
            last_update_status: None,
            last_update_status_reason: None,
            last_update_status_reason_code: None,
            ..self.clone()
        }
    }

    /// The answer to an update: `LastUpdateStatus: InProgress`, as AWS, with
    /// RevisionId `revision` (AWS regenerates it when the update turns
    /// `Successful`).
    pub fn as_updating(&self, revision: String) -> Self {
        Self {
            revision_id: revision,
            last_update_status: Some("InProgress".to_owned()),
            last_update_status_reason: Some("The function is being created.".to_owned()),
            last_update_status_reason_code: Some("Creating".to_owned()),
            ..self.clone()
        }
    }
}
