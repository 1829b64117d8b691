//! EventInvokeConfig: Put/Update/Get/Delete/ListFunctionEventInvokeConfigs,
//! and the settings (retries, event age, destinations) the asynchronous
//! queue applies to each event.

use lambdad_model::validate;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::{Context, blocking};
use crate::error::{ServiceError, ServiceResult, service_error};

/// The most `MaximumRetryAttempts` (and the default).
pub const MAX_RETRY_ATTEMPTS: i64 = 2;
/// The least `MaximumEventAgeInSeconds`.
pub const MIN_EVENT_AGE_SECS: i64 = 60;
/// The most `MaximumEventAgeInSeconds` (and the default: 6 h).
pub const MAX_EVENT_AGE_SECS: i64 = 21_600;

service_error! {
    /// Why an EventInvokeConfig call fails.
    pub enum EventConfigsError {
        /// A destination that is not a function, queue, topic or event bus.
        #[error("The destination ARN {0} is invalid.")]
        BadDestination(String) => InvalidParameterValue,
        /// The function (`ARN:QUALIFIER`) has no EventInvokeConfig.
        #[error("The function {0} doesn't have an EventInvokeConfig")]
        NoConfig(String) => ResourceNotFound,
    }
}

/// Shorthand for EventInvokeConfig results.
pub type EventConfigsResult<T> = Result<T, EventConfigsError>;

/// `PutFunctionEventInvokeConfig` / `UpdateFunctionEventInvokeConfig` body.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigRequest {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<Value>,
}

/// The effective settings for one event.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `MaximumRetryAttempts` (default 2).
    pub max_retries: u32,
    /// `MaximumEventAgeInSeconds` in milliseconds (default 6 h).
    pub max_age_ms: i64,
    /// The OnSuccess destination's ARN.
    pub on_success: Option<String>,
    /// The OnFailure destination's ARN.
    pub on_failure: Option<String>,
}

/// The EventInvokeConfig service.
#[derive(Clone, Debug)]
pub struct EventConfigs {
    ctx: Context,
}

impl EventConfigs {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    fn event_config_key(q: Option<&str>) -> String {
        q.unwrap_or("$LATEST").to_owned()
    }

