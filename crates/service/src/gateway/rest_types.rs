//! The documents of API Gateway REST APIs (apigateway, v1) as lambdad
//! stores them: one document per API holding its resources (with their
//! methods and integrations), deployments (each a snapshot of the
//! resources and authorizers), stages and authorizers. Members are named
//! and shaped as AWS writes them, so most render as they are stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::gateway::types::{GatewayError, GatewayResult};
use crate::gateway::{ApiDoc, bad};

/// The longest (and default) integration timeout of a REST API, in ms.
pub const REST_MAX_TIMEOUT_MS: u64 = 29_000;
/// The default `authorizerResultTtlInSeconds` of a REST authorizer.
pub const REST_DEFAULT_TTL: u32 = 300;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A resource (`/`, `/items`, `/items/{id}`, `/{proxy+}`) with its methods.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The id.
    pub id: String,
    /// The parent's id (none for the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The last path segment (none for the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_part: Option<String>,
    /// The full path.
    pub path: String,
    /// Methods by HTTP method (`GET`, …, `ANY`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_methods: BTreeMap<String, Method>,
}

impl Resource {
    /// The wire form; methods in full when `embed`, else as `{}` each.
    pub fn render(&self, embed: bool) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if !embed && let Some(m) = v.get_mut("resourceMethods").and_then(Value::as_object_mut) {
            for method in m.values_mut() {
                *method = json!({});
            }
        }
        v
    }
}

/// A method of a resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Method {
    /// `GET`, …, `ANY`.
    pub http_method: String,
    /// `NONE`, `CUSTOM`, `AWS_IAM` or `COGNITO_USER_POOLS`.
    pub authorization_type: String,
    /// The authorizer of a `CUSTOM` method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    /// Whether an API key is required (kept as given).
    pub api_key_required: bool,
    /// The operation name, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    /// The request validator, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_validator_id: Option<String>,
    /// `method.request.header.X` and the like: whether each is required.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, bool>,
    /// Models by content type (kept as given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_models: BTreeMap<String, String>,
    /// Scopes (Cognito; kept as given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
    /// Method responses by status code (as given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub method_responses: BTreeMap<String, Value>,
    /// The integration, once put.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_integration: Option<Integration>,
}

/// A method's integration: `AWS_PROXY` with a function, or `MOCK`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// `AWS_PROXY` or `MOCK`.
    #[serde(rename = "type")]
    pub integration_type: String,
    /// `POST` for Lambda.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `INTERNET`.
    pub connection_type: String,
    /// A role to invoke with, instead of the function's resource policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Kept as given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, String>,
    /// Mapping templates by content type (`MOCK`: `{"statusCode": 200}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
    /// `WHEN_NO_MATCH` unless given.
    pub passthrough_behavior: String,
    /// Kept as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
    /// 50–29000 ms.
    pub timeout_in_millis: u64,
    /// The resource's id unless given.
    pub cache_namespace: String,
    /// Kept as given.
    #[serde(default)]
    pub cache_key_parameters: Vec<String>,
    /// Integration responses by status code (as given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub integration_responses: BTreeMap<String, Value>,
}

/// A Lambda authorizer (`TOKEN` or `REQUEST`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestAuthorizer {
    /// The id.
    pub id: String,
    /// The name.
    pub name: String,
    /// `TOKEN`, `REQUEST` or `COGNITO_USER_POOLS`.
    #[serde(rename = "type")]
    pub authorizer_type: String,
    /// Cognito user pools (kept as given).
    #[serde(
        default,
        rename = "providerARNs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub provider_arns: Vec<String>,
    /// Kept as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// The function's API Gateway invocation URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    /// A role to invoke the function with, instead of its resource policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials: Option<String>,
    /// `method.request.header.Authorization`, or a comma-separated list
    /// (`REQUEST`) of `method.request.header.X`, `method.request.querystring.x`,
    /// `stageVariables.x`, `context.x`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    /// `TOKEN`: a regular expression the token must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    /// How long answers are cached (0: not cached).
    pub authorizer_result_ttl_in_seconds: u32,
}

impl RestAuthorizer {
    /// The function and qualifier the authorizer invokes.
    pub fn function(&self) -> Option<(String, Option<String>)> {
        crate::gateway::integration_function(self.authorizer_uri.as_deref()?)
    }
}

