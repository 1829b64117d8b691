//! The documents of API Gateway HTTP APIs (apigatewayv2) as lambdad stores
//! them, their wire forms (camelCase members, as AWS writes them), the
//! requests that create them, and the gateway's own typed errors.

use std::collections::BTreeMap;

use lambdad_model::url::Cors;
use lambdad_model::{Code, ErrorCode};
use lambdad_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A failed apigatewayv2 call, as API Gateway reports it.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `NotFoundException`: no such API, route, integration or stage.
    #[error("Invalid {kind} identifier specified {account}:{id}")]
    NotFound {
        /// `API`, `Route`, `Integration` or `Stage`.
        kind: &'static str,
        /// The account.
        account: String,
        /// The identifier asked for.
        id: String,
    },
    /// `NotFoundException` with API Gateway's own message (REST APIs:
    /// `Invalid Resource identifier specified`, …).
    #[error("{0}")]
    Missing(String),
    /// `BadRequestException`: a request API Gateway refuses as it stands.
    #[error("{0}")]
    BadRequest(String),
    /// `ConflictException`: a route key or stage name that is taken.
    #[error("{0}")]
    Conflict(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored document could not be read, or a blocking task went away.
    #[error("{0}")]
    Internal(String),
}

impl ErrorCode for GatewayError {
    fn error_code(&self) -> Code {
        match self {
            Self::NotFound { .. } | Self::Missing(_) => Code::GatewayNotFound,
            Self::BadRequest(_) => Code::GatewayBadRequest,
            Self::Conflict(_) => Code::GatewayConflict,
            Self::Store(_) | Self::Internal(_) => Code::Service,
        }
    }

    fn extra_fields(&self) -> Vec<(String, String)> {
        match self {
            Self::NotFound { kind, .. } => {
                let kind = if *kind == "API" { "Api" } else { kind };
                vec![("resourceType".into(), kind.to_owned())]
            }
            _ => Vec::new(),
        }
    }
}

impl From<crate::ServiceError> for GatewayError {
    fn from(e: crate::ServiceError) -> Self {
        match e {
            crate::ServiceError::Store(s) => Self::Store(s),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Shorthand for gateway results.
pub type GatewayResult<T> = Result<T, GatewayError>;

/// The `corsConfiguration` of an API (camelCase members) as the `Cors`
/// of function URLs (the same members, PascalCase), checked as AWS checks it.
pub fn cors_of(v: &Value) -> GatewayResult<Cors> {
    let Some(map) = v.as_object() else {
        return Err(GatewayError::BadRequest(
            "Invalid corsConfiguration: it must be an object".into(),
        ));
    };
    let pascal: serde_json::Map<String, Value> = map
        .iter()
        .map(|(k, v)| {
            let mut c = k.chars();
            let key = c
                .next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default();
            (key, v.clone())
        })
        .collect();
    let cors: Cors = serde_json::from_value(Value::Object(pascal))
        .map_err(|e| GatewayError::BadRequest(format!("Invalid corsConfiguration: {e}")))?;
    cors.validate()
        .map_err(|e| GatewayError::BadRequest(e.message))?;
    Ok(cors)
}

/// A route.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The route id.
    pub route_id: String,
    /// `$default` or `METHOD /path`.
    pub route_key: String,
    /// `integrations/ID`, when the route has one.
    pub target: Option<String>,
    /// `NONE`, `CUSTOM` (a Lambda authorizer), `JWT` or `AWS_IAM`.
    pub authorization_type: String,
    /// The authorizer of a `CUSTOM` or `JWT` route.
    #[serde(default)]
    pub authorizer_id: Option<String>,
    /// The scopes a `JWT` route asks of its token (any one suffices).
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
    /// Whether an API key is required (WebSocket APIs only; kept as given).
    pub api_key_required: bool,
    /// Created by quick create.
    pub api_gateway_managed: bool,
    /// The operation name, if given.
    pub operation_name: Option<String>,
}

impl Route {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = json!({
            "apiKeyRequired": self.api_key_required,
            "authorizationType": self.authorization_type,
            "routeId": self.route_id,
            "routeKey": self.route_key,
        });
        if self.api_gateway_managed {
            v["apiGatewayManaged"] = json!(true);
        }
        if let Some(t) = &self.target {
            v["target"] = json!(t);
        }
        if let Some(o) = &self.operation_name {
            v["operationName"] = json!(o);
        }
        if let Some(a) = &self.authorizer_id {
            v["authorizerId"] = json!(a);
        }
        if !self.authorization_scopes.is_empty() {
            v["authorizationScopes"] = json!(self.authorization_scopes);
        }
        v
    }
}

/// An integration with a function (AWS_PROXY).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// The integration id.
    pub integration_id: String,
    /// `AWS_PROXY`.
    pub integration_type: String,
    /// A function, alias or version ARN (or the API Gateway form of one).
    pub integration_uri: String,
    /// `POST`.
    pub integration_method: String,
    /// `1.0` or `2.0`.
    pub payload_format_version: String,
    /// How long the gateway waits for the function (50–30000 ms).
    pub timeout_in_millis: u64,
    /// `INTERNET`.
    pub connection_type: String,
    /// A role the gateway invokes with, instead of the function's resource policy.
    pub credentials_arn: Option<String>,
    /// The description, if given.
    pub description: Option<String>,
    /// Created by quick create.
    pub api_gateway_managed: bool,
}

