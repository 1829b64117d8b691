//! The EventBridge subset (`X-Amz-Target: AWSEvents.<Op>`): rules, targets
//! and PutEvents on the default bus.

use serde_json::Value;

use super::AppState;
use super::error::{ApiError, ApiResult};
use lambdad_model::{Code, validate};
use lambdad_service::events::{PutRule, Target};

fn text<'a>(v: &'a Value, key: &str) -> ApiResult<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(Code::Validation, validate::null_error(&key.to_lowercase())))
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| ApiError::new(Code::Validation, e.to_string()))
}

/// Runs one EventBridge operation.
pub async fn operation(state: &AppState, region: &str, op: &str, input: Value) -> ApiResult<Value> {
    let f = &state.services.rules;
    let empty = || Value::Object(Default::default());
    match op {
        "PutRule" => {
            let req: PutRule = parse(input)?;
            f.put_rule(region, req, state.config.schedule_min_interval)
                .await
                .map_err(ApiError::from)
        }
        "DescribeRule" => f
            .describe_rule(region, text(&input, "Name")?)
            .await
            .map_err(ApiError::from),
        "ListRules" => {
            let limit = input
                .get("Limit")
                .and_then(Value::as_u64)
                .map(|l| l as usize);
            let prefix = input.get("NamePrefix").and_then(Value::as_str);
            let token = input.get("NextToken").and_then(Value::as_str);
            f.list_rules(region, prefix, limit, token)
                .await
                .map_err(ApiError::from)
        }
        "DeleteRule" => f
            .delete_rule(text(&input, "Name")?)
            .await
            .map_err(ApiError::from)
            .map(|()| empty()),
        "EnableRule" => f
            .set_rule_state(text(&input, "Name")?, true)
            .await
            .map_err(ApiError::from)
            .map(|()| empty()),
        "DisableRule" => f
            .set_rule_state(text(&input, "Name")?, false)
            .await
            .map_err(ApiError::from)
            .map(|()| empty()),
        "PutTargets" => {
            let rule = text(&input, "Rule")?.to_owned();
            let targets: Vec<Target> = parse(input.get("Targets").cloned().unwrap_or_default())?;
            f.put_targets(&rule, targets).await.map_err(ApiError::from)
        }
        "RemoveTargets" => {
            let rule = text(&input, "Rule")?.to_owned();
            let ids: Vec<String> = parse(input.get("Ids").cloned().unwrap_or_default())?;
            f.remove_targets(&rule, &ids).await.map_err(ApiError::from)
        }
        "ListTargetsByRule" => f
            .list_targets(text(&input, "Rule")?)
            .await
            .map_err(ApiError::from),
        "PutEvents" => {
            let entries = input
                .get("Entries")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            f.put_events(region, &entries).await.map_err(ApiError::from)
        }
        other => Err(ApiError::new(
            Code::UnknownOperation,
            format!("The operation {other} is not supported by lambdad."),
        )),
    }
}
