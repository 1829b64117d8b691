//! The IAM action and resource of an API request, for authorization:
//! `lambda:InvokeFunction` on `arn:aws:lambda:REGION:ACCOUNT:function:NAME`,
//! `logs:FilterLogEvents` on a log group, `events:PutRule` on a rule,
//! `sqs:SendMessage` on a queue, `sns:Publish` on a topic,
//! `elasticloadbalancing:CreateRule` on a listener.

use axum::http::Method;
use serde_json::Value;

/// SNS's API version, which its Query requests carry (`Version=`).
pub(crate) const SNS_VERSION: &str = "2010-03-31";

/// SNS's XML namespace.
pub(crate) const SNS_XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// The XML namespace of the service of a Query-protocol request (a form with
/// `Action` and `Version`) whose errors are XML: SNS, and SQS's Query protocol.
pub(crate) fn query_namespace(body: &[u8]) -> Option<&'static str> {
    let mut action = false;
    let mut version = None;
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "Action" => action = true,
            "Version" => version = Some(v),
            _ => {}
        }
    }
    match version?.as_ref() {
        SNS_VERSION if action => Some(SNS_XMLNS),
        "2012-11-05" if action => Some("http://queue.amazonaws.com/doc/2012-11-05/"),
        _ => None,
    }
}

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `service:Operation`.
    pub action: String,
    /// The resource ARN, or `*`.
    pub resource: String,
}

fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.replace(' ', "+"))
        .unwrap_or_default()
}

/// The function ARN a `FunctionName` parameter names (name, partial or full ARN).
fn function_arn(region: &str, account: &str, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_owned();
    }
    match lambdad_model::arn::parse_function_ref(name) {
        Some(r) => match r.qualifier {
            Some(q) => format!("arn:aws:lambda:{region}:{account}:function:{}:{q}", r.name),
            None => format!("arn:aws:lambda:{region}:{account}:function:{}", r.name),
        },
        None => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
    }
}

/// The action of an SQS Query protocol request (a form with `Action=`),
/// on the queue its `QueueUrl`, `QueueName` or path names.
fn sqs_query_action(path: &str, body: &[u8], region: &str, account: &str) -> Option<Action> {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let op = get("Action")?;
    if get("Version") == Some(lambdad_service::elb::API_VERSION) {
        // elbv2: the ARN the request names, else `*`.
        let arn = [
            "LoadBalancerArn",
            "TargetGroupArn",
            "ListenerArn",
            "RuleArn",
        ]
        .iter()
        .find_map(|k| get(k));
        return Some(Action {
            action: format!("elasticloadbalancing:{op}"),
            resource: arn.unwrap_or("*").to_owned(),
        });
    }
    if get("Version") == Some(SNS_VERSION) {
        let topic = get("TopicArn")
            .or(get("TargetArn"))
            .or(get("ResourceArn"))
            .map(str::to_owned)
            .or_else(|| {
                get("SubscriptionArn")
                    .map(lambdad_service::topics::topic_arn_of)
                    .filter(|t| !t.is_empty())
            })
            .or_else(|| get("Name").map(|n| format!("arn:aws:sns:{region}:{account}:{n}")));
        return Some(Action {
            action: format!("sns:{op}"),
            resource: topic.unwrap_or_else(|| "*".to_owned()),
        });
    }
    let from_path = path.trim_matches('/').split('/').nth(1);
    let queue = get("QueueUrl")
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .or(get("QueueName"))
        .or(from_path);
    Some(Action {
        action: format!("sqs:{op}"),
        resource: queue.map_or_else(
            || "*".to_owned(),
            |q| format!("arn:aws:sqs:{region}:{account}:{q}"),
        ),
    })
}

