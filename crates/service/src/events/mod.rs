//! EventBridge on the default event bus: rules (event patterns and
//! schedules) with Lambda, SQS and SNS targets, and PutEvents (the
//! scheduler that fires schedule rules is a trigger,
//! `lambdad_triggers::schedules`).
//!
//! Rules live in the store as documents (kind `rule`). Matched events and
//! schedule ticks become asynchronous invocations of the target functions
//! (so retries, destinations and dead-letter queues apply) or queued
//! messages for the target queues and topics (sent by the asynchronous
//! worker, `targets.rs`), with EventBridge's envelope, `Input`, `InputPath`
//! or `InputTransformer`.

pub mod targets;

use std::time::Duration;

use lambdad_model::eventpattern::EventPattern;
use lambdad_model::schedule::Schedule;
use lambdad_model::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::context::{Context, blocking, missing};
use crate::error::service_error;
use crate::invocations::{Invocations, now_ms};

pub use targets::{InputTransformer, SqsParameters, Target, target_input};
use targets::{Kind, Refusal, RuleMessage};

const KIND: &str = "rule";

/// The longest rule name.
const MAX_RULE_NAME: usize = 64;
/// The most targets (PutTargets) or entries (PutEvents) in one call.
pub const MAX_PER_CALL: usize = 10;
/// The most targets of one rule.
pub const MAX_TARGETS: usize = 5;

service_error! {
    /// Why an EventBridge call fails.
    pub enum RulesError {
        /// An event bus other than `default`.
        #[error("Event bus {0} does not exist.")]
        BusNotFound(String) => ResourceNotFound,
        /// No rule has this name.
        #[error("Rule {0} does not exist on EventBus default.")]
        RuleNotFound(String) => ResourceNotFound,
        /// A rule name EventBridge refuses.
        #[error("{}", validate::one_error(
            .name,
            "name",
            "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
        ))]
        BadRuleName { name: String } => Validation,
        /// A rule with neither a pattern nor a schedule.
        #[error("Parameter(s) EventPattern or ScheduleExpression must be specified.")]
        PatternOrSchedule => Validation,
        /// An event pattern that does not parse (why).
        #[error("{0}")]
        BadPattern(String) => InvalidEventPattern,
        /// A schedule expression that does not parse (why).
        #[error("{0}")]
        BadSchedule(String) => Validation,
        /// A state other than `ENABLED` or `DISABLED`.
        #[error("{}", validate::one_error(
            .state,
            "state",
            "Member must satisfy enum value set: [ENABLED, DISABLED]",
        ))]
        BadState { state: String } => Validation,
        /// DeleteRule of a rule with targets.
        #[error("Rule can't be deleted since it has targets.")]
        HasTargets => Validation,
        /// PutTargets with none or more than [`MAX_PER_CALL`].
        #[error("{}", validate::unvalued_error(
            "targets",
            &format!("Member must have length between 1 and {MAX_PER_CALL}"),
        ))]
        TargetCount => Validation,
        /// More than [`MAX_TARGETS`] targets on a rule.
        #[error("The requested resource exceeds the maximum number allowed.")]
        TooManyTargets => LimitExceeded,
        /// A target whose ARN is not one.
        #[error("Parameter {0} is not valid. Reason: Provided Arn is not in correct format.")]
        BadTargetArn(String) => Validation,
        /// A FIFO queue target without `SqsParameters` (its id).
        #[error("Parameter(s) SqsParameters must be specified for target: {0}.")]
        SqsParametersMissing(String) => Validation,
        /// A `MessageGroupId` longer than [`targets::MAX_GROUP_ID`].
        #[error("{}", validate::one_error(
            .group,
            &format!("targets.{}.member.sqsParameters.messageGroupId", .index),
            &format!("Member must have length less than or equal to {}", targets::MAX_GROUP_ID),
        ))]
        GroupIdTooLong { group: String, index: usize } => Validation,
        /// PutEvents with none or more than [`MAX_PER_CALL`] entries.
        #[error("{}", validate::unvalued_error(
            "entries",
            &format!("Member must have length between 1 and {MAX_PER_CALL}"),
        ))]
        EntryCount => Validation,
    }
}