    /// Put (replace) or Update (merge) an EventInvokeConfig.
    pub async fn put_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        req: EventInvokeConfigRequest,
        merge: bool,
    ) -> EventConfigsResult<Value> {
        let r = self.ctx.parse_ref(region, name)?;
        let q = Context::qualifier(&r, qualifier)?.map(str::to_owned);
        self.ctx.load(region, &r.name, q.as_deref()).await?;
        let key = Self::event_config_key(q.as_deref());
        let mut current: Value = if merge {
            self.event_config(&r.name, &key)
                .await?
                .unwrap_or_else(|| json!({}))
        } else {
            json!({})
        };
        if let Some(n) = req.maximum_retry_attempts {
            validate::in_range(n, 0, MAX_RETRY_ATTEMPTS, "maximumRetryAttempts")?;
            current["MaximumRetryAttempts"] = json!(n);
        }
        if let Some(n) = req.maximum_event_age_in_seconds {
            validate::in_range(
                n,
                MIN_EVENT_AGE_SECS,
                MAX_EVENT_AGE_SECS,
                "maximumEventAgeInSeconds",
            )?;
            current["MaximumEventAgeInSeconds"] = json!(n);
        }
        if let Some(d) = req.destination_config {
            for kind in ["OnSuccess", "OnFailure"] {
                if let Some(dest) = d[kind]["Destination"].as_str()
                    && !dest.starts_with("arn:aws:lambda:")
                    && !dest.starts_with("arn:aws:sqs:")
                    && !dest.starts_with("arn:aws:sns:")
                    && !dest.starts_with("arn:aws:events:")
                {
                    return Err(EventConfigsError::BadDestination(dest.to_owned()));
                }
            }
            current["DestinationConfig"] = d;
        }
        let secs = crate::invocations::now_ms() as f64 / 1000.0;
        current["LastModified"] = json!(secs);
        let (store, f, k, text) = (
            self.ctx.store.clone(),
            r.name.clone(),
            key.clone(),
            current.to_string(),
        );
        blocking(move || store.put_event_invoke_config(&f, &k, Some(&text))).await?;
        Ok(self.render_event_config(region, &r.name, &key, current))
    }

    fn render_event_config(&self, region: &str, name: &str, key: &str, mut v: Value) -> Value {
        v["FunctionArn"] = json!(format!("{}:{key}", self.ctx.arn(region, name)));
        if v.get("DestinationConfig").is_none() {
            v["DestinationConfig"] = json!({"OnSuccess": {}, "OnFailure": {}});
        }
        v
    }

    async fn event_config(&self, name: &str, key: &str) -> ServiceResult<Option<Value>> {
        let (store, f) = (self.ctx.store.clone(), name.to_owned());
        let all = blocking(move || store.event_invoke_configs(&f)).await?;
        Ok(all
            .into_iter()
            .find(|(q, _)| q == key)
            .and_then(|(_, c)| serde_json::from_str(&c).ok()))
    }

    /// GetFunctionEventInvokeConfig.
    pub async fn get_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> EventConfigsResult<Value> {
        let r = self.ctx.parse_ref(region, name)?;
        let q = Context::qualifier(&r, qualifier)?.map(str::to_owned);
        let key = Self::event_config_key(q.as_deref());
        let none =
            || EventConfigsError::NoConfig(format!("{}:{key}", self.ctx.arn(region, &r.name)));
        // AWS says the same of a missing function or version.
        match self.ctx.load(region, &r.name, q.as_deref()).await {
            Err(ServiceError::FunctionNotFound(_)) => return Err(none()),
            other => other?,
        };
        let v = self.event_config(&r.name, &key).await?.ok_or_else(none)?;
        Ok(self.render_event_config(region, &r.name, &key, v))
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> EventConfigsResult<()> {
        self.get_event_invoke_config(region, name, qualifier)
            .await?;
        let r = self.ctx.parse_ref(region, name)?;
        let key = Self::event_config_key(Context::qualifier(&r, qualifier)?);
        let (store, f) = (self.ctx.store.clone(), r.name.clone());
        Ok(blocking(move || store.put_event_invoke_config(&f, &key, None)).await?)
    }

    /// ListFunctionEventInvokeConfigs.
    pub async fn list_event_invoke_configs(
        &self,
        region: &str,
        name: &str,
    ) -> EventConfigsResult<Value> {
        let r = self.ctx.parse_ref(region, name)?;
        self.ctx.load(region, &r.name, None).await?;
        let (store, f) = (self.ctx.store.clone(), r.name.clone());
        let all = blocking(move || store.event_invoke_configs(&f)).await?;
        let items: Vec<Value> = all
            .into_iter()
            .filter_map(|(q, c)| {
                serde_json::from_str(&c)
                    .ok()
                    .map(|v| self.render_event_config(region, &r.name, &q, v))
            })
            .collect();
        Ok(json!({ "FunctionEventInvokeConfigs": items }))
    }

    /// The settings that apply to an event of `function` at `qualifier`.
    pub async fn settings(&self, function: &str, qualifier: Option<&str>) -> Settings {
        let v = self
            .event_config(function, &Self::event_config_key(qualifier))
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| json!({}));
        Settings {
            max_retries: v["MaximumRetryAttempts"]
                .as_i64()
                .unwrap_or(MAX_RETRY_ATTEMPTS) as u32,
            max_age_ms: v["MaximumEventAgeInSeconds"]
                .as_i64()
                .unwrap_or(MAX_EVENT_AGE_SECS)
                * 1000,
            on_success: v["DestinationConfig"]["OnSuccess"]["Destination"]
                .as_str()
                .map(str::to_owned),
            on_failure: v["DestinationConfig"]["OnFailure"]["Destination"]
                .as_str()
                .map(str::to_owned),
        }
    }
}