/// A deployment: what its stages serve.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The id.
    pub id: String,
    /// The description, if given.
    pub description: Option<String>,
    /// Epoch seconds.
    pub created_date: i64,
    /// The API's resources when it was made.
    pub resources: Vec<Resource>,
    /// The API's authorizers when it was made.
    pub authorizers: Vec<RestAuthorizer>,
    /// The API's binary media types when it was made.
    pub binary_media_types: Vec<String>,
}

impl Deployment {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = json!({ "id": self.id, "createdDate": self.created_date });
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        v
    }
}

/// A stage: a name for a deployment, with variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestStage {
    /// The name.
    pub stage_name: String,
    /// The deployment it serves.
    pub deployment_id: String,
    /// The description, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stage variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Kept as given.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tracing_enabled: bool,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Epoch seconds.
    pub created_date: i64,
    /// Epoch seconds.
    pub last_updated_date: i64,
    /// Set by UpdateStage (`/accessLogSettings/destinationArn`, `…/format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<crate::gateway::access_log::AccessLogSettings>,
}

impl RestStage {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["cacheClusterEnabled"] = json!(false);
        v["cacheClusterStatus"] = json!("NOT_AVAILABLE");
        v["methodSettings"] = json!({});
        v["tracingEnabled"] = json!(self.tracing_enabled);
        v
    }
}

/// A REST API with all it holds: the stored document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestApi {
    /// `REST`: tells REST API documents from HTTP API ones.
    pub kind: String,
    /// The id.
    pub id: String,
    /// The region it was created in.
    pub region: String,
    /// The name.
    pub name: String,
    /// The description, if given.
    pub description: Option<String>,
    /// The version, if given.
    pub version: Option<String>,
    /// Epoch seconds.
    pub created_date: i64,
    /// Content types passed to functions base64-encoded (`image/png`, `*/*`).
    pub binary_media_types: Vec<String>,
    /// Kept as given.
    pub minimum_compression_size: Option<i64>,
    /// `HEADER` or `AUTHORIZER`.
    pub api_key_source: String,
    /// `{"types": ["EDGE"]}` unless given.
    pub endpoint_configuration: Value,
    /// A resource policy (kept as given).
    pub policy: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Whether the execute-api endpoint is off.
    pub disable_execute_api_endpoint: bool,
    /// The root resource (`/`).
    pub root_resource_id: String,
    /// Resources, the root first.
    pub resources: Vec<Resource>,
    /// Deployments, oldest first.
    pub deployments: Vec<Deployment>,
    /// Stages.
    pub stages: Vec<RestStage>,
    /// Authorizers.
    pub authorizers: Vec<RestAuthorizer>,
}

impl ApiDoc for RestApi {
    const KIND: Option<&'static str> = Some("REST");
    fn api_id(&self) -> &str {
        &self.id
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl RestApi {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "createdDate": self.created_date,
            "apiKeySource": self.api_key_source,
            "endpointConfiguration": self.endpoint_configuration,
            "disableExecuteApiEndpoint": self.disable_execute_api_endpoint,
            "rootResourceId": self.root_resource_id,
            "tags": self.tags,
        });
        let optional = [
            ("description", self.description.as_ref().map(|d| json!(d))),
            ("version", self.version.as_ref().map(|d| json!(d))),
            ("policy", self.policy.as_ref().map(|d| json!(d))),
            (
                "minimumCompressionSize",
                self.minimum_compression_size.map(|d| json!(d)),
            ),
            (
                "binaryMediaTypes",
                (!self.binary_media_types.is_empty()).then(|| json!(self.binary_media_types)),
            ),
        ];
        for (k, val) in optional {
            if let Some(val) = val {
                v[k] = val;
            }
        }
        v
    }

    /// The resource `id`.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.id == id)
    }
}

/// One operation of a PATCH body (`patchOperations`).
#[derive(Debug, Clone, Deserialize)]
pub struct PatchOp {
    /// `add`, `remove`, `replace`, `move` or `copy`.
    pub op: String,
    /// The member, as a JSON pointer (`/variables/name`).
    pub path: String,
    /// The new value.
    pub value: Option<String>,
    /// `move`/`copy`: where from.
    pub from: Option<String>,
}

/// The value of a patch operation that sets a member.
pub(crate) fn patch_value(op: &PatchOp) -> GatewayResult<String> {
    op.value.clone().ok_or_else(|| {
        bad(format!(
            "Invalid patch operation specified. Value is required for op '{}' on path '{}'",
            op.op, op.path
        ))
    })
}