impl Integration {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = json!({
            "connectionType": self.connection_type,
            "integrationId": self.integration_id,
            "integrationMethod": self.integration_method,
            "integrationType": self.integration_type,
            "integrationUri": self.integration_uri,
            "payloadFormatVersion": self.payload_format_version,
            "timeoutInMillis": self.timeout_in_millis,
        });
        if self.api_gateway_managed {
            v["apiGatewayManaged"] = json!(true);
        }
        if let Some(c) = &self.credentials_arn {
            v["credentialsArn"] = json!(c);
        }
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        v
    }
}

/// A stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// `$default` or a name.
    pub stage_name: String,
    /// Whether changes deploy at once.
    pub auto_deploy: bool,
    /// Stage variables.
    pub stage_variables: BTreeMap<String, String>,
    /// The description, if given.
    pub description: Option<String>,
    /// ISO 8601.
    pub created_date: String,
    /// ISO 8601.
    pub last_updated_date: String,
    /// Created by quick create.
    pub api_gateway_managed: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// `accessLogSettings`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<crate::gateway::access_log::AccessLogSettings>,
}

impl Stage {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = json!({
            "autoDeploy": self.auto_deploy,
            "createdDate": self.created_date,
            "defaultRouteSettings": { "detailedMetricsEnabled": false },
            "lastUpdatedDate": self.last_updated_date,
            "routeSettings": {},
            "stageName": self.stage_name,
            "stageVariables": self.stage_variables,
            "tags": self.tags,
        });
        if self.api_gateway_managed {
            v["apiGatewayManaged"] = json!(true);
        }
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        if let Some(a) = &self.access_log_settings {
            v["accessLogSettings"] = a.render();
        }
        v
    }
}

/// An HTTP API with all it holds: the stored document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApi {
    /// The API id.
    pub api_id: String,
    /// The region it was created in.
    pub region: String,
    /// Its name.
    pub name: String,
    /// `HTTP`.
    pub protocol_type: String,
    /// The description, if given.
    pub description: Option<String>,
    /// The version, if given.
    pub version: Option<String>,
    /// ISO 8601.
    pub created_date: String,
    /// `$request.method $request.path`.
    pub route_selection_expression: String,
    /// `$request.header.x-api-key`.
    pub api_key_selection_expression: String,
    /// Whether the execute-api endpoint is off.
    pub disable_execute_api_endpoint: bool,
    /// The CORS configuration as given.
    pub cors_configuration: Option<Value>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Integrations.
    pub integrations: Vec<Integration>,
    /// Stages.
    pub stages: Vec<Stage>,
    /// Authorizers (Lambda REQUEST and JWT).
    #[serde(default)]
    pub authorizers: Vec<crate::gateway::authorizers::Authorizer>,
}