/// The action of a request to the Lambda REST API, the Logs or the EventBridge API.
pub fn of_request(
    method: &Method,
    path: &str,
    target: Option<&str>,
    body: &[u8],
    region: &str,
    account: &str,
) -> Action {
    if target.is_none()
        && let Some(action) = sqs_query_action(path, body, region, account)
    {
        return action;
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some((service, op)) = target.and_then(|t| t.split_once('.')) {
        let text = |k: &str| body.get(k).and_then(Value::as_str);
        return match service {
            "AmazonSQS" => Action {
                action: format!("sqs:{op}"),
                resource: text("QueueUrl")
                    .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
                    .or(text("QueueName"))
                    .map_or_else(
                        || "*".to_owned(),
                        |q| format!("arn:aws:sqs:{region}:{account}:{q}"),
                    ),
            },
            "Logs_20140328" => Action {
                action: format!("logs:{op}"),
                resource: text("logGroupName").map_or_else(
                    || "*".to_owned(),
                    |g| format!("arn:aws:logs:{region}:{account}:log-group:{g}"),
                ),
            },
            _ => Action {
                action: format!("events:{op}"),
                resource: text("Name").or(text("Rule")).map_or_else(
                    || format!("arn:aws:events:{region}:{account}:event-bus/default"),
                    |r| format!("arn:aws:events:{region}:{account}:rule/{r}"),
                ),
            },
        };
    }
    // API Gateway's control plane: the HTTP method on the resource's path.
    let v1 = path.starts_with("/restapis").then(|| &path[1..]);
    if let Some(rest) = path.strip_prefix("/v2/").or(v1) {
        return Action {
            action: format!("apigateway:{}", method.as_str()),
            resource: format!(
                "arn:aws:apigateway:{region}::/{}",
                rest.trim_end_matches('/')
            ),
        };
    }
    let seg: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let f = |name: &str| function_arn(region, account, name);
    let all = "*".to_owned();
    let (op, resource): (&str, String) = match (method.as_str(), s.as_slice()) {
        ("POST", [_, "functions"]) => (
            "CreateFunction",
            f(body
                .get("FunctionName")
                .and_then(Value::as_str)
                .unwrap_or("*")),
        ),
        ("GET", [_, "functions"]) => ("ListFunctions", all),
        // lambdad's metered usage and prices: account-level, as AccountUsage is.
        ("GET", ["_lambdad", "usage"]) => ("GetAccountSettings", all),
        ("GET", [_, "functions", n]) => ("GetFunction", f(n)),
        ("DELETE", [_, "functions", n]) => ("DeleteFunction", f(n)),
        ("GET", [_, "functions", n, "configuration"]) => ("GetFunctionConfiguration", f(n)),
        ("PUT", [_, "functions", n, "configuration"]) => ("UpdateFunctionConfiguration", f(n)),
        ("PUT", [_, "functions", n, "code"]) => ("UpdateFunctionCode", f(n)),
        (
            "POST",
            [
                _,
                "functions",
                n,
                "invocations" | "response-streaming-invocations",
            ],
        ) => ("InvokeFunction", f(n)),
        ("GET", [_, "functions", n, "versions"]) => ("ListVersionsByFunction", f(n)),
        ("POST", [_, "functions", n, "versions" | "tuning-versions"]) => ("PublishVersion", f(n)),
        // The console's saved test events (docs/console.md): read with the
        // function, changed as its configuration is.
        ("GET", ["_lambdad", "functions", n, "test-events"]) => ("GetFunction", f(n)),
        ("PUT" | "DELETE", ["_lambdad", "functions", n, "test-events", _]) => {
            ("UpdateFunctionConfiguration", f(n))
        }
        ("GET", [_, "functions", n, "aliases"]) => ("ListAliases", f(n)),
        ("POST", [_, "functions", n, "aliases"]) => ("CreateAlias", f(n)),
        ("GET", [_, "functions", n, "aliases", _]) => ("GetAlias", f(n)),
        ("PUT", [_, "functions", n, "aliases", _]) => ("UpdateAlias", f(n)),
        ("DELETE", [_, "functions", n, "aliases", _]) => ("DeleteAlias", f(n)),
        ("POST", [_, "functions", n, "policy"]) => ("AddPermission", f(n)),
        ("GET", [_, "functions", n, "policy"]) => ("GetPolicy", f(n)),
        ("DELETE", [_, "functions", n, "policy", _]) => ("RemovePermission", f(n)),
        ("POST", [_, "functions", n, "url"]) => ("CreateFunctionUrlConfig", f(n)),
        ("GET", [_, "functions", n, "url"]) => ("GetFunctionUrlConfig", f(n)),
        ("PUT", [_, "functions", n, "url"]) => ("UpdateFunctionUrlConfig", f(n)),
        ("DELETE", [_, "functions", n, "url"]) => ("DeleteFunctionUrlConfig", f(n)),
        ("GET", [_, "functions", n, "urls"]) => ("ListFunctionUrlConfigs", f(n)),
        ("PUT", [_, "functions", n, "concurrency"]) => ("PutFunctionConcurrency", f(n)),
        ("GET", [_, "functions", n, "concurrency"]) => ("GetFunctionConcurrency", f(n)),
        ("DELETE", [_, "functions", n, "concurrency"]) => ("DeleteFunctionConcurrency", f(n)),
        ("PUT", [_, "functions", n, "provisioned-concurrency"]) => {
            ("PutProvisionedConcurrencyConfig", f(n))
        }
        ("GET", [_, "functions", n, "provisioned-concurrency"]) => {
            ("GetProvisionedConcurrencyConfig", f(n))
        }
        ("DELETE", [_, "functions", n, "provisioned-concurrency"]) => {
            ("DeleteProvisionedConcurrencyConfig", f(n))
        }
        ("PUT", [_, "functions", n, "event-invoke-config"]) => {
            ("PutFunctionEventInvokeConfig", f(n))
        }
        ("POST", [_, "functions", n, "event-invoke-config"]) => {
            ("UpdateFunctionEventInvokeConfig", f(n))
        }
        ("GET", [_, "functions", n, "event-invoke-config"]) => {
            ("GetFunctionEventInvokeConfig", f(n))
        }
        ("DELETE", [_, "functions", n, "event-invoke-config"]) => {
            ("DeleteFunctionEventInvokeConfig", f(n))
        }
        ("GET", [_, "functions", n, "event-invoke-config", "list"]) => {
            ("ListFunctionEventInvokeConfigs", f(n))
        }
        ("GET", [_, "functions", n, "code-signing-config"]) => {
            ("GetFunctionCodeSigningConfig", f(n))
        }
        ("PUT", [_, "functions", n, "code-signing-config"]) => {
            ("PutFunctionCodeSigningConfig", f(n))
        }
        ("DELETE", [_, "functions", n, "code-signing-config"]) => {
            ("DeleteFunctionCodeSigningConfig", f(n))
        }
        ("GET", [_, "functions", n, "recursion-config"]) => ("GetFunctionRecursionConfig", f(n)),
        ("PUT", [_, "functions", n, "recursion-config"]) => ("PutFunctionRecursionConfig", f(n)),
        ("POST", [_, "code-signing-configs"]) => ("CreateCodeSigningConfig", all),
        ("GET", [_, "code-signing-configs"]) => ("ListCodeSigningConfigs", all),
        (m, [_, "code-signing-configs", arn, rest @ ..]) => {
            let op = match (m, rest) {
                ("GET", ["functions"]) => "ListFunctionsByCodeSigningConfig",
                ("GET", _) => "GetCodeSigningConfig",
                ("PUT", _) => "UpdateCodeSigningConfig",
                _ => "DeleteCodeSigningConfig",
            };
            (op, (*arn).to_owned())
        }
        ("GET", [_, "tags", arn]) => ("ListTags", (*arn).to_owned()),
        ("POST", [_, "tags", arn]) => ("TagResource", (*arn).to_owned()),
        ("DELETE", [_, "tags", arn]) => ("UntagResource", (*arn).to_owned()),
        (_, [_, "account-settings"]) => ("GetAccountSettings", all),
        ("GET", [_, "layers"]) => ("ListLayers", all),
        (m, [_, "layers", l, rest @ ..]) => {
            let arn = format!("arn:aws:lambda:{region}:{account}:layer:{l}");
            let op = match (m, rest) {
                ("POST", ["versions"]) => "PublishLayerVersion",
                ("GET", ["versions"]) => "ListLayerVersions",
                ("GET", ["versions", _]) => "GetLayerVersion",
                ("DELETE", ["versions", _]) => "DeleteLayerVersion",
                ("POST", ["versions", _, "policy"]) => "AddLayerVersionPermission",
                ("GET", ["versions", _, "policy"]) => "GetLayerVersionPolicy",
                _ => "RemoveLayerVersionPermission",
            };
            let arn = match rest {
                ["versions", v, ..] => format!("{arn}:{v}"),
                _ => arn,
            };
            (op, arn)
        }
        ("POST", [_, "event-source-mappings"]) => ("CreateEventSourceMapping", all),
        ("GET", [_, "event-source-mappings"]) => ("ListEventSourceMappings", all),
        (m, [_, "event-source-mappings", uuid]) => {
            let op = match m {
                "GET" => "GetEventSourceMapping",
                "PUT" => "UpdateEventSourceMapping",
                _ => "DeleteEventSourceMapping",
            };
            (
                op,
                format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"),
            )
        }
        _ => ("Unknown", all),
    };
    Action {
        action: format!("lambda:{op}"),
        resource,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_requests_map_to_http_method_actions() {
        let a = of_request(
            &Method::PATCH,
            "/v2/apis/abc/routes/r1",
            None,
            b"{}",
            "us-east-1",
            "123456789012",
        );
        assert_eq!(a.action, "apigateway:PATCH");
        assert_eq!(
            a.resource,
            "arn:aws:apigateway:us-east-1::/apis/abc/routes/r1"
        );
        let rest = of_request(
            &Method::PUT,
            "/restapis/abc/resources/r1/methods/GET",
            None,
            b"{}",
            "us-east-1",
            "123456789012",
        );
        assert_eq!(rest.action, "apigateway:PUT");
        assert_eq!(
            rest.resource,
            "arn:aws:apigateway:us-east-1::/restapis/abc/resources/r1/methods/GET"
        );
    }

    #[test]
    fn elbv2_requests_map_to_elasticloadbalancing_actions() {
        let body = b"Action=CreateRule&Version=2015-12-01&ListenerArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A1%3Alistener%2Fapp%2Fw%2Fa%2Fb";
        let a = of_request(&Method::POST, "/", None, body, "us-east-1", "1");
        assert_eq!(a.action, "elasticloadbalancing:CreateRule");
        assert_eq!(
            a.resource,
            "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/w/a/b"
        );
        let d = b"Action=DescribeLoadBalancers&Version=2015-12-01";
        let d = of_request(&Method::POST, "/", None, d, "us-east-1", "1");
        assert_eq!(
            (d.action.as_str(), d.resource.as_str()),
            ("elasticloadbalancing:DescribeLoadBalancers", "*")
        );
    }

    #[test]
    fn sqs_requests_map_to_queue_actions() {
        let a = of_request(
            &Method::POST,
            "/",
            Some("AmazonSQS.SendMessage"),
            br#"{"QueueUrl":"http://127.0.0.1:9000/123456789012/jobs"}"#,
            "us-east-1",
            "123456789012",
        );
        assert_eq!(a.action, "sqs:SendMessage");
        assert_eq!(a.resource, "arn:aws:sqs:us-east-1:123456789012:jobs");
        let c = of_request(
            &Method::POST,
            "/",
            Some("AmazonSQS.CreateQueue"),
            br#"{"QueueName":"q.fifo"}"#,
            "eu-west-1",
            "1",
        );
        assert_eq!(c.resource, "arn:aws:sqs:eu-west-1:1:q.fifo");
        let q = of_request(
            &Method::POST,
            "/1/jobs",
            None,
            b"Action=ReceiveMessage&MaxNumberOfMessages=1",
            "us-east-1",
            "1",
        );
        assert_eq!(
            (q.action.as_str(), q.resource.as_str()),
            ("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:1:jobs")
        );
    }

    #[test]
    fn requests_map_to_actions() {
        let a = |m: Method, p: &str| of_request(&m, p, None, b"", "us-east-1", "000000000000");
        assert_eq!(
            a(Method::POST, "/2015-03-31/functions/web/invocations"),
            Action {
                action: "lambda:InvokeFunction".into(),
                resource: "arn:aws:lambda:us-east-1:000000000000:function:web".into()
            }
        );
        assert_eq!(
            a(Method::GET, "/2015-03-31/functions/").action,
            "lambda:ListFunctions"
        );
        assert_eq!(
            a(Method::DELETE, "/2015-03-31/functions/web/aliases/live").action,
            "lambda:DeleteAlias"
        );
        let arn = a(
            Method::GET,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aweb",
        )
        .resource;
        assert_eq!(arn, "arn:aws:lambda:us-east-1:000000000000:function:web");
        let create = of_request(
            &Method::POST,
            "/2015-03-31/functions",
            None,
            br#"{"FunctionName":"f"}"#,
            "us-east-1",
            "1",
        );
        assert_eq!(create.resource, "arn:aws:lambda:us-east-1:1:function:f");
        let logs = of_request(
            &Method::POST,
            "/",
            Some("Logs_20140328.FilterLogEvents"),
            br#"{"logGroupName":"/aws/lambda/f"}"#,
            "us-east-1",
            "1",
        );
        assert_eq!(logs.action, "logs:FilterLogEvents");
        assert_eq!(
            logs.resource,
            "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f"
        );
    }
}