/// Shorthand for EventBridge results.
pub type RulesResult<T> = Result<T, RulesError>;

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's name.
    pub name: String,
    event_pattern: Option<String>,
    /// `rate(...)` or `cron(...)`, for schedule rules.
    pub schedule_expression: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    description: Option<String>,
    role_arn: Option<String>,
    targets: Vec<Target>,
    /// When the schedule was (re)started: rates count from here (epoch ms).
    pub anchor_ms: i64,
    /// The last schedule tick handled (fired or skipped), epoch ms.
    pub last_tick_ms: Option<i64>,
}

/// PutRule's members.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRule {
    name: Option<String>,
    event_pattern: Option<String>,
    schedule_expression: Option<String>,
    state: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
    event_bus_name: Option<String>,
}

/// The time `ms` milliseconds after the epoch.
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `t` as ISO 8601 in whole seconds (`2020-01-01T00:00:00Z`).
pub fn iso_seconds(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_default()
}

fn check_bus(bus: Option<&str>) -> RulesResult<()> {
    match bus {
        None | Some("default") => Ok(()),
        Some(b) if b.ends_with(":event-bus/default") => Ok(()),
        Some(b) => Err(RulesError::BusNotFound(b.to_owned())),
    }
}

/// The EventBridge rules service.
#[derive(Clone, Debug)]
pub struct Rules {
    ctx: Context,
    invocations: Invocations,
}

impl Rules {
    /// The service over `ctx`, queueing target invocations through `invocations`.
    pub fn new(ctx: Context, invocations: Invocations) -> Self {
        Self { ctx, invocations }
    }

    /// The account rules and events belong to.
    pub fn account(&self) -> &str {
        &self.ctx.account
    }

