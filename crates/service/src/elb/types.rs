//! The documents of Application Load Balancers (elbv2) as lambdad stores
//! them (one per load balancer, holding its listeners and rules; one per
//! target group, holding its targets and attributes, in the gateway's
//! document table), and the typed errors of the elbv2 API.

use std::collections::BTreeMap;

use lambdad_store::StoreError;
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

/// The `kind` of a load balancer document.
pub const LB_KIND: &str = "ELB_LOAD_BALANCER";
/// The `kind` of a target group document.
pub const TG_KIND: &str = "ELB_TARGET_GROUP";

/// A failed elbv2 call, as Elastic Load Balancing reports it (Query
/// protocol error `Code` and message; all are `Sender` faults but
/// [`ElbError::Internal`]).
#[derive(Debug, thiserror::Error)]
pub enum ElbError {
    /// `LoadBalancerNotFound`.
    #[error("One or more load balancers not found")]
    LoadBalancerNotFound,
    /// `TargetGroupNotFound`.
    #[error("One or more target groups not found")]
    TargetGroupNotFound,
    /// `ListenerNotFound`.
    #[error("One or more listeners not found")]
    ListenerNotFound,
    /// `RuleNotFound`.
    #[error("One or more rules not found")]
    RuleNotFound,
    /// `DuplicateLoadBalancerName`.
    #[error("A load balancer with the same name '{0}' exists, but with different settings")]
    DuplicateLoadBalancerName(String),
    /// `DuplicateTargetGroupName`.
    #[error("A target group with the same name '{0}' exists, but with different settings")]
    DuplicateTargetGroupName(String),
    /// `DuplicateListener`.
    #[error("A listener already exists on this port for this load balancer '{0}'")]
    DuplicateListener(String),
    /// `PriorityInUse`.
    #[error("Priority '{0}' is currently in use")]
    PriorityInUse(i64),
    /// `ResourceInUse`.
    #[error("{0}")]
    ResourceInUse(String),
    /// `InvalidTarget`.
    #[error("{0}")]
    InvalidTarget(String),
    /// `TargetGroupAssociationLimit`: a Lambda target group has one target.
    #[error("{0}")]
    TargetGroupAssociationLimit(String),
    /// `InvalidConfigurationRequest`.
    #[error("{0}")]
    InvalidConfiguration(String),
    /// `AccessDenied`: the function's policy does not let Elastic Load
    /// Balancing invoke it.
    #[error(
        "elasticloadbalancing principal does not have permission to invoke {function} from target group {target_group}"
    )]
    AccessDenied {
        /// The function ARN.
        function: String,
        /// The target group ARN.
        target_group: String,
    },
    /// `ValidationError`.
    #[error("{0}")]
    Validation(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A shared service failure.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A stored document could not be read.
    #[error("{0}")]
    Internal(String),
}

impl ElbError {
    /// The Query protocol error `Code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::LoadBalancerNotFound => "LoadBalancerNotFound",
            Self::TargetGroupNotFound => "TargetGroupNotFound",
            Self::ListenerNotFound => "ListenerNotFound",
            Self::RuleNotFound => "RuleNotFound",
            Self::DuplicateLoadBalancerName(_) => "DuplicateLoadBalancerName",
            Self::DuplicateTargetGroupName(_) => "DuplicateTargetGroupName",
            Self::DuplicateListener(_) => "DuplicateListener",
            Self::PriorityInUse(_) => "PriorityInUse",
            Self::ResourceInUse(_) => "ResourceInUse",
            Self::InvalidTarget(_) => "InvalidTarget",
            Self::TargetGroupAssociationLimit(_) => "TargetGroupAssociationLimit",
            Self::InvalidConfiguration(_) => "InvalidConfigurationRequest",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::Validation(_) => "ValidationError",
            Self::Store(_) | Self::Service(_) | Self::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::LoadBalancerNotFound
            | Self::TargetGroupNotFound
            | Self::ListenerNotFound
            | Self::RuleNotFound => 400,
            Self::Store(_) | Self::Service(_) | Self::Internal(_) => 500,
            _ => 400,
        }
    }
}