pub(crate) fn bad_patch(op: &PatchOp) -> GatewayError {
    bad(format!(
        "Invalid patch path '{}' specified for op '{}'",
        op.path, op.op
    ))
}

/// A JSON pointer's escaped segment (`image~1png`) as text.
pub(crate) fn unescape_pointer(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// A PATCH body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchRequest {
    /// The operations, applied in order.
    #[serde(default)]
    pub patch_operations: Vec<PatchOp>,
}

/// The body of CreateRestApi.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestApiRequest {
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `binaryMediaTypes`.
    pub binary_media_types: Option<Vec<String>>,
    /// `minimumCompressionSize`.
    pub minimum_compression_size: Option<i64>,
    /// `apiKeySource`.
    pub api_key_source: Option<String>,
    /// `endpointConfiguration`.
    pub endpoint_configuration: Option<Value>,
    /// `policy`.
    pub policy: Option<String>,
    /// `tags`.
    pub tags: Option<BTreeMap<String, String>>,
    /// `disableExecuteApiEndpoint`.
    pub disable_execute_api_endpoint: Option<bool>,
}

/// The body of PutMethod.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodRequest {
    /// `authorizationType`.
    pub authorization_type: Option<String>,
    /// `authorizerId`.
    pub authorizer_id: Option<String>,
    /// `apiKeyRequired`.
    pub api_key_required: Option<bool>,
    /// `operationName`.
    pub operation_name: Option<String>,
    /// `requestValidatorId`.
    pub request_validator_id: Option<String>,
    /// `requestParameters`.
    pub request_parameters: Option<BTreeMap<String, bool>>,
    /// `requestModels`.
    pub request_models: Option<BTreeMap<String, String>>,
    /// `authorizationScopes`.
    pub authorization_scopes: Option<Vec<String>>,
}

/// The body of PutIntegration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRequest {
    /// `type`.
    #[serde(rename = "type")]
    pub integration_type: Option<String>,
    /// `httpMethod`.
    pub http_method: Option<String>,
    /// `uri`.
    pub uri: Option<String>,
    /// `connectionType`.
    pub connection_type: Option<String>,
    /// `credentials`.
    pub credentials: Option<String>,
    /// `requestParameters`.
    pub request_parameters: Option<BTreeMap<String, String>>,
    /// `requestTemplates`.
    pub request_templates: Option<BTreeMap<String, String>>,
    /// `passthroughBehavior`.
    pub passthrough_behavior: Option<String>,
    /// `contentHandling`.
    pub content_handling: Option<String>,
    /// `timeoutInMillis`.
    pub timeout_in_millis: Option<i64>,
    /// `cacheNamespace`.
    pub cache_namespace: Option<String>,
    /// `cacheKeyParameters`.
    pub cache_key_parameters: Option<Vec<String>>,
}

/// The body of CreateDeployment.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRequest {
    /// `stageName`: the stage to create or point at the deployment.
    pub stage_name: Option<String>,
    /// `stageDescription`.
    pub stage_description: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `variables` of the stage.
    pub variables: Option<BTreeMap<String, String>>,
    /// `tracingEnabled`.
    pub tracing_enabled: Option<bool>,
}

/// The body of CreateStage.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestStageRequest {
    /// `stageName`.
    pub stage_name: Option<String>,
    /// `deploymentId`.
    pub deployment_id: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `variables`.
    pub variables: Option<BTreeMap<String, String>>,
    /// `tracingEnabled`.
    pub tracing_enabled: Option<bool>,
    /// `tags`.
    pub tags: Option<BTreeMap<String, String>>,
}

/// The body of CreateAuthorizer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestAuthorizerRequest {
    /// `name`.
    pub name: Option<String>,
    /// `type`.
    #[serde(rename = "type")]
    pub authorizer_type: Option<String>,
    /// `providerARNs`.
    #[serde(rename = "providerARNs")]
    pub provider_arns: Option<Vec<String>>,
    /// `authType`.
    pub auth_type: Option<String>,
    /// `authorizerUri`.
    pub authorizer_uri: Option<String>,
    /// `authorizerCredentials`.
    pub authorizer_credentials: Option<String>,
    /// `identitySource`.
    pub identity_source: Option<String>,
    /// `identityValidationExpression`.
    pub identity_validation_expression: Option<String>,
    /// `authorizerResultTtlInSeconds`.
    pub authorizer_result_ttl_in_seconds: Option<i64>,
}