    /// The ARN of rule `name`.
    pub fn rule_arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:events:{region}:{}:rule/{name}", self.ctx.account)
    }

    async fn rule(&self, name: &str) -> RulesResult<Rule> {
        self.ctx
            .load_doc(KIND, name)
            .await?
            .ok_or_else(|| RulesError::RuleNotFound(name.to_owned()))
    }

    /// Stores `rule`.
    pub async fn save_rule(&self, rule: &Rule) -> RulesResult<()> {
        Ok(self.ctx.save_doc(KIND, &rule.name, Some(rule)).await?)
    }

    /// Every rule.
    pub async fn rules(&self) -> RulesResult<Vec<Rule>> {
        Ok(self.ctx.all_docs(KIND).await?)
    }

    /// PutRule: creates or replaces a rule (its targets stay).
    pub async fn put_rule(
        &self,
        region: &str,
        req: PutRule,
        min_interval: Duration,
    ) -> RulesResult<Value> {
        let name = req.name.ok_or_else(|| missing("name"))?;
        if name.is_empty()
            || name.len() > MAX_RULE_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(RulesError::BadRuleName { name });
        }
        check_bus(req.event_bus_name.as_deref())?;
        if req.event_pattern.is_none() && req.schedule_expression.is_none() {
            return Err(RulesError::PatternOrSchedule);
        }
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p).map_err(|e| RulesError::BadPattern(e.to_string()))?;
        }
        if let Some(s) = &req.schedule_expression {
            Schedule::parse(s, min_interval).map_err(|e| RulesError::BadSchedule(e.to_string()))?;
        }
        let state = req.state.unwrap_or_else(|| "ENABLED".into());
        if !matches!(state.as_str(), "ENABLED" | "DISABLED") {
            return Err(RulesError::BadState { state });
        }
        let existing = self.rule(&name).await.ok();
        let schedule_changed = existing
            .as_ref()
            .is_none_or(|r| r.schedule_expression != req.schedule_expression);
        let rule = Rule {
            targets: existing
                .as_ref()
                .map(|r| r.targets.clone())
                .unwrap_or_default(),
            anchor_ms: match &existing {
                Some(r) if !schedule_changed => r.anchor_ms,
                _ => now_ms(),
            },
            last_tick_ms: existing
                .as_ref()
                .filter(|_| !schedule_changed)
                .and_then(|r| r.last_tick_ms),
            name: name.clone(),
            event_pattern: req.event_pattern,
            schedule_expression: req.schedule_expression,
            state,
            description: req.description,
            role_arn: req.role_arn,
        };
        self.save_rule(&rule).await?;
        Ok(json!({ "RuleArn": self.rule_arn(region, &name) }))
    }

    fn render_rule(&self, region: &str, r: &Rule) -> Value {
        let mut v = json!({
            "Name": r.name, "Arn": self.rule_arn(region, &r.name), "State": r.state,
            "EventBusName": "default", "CreatedBy": self.ctx.account,
        });
        for (k, val) in [
            ("EventPattern", &r.event_pattern),
            ("ScheduleExpression", &r.schedule_expression),
            ("Description", &r.description),
            ("RoleArn", &r.role_arn),
        ] {
            if let Some(x) = val {
                v[k] = json!(x);
            }
        }
        v
    }

    /// DescribeRule.
    pub async fn describe_rule(&self, region: &str, name: &str) -> RulesResult<Value> {
        Ok(self.render_rule(region, &self.rule(name).await?))
    }

    /// ListRules, by name prefix.
    pub async fn list_rules(
        &self,
        region: &str,
        prefix: Option<&str>,
        limit: Option<usize>,
        token: Option<&str>,
    ) -> RulesResult<Value> {
        let mut rules = self.rules().await?;
        rules.retain(|r| prefix.is_none_or(|p| r.name.starts_with(p)));
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let limit = limit.unwrap_or(100).clamp(1, 100);
        let page: Vec<Value> = rules
            .iter()
            .skip(start)
            .take(limit)
            .map(|r| self.render_rule(region, r))
            .collect();
        let mut out = json!({ "Rules": page });
        if start + limit < rules.len() {
            out["NextToken"] = json!((start + limit).to_string());
        }
        Ok(out)
    }

    /// DeleteRule (only without targets, as EventBridge).
    pub async fn delete_rule(&self, name: &str) -> RulesResult<()> {
        let rule = match self.rule(name).await {
            Ok(r) => r,
            Err(_) => return Ok(()),
        };
        if !rule.targets.is_empty() {
            return Err(RulesError::HasTargets);
        }
        Ok(self.ctx.save_doc::<Rule>(KIND, name, None).await?)
    }

    /// EnableRule / DisableRule.
    pub async fn set_rule_state(&self, name: &str, enabled: bool) -> RulesResult<()> {
        let mut rule = self.rule(name).await?;
        let state = if enabled { "ENABLED" } else { "DISABLED" };
        if rule.state != state {
            rule.state = state.into();
            if enabled {
                rule.anchor_ms = now_ms();
                rule.last_tick_ms = None;
            }
            self.save_rule(&rule).await?;
        }
        Ok(())
    }

    /// PutTargets: adds or replaces targets by Id. Lambda functions, SQS
    /// queues and SNS topics are delivered to; a target of another service
    /// is a failed entry. A malformed ARN or a FIFO queue without
    /// `SqsParameters` fails the call, as on EventBridge.
    pub async fn put_targets(&self, name: &str, targets: Vec<Target>) -> RulesResult<Value> {
        if targets.is_empty() || targets.len() > MAX_PER_CALL {
            return Err(RulesError::TargetCount);
        }
        for (i, t) in targets.iter().enumerate() {
            let Some(kind) = targets::kind(&t.arn) else {
                return Err(RulesError::BadTargetArn(t.arn.clone()));
            };
            let group = t
                .sqs_parameters
                .as_ref()
                .and_then(|p| p.message_group_id.as_deref());
            if kind == Kind::Queue && t.arn.ends_with(".fifo") && group.is_none() {
                return Err(RulesError::SqsParametersMissing(t.id.clone()));
            }
            if let Some(g) = group.filter(|g| g.len() > targets::MAX_GROUP_ID) {
                return Err(RulesError::GroupIdTooLong {
                    group: g.to_owned(),
                    index: i + 1,
                });
            }
        }
        let mut rule = self.rule(name).await?;
        let mut failed = Vec::new();
        for t in targets {
            if targets::kind(&t.arn) == Some(Kind::Other) {
                failed.push(json!({"TargetId": t.id, "ErrorCode": "ValidationException", "ErrorMessage": "lambdad delivers to Lambda functions, SQS queues and SNS topics only."}));
                continue;
            }
            rule.targets.retain(|x| x.id != t.id);
            rule.targets.push(t);
        }
        if rule.targets.len() > MAX_TARGETS {
            return Err(RulesError::TooManyTargets);
        }
        self.save_rule(&rule).await?;
        Ok(json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
    }

    /// RemoveTargets.
    pub async fn remove_targets(&self, name: &str, ids: &[String]) -> RulesResult<Value> {
        let mut rule = self.rule(name).await?;
        rule.targets.retain(|t| !ids.contains(&t.id));
        self.save_rule(&rule).await?;
        Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
    }

    /// ListTargetsByRule.
    pub async fn list_targets(&self, name: &str) -> RulesResult<Value> {
        Ok(json!({ "Targets": self.rule(name).await?.targets }))
    }

    /// Queues one event for each target of `rule`: an asynchronous
    /// invocation of a function, or a message for a queue or topic (the
    /// queued event's `function` is its ARN, its qualifier the
    /// [`RuleMessage`]), sent by the asynchronous worker.
    pub async fn deliver(&self, region: &str, rule: &Rule, event: &Value) {
        for t in &rule.targets {
            let input = bytes::Bytes::from(target_input(t, event));
            let id = uuid::Uuid::new_v4().to_string();
            let queued = match targets::kind(&t.arn) {
                Some(Kind::Function) => {
                    let Some(f) = lambdad_model::arn::parse_function_ref(&t.arn) else {
                        continue;
                    };
                    self.invocations
                        .enqueue_event(&f.name, f.qualifier.as_deref(), input, &id)
                        .await
                }
                Some(Kind::Queue | Kind::Topic) => {
                    let message = RuleMessage {
                        rule_arn: self.rule_arn(region, &rule.name),
                        message_group_id: t
                            .sqs_parameters
                            .as_ref()
                            .and_then(|p| p.message_group_id.clone()),
                    };
                    self.invocations
                        .enqueue_event(&t.arn, Some(&message.to_qualifier()), input, &id)
                        .await
                }
                _ => continue,
            };
            if let Err(e) = queued {
                tracing::warn!(rule = %rule.name, target = %t.arn, region, error = %e, "Cannot queue an event for a rule target.");
            }
        }
    }

    /// Why rule `rule_arn`'s events may not go to the queue or topic `arn`
    /// (None: they may, or it is not a built-in one): [`targets::refusal`],
    /// checked before each delivery.
    pub async fn message_refusal(
        &self,
        region: &str,
        arn: &str,
        rule_arn: &str,
    ) -> RulesResult<Option<Refusal>> {
        let store = self.ctx.store.clone();
        let (arn, rule_arn) = (arn.to_owned(), rule_arn.to_owned());
        let (region, account) = (region.to_owned(), self.ctx.account.clone());
        Ok(
            blocking(move || targets::refusal(store.as_ref(), &arn, &rule_arn, &region, &account))
                .await?,
        )
    }

    /// PutEvents on the default bus.
    pub async fn put_events(&self, region: &str, entries: &[Value]) -> RulesResult<Value> {
        if entries.is_empty() || entries.len() > MAX_PER_CALL {
            return Err(RulesError::EntryCount);
        }
        let rules: Vec<Rule> = self
            .rules()
            .await?
            .into_iter()
            .filter(|r| r.state == "ENABLED" && r.event_pattern.is_some())
            .collect();
        let patterns: Vec<(Rule, EventPattern)> = rules
            .into_iter()
            .filter_map(|r| {
                let p = EventPattern::parse(r.event_pattern.as_deref()?).ok()?;
                Some((r, p))
            })
            .collect();
        let mut results = Vec::new();
        let mut failed = 0;
        for entry in entries {
            let text = |k: &str| entry.get(k).and_then(Value::as_str);
            let (Some(source), Some(detail_type), Some(detail)) =
                (text("Source"), text("DetailType"), text("Detail"))
            else {
                failed += 1;
                results.push(json!({"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameters Source, DetailType and Detail are required."}));
                continue;
            };
            if check_bus(text("EventBusName")).is_err() {
                failed += 1;
                results.push(json!({"ErrorCode": "InvalidArgument", "ErrorMessage": "Event bus does not exist."}));
                continue;
            }
            let Ok(detail @ Value::Object(_)) = serde_json::from_str::<Value>(detail) else {
                failed += 1;
                results.push(
                    json!({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}),
                );
                continue;
            };
            let id = uuid::Uuid::new_v4().to_string();
            let event = json!({
                "version": "0", "id": id, "detail-type": detail_type, "source": source,
                "account": self.ctx.account, "time": iso_seconds(OffsetDateTime::now_utc()), "region": region,
                "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])),
                "detail": detail,
            });
            for (rule, pattern) in &patterns {
                if pattern.matches(&event) {
                    self.deliver(region, rule, &event).await;
                }
            }
            results.push(json!({ "EventId": id }));
        }
        Ok(json!({ "FailedEntryCount": failed, "Entries": results }))
    }
}