/// The result of an elbv2 operation.
pub type ElbResult<T> = Result<T, ElbError>;

/// A `ValidationError`.
pub fn invalid(message: impl Into<String>) -> ElbError {
    ElbError::Validation(message.into())
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// `Key`.
    pub key: String,
    /// `Value`.
    pub value: Option<String>,
}

/// A fixed-response action's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedResponse {
    /// `StatusCode` (2XX, 4XX or 5XX).
    pub status_code: String,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `MessageBody`.
    pub message_body: Option<String>,
}

/// The configuration of a `redirect` action: each part may reuse the
/// request's (`#{protocol}`, `#{host}`, `#{port}`, `#{path}`, `#{query}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// `Protocol` (`HTTP`, `HTTPS` or `#{protocol}`).
    pub protocol: String,
    /// `Port`.
    pub port: String,
    /// `Host`.
    pub host: String,
    /// `Path` (starting with `/`).
    pub path: String,
    /// `Query` (without `?`).
    pub query: String,
    /// `StatusCode`: `HTTP_301` or `HTTP_302`.
    pub status_code: String,
}

/// A rule's or listener's action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// `forward`, `fixed-response` or `redirect`.
    pub kind: String,
    /// `Order`.
    pub order: Option<i64>,
    /// The target group of a `forward` action.
    pub target_group_arn: Option<String>,
    /// The configuration of a `fixed-response` action.
    pub fixed: Option<FixedResponse>,
    /// The configuration of a `redirect` action.
    #[serde(default)]
    pub redirect: Option<Redirect>,
}

/// A rule's condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `Field`: `path-pattern`, `host-header`, `http-header`,
    /// `query-string` or `http-request-method`.
    pub field: String,
    /// The patterns (for `query-string`, unused).
    pub values: Vec<String>,
    /// The header of an `http-header` condition.
    pub header_name: Option<String>,
    /// The key/value patterns of a `query-string` condition.
    pub query: Vec<(Option<String>, String)>,
}

/// A listener rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's ARN.
    pub arn: String,
    /// `None`: the listener's default rule.
    pub priority: Option<i64>,
    /// The conditions, all of which must hold.
    pub conditions: Vec<Condition>,
    /// The actions.
    pub actions: Vec<Action>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A listener: its port and protocol, and its rules (the default rule first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// The listener's ARN.
    pub arn: String,
    /// `Port`.
    pub port: i64,
    /// `Protocol` (`HTTP` or `HTTPS`).
    pub protocol: String,
    /// The rules, the default rule first.
    pub rules: Vec<Rule>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A load balancer with its listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// Always [`LB_KIND`].
    pub kind: String,
    /// The id in the ARN (16 hex digits).
    pub id: String,
    /// `LoadBalancerName`.
    pub name: String,
    /// `LoadBalancerArn`.
    pub arn: String,
    /// The region.
    pub region: String,
    /// `Scheme`.
    pub scheme: String,
    /// `IpAddressType`.
    pub ip_address_type: String,
    /// `Subnets` as given.
    pub subnets: Vec<String>,
    /// `SecurityGroups` as given.
    pub security_groups: Vec<String>,
    /// `CreatedTime`.
    pub created: String,
    /// The listeners.
    pub listeners: Vec<Listener>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A target group of target type `lambda`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// Always [`TG_KIND`].
    pub kind: String,
    /// The id in the ARN.
    pub id: String,
    /// `TargetGroupName`.
    pub name: String,
    /// `TargetGroupArn`.
    pub arn: String,
    /// The region.
    pub region: String,
    /// `TargetType` (`lambda`).
    pub target_type: String,
    /// The health-check settings, by their API member names.
    pub health_check: BTreeMap<String, String>,
    /// The attributes (`lambda.multi_value_headers.enabled`, …).
    pub attributes: BTreeMap<String, String>,
    /// The registered function ARNs (at most one).
    pub targets: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}

impl TargetGroup {
    /// Whether the ALB event and answer use multi-value headers and query strings.
    pub fn multi_value(&self) -> bool {
        self.attributes
            .get("lambda.multi_value_headers.enabled")
            .is_some_and(|v| v == "true")
    }
}