impl HttpApi {
    /// The wire form, with its endpoint.
    pub fn render(&self, endpoint: &str) -> Value {
        let mut v = json!({
            "apiEndpoint": endpoint,
            "apiId": self.api_id,
            "apiKeySelectionExpression": self.api_key_selection_expression,
            "createdDate": self.created_date,
            "disableExecuteApiEndpoint": self.disable_execute_api_endpoint,
            "ipAddressType": "ipv4",
            "name": self.name,
            "protocolType": self.protocol_type,
            "routeSelectionExpression": self.route_selection_expression,
            "tags": self.tags,
        });
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        if let Some(ver) = &self.version {
            v["version"] = json!(ver);
        }
        if let Some(c) = &self.cors_configuration {
            v["corsConfiguration"] = c.clone();
        }
        v
    }
}

/// The body of CreateApi and UpdateApi.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRequest {
    /// `name`.
    pub name: Option<String>,
    /// `protocolType` (`HTTP`; CreateApi only).
    pub protocol_type: Option<String>,
    /// Quick create: the function ARN of the integration.
    pub target: Option<String>,
    /// Quick create: the route key (default `$default`).
    pub route_key: Option<String>,
    /// Quick create: a role for the integration.
    pub credentials_arn: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `routeSelectionExpression`.
    pub route_selection_expression: Option<String>,
    /// `disableExecuteApiEndpoint`.
    pub disable_execute_api_endpoint: Option<bool>,
    /// `corsConfiguration`.
    pub cors_configuration: Option<Value>,
    /// `tags`.
    pub tags: Option<BTreeMap<String, String>>,
}

/// The body of CreateRoute.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRequest {
    /// `routeKey`.
    pub route_key: Option<String>,
    /// `target` (`integrations/ID`).
    pub target: Option<String>,
    /// `authorizationType` (`NONE`, `CUSTOM`, `JWT`, `AWS_IAM`).
    pub authorization_type: Option<String>,
    /// `authorizerId`.
    pub authorizer_id: Option<String>,
    /// `authorizationScopes`.
    pub authorization_scopes: Option<Vec<String>>,
    /// `apiKeyRequired`.
    pub api_key_required: Option<bool>,
    /// `operationName`.
    pub operation_name: Option<String>,
}

/// The body of CreateIntegration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRequest {
    /// `integrationType` (`AWS_PROXY`).
    pub integration_type: Option<String>,
    /// `integrationUri`.
    pub integration_uri: Option<String>,
    /// `integrationMethod` (`POST`).
    pub integration_method: Option<String>,
    /// `payloadFormatVersion` (`1.0`, `2.0`).
    pub payload_format_version: Option<String>,
    /// `timeoutInMillis`.
    pub timeout_in_millis: Option<i64>,
    /// `connectionType` (`INTERNET`).
    pub connection_type: Option<String>,
    /// `credentialsArn`.
    pub credentials_arn: Option<String>,
    /// `description`.
    pub description: Option<String>,
}

/// The body of CreateStage.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRequest {
    /// `stageName`.
    pub stage_name: Option<String>,
    /// `autoDeploy`.
    pub auto_deploy: Option<bool>,
    /// `stageVariables`.
    pub stage_variables: Option<BTreeMap<String, String>>,
    /// `description`.
    pub description: Option<String>,
    /// `tags`.
    pub tags: Option<BTreeMap<String, String>>,
    /// `accessLogSettings`.
    pub access_log_settings: Option<crate::gateway::access_log::AccessLogSettings>,
}
