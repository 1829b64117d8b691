//! Event notifications from external S3-compatible servers (MinIO's
//! webhook target, Ceph RGW's HTTP push endpoint): a webhook is a named
//! notification configuration kept in lambdad (a store document of kind
//! [`WEBHOOK_DOC`]: the SHA-256 of its shared secret, the buckets it
//! accepts, its Lambda destinations with S3's event types and key filters).
//! Records POSTed to it (`{"Records": [...]}`, S3's format, as those servers
//! send) are queued, one asynchronous invocation per record and matching
//! destination, with the record as `{"Records": [record]}`, in one store
//! transaction before the answer.

use lambdad_model::error::{Code, ErrorCode};
use lambdad_store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::Objects;
use crate::notify::{EVENT_TYPES, LambdaTarget, function_of};

/// The store document kind of webhooks (keyed by name).
pub const WEBHOOK_DOC: &str = "s3-webhook";

/// The largest notification body accepted (MinIO sends one record a request).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// Most records one request may carry.
const MAX_RECORDS: usize = 100;

/// A webhook as kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    /// Hex SHA-256 of the shared secret.
    token_sha256: String,
    /// Buckets whose records it accepts (all when empty).
    buckets: Vec<String>,
    /// Its destinations.
    lambda: Vec<LambdaTarget>,
}

/// `PutS3Webhook`'s input (JSON, S3's notification configuration members).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookInput {
    /// The shared secret the server presents (`Authorization: Bearer TOKEN`).
    pub auth_token: Option<String>,
    /// Buckets whose records it accepts (all when absent).
    #[serde(default)]
    pub buckets: Vec<String>,
    /// The destinations, as S3's `LambdaFunctionConfigurations`.
    #[serde(default)]
    pub lambda_function_configurations: Vec<LambdaInput>,
}

/// One `LambdaFunctionConfiguration` (JSON).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaInput {
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's ARN (or name).
    pub lambda_function_arn: String,
    /// S3's event types.
    #[serde(default)]
    pub events: Vec<String>,
    /// `{"Key": {"FilterRules": [{"Name": "prefix", "Value": "…"}]}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
}

/// A webhook as answered (never its secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookView {
    /// Its name.
    pub name: String,
    /// The path servers post to.
    pub endpoint_path: String,
    /// Buckets whose records it accepts.
    pub buckets: Vec<String>,
    /// Its destinations.
    pub lambda_function_configurations: Vec<LambdaInput>,
}

/// Why a webhook request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No webhook of that name.
    #[error("S3 webhook not found: {0}")]
    NotFound(String),
    /// The configuration is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A destination function does not exist.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    /// The secret is missing or wrong.
    #[error("The S3 webhook's authorization token is missing or wrong.")]
    Unauthorized,
    /// The body is not S3 event records.
    #[error("Could not parse the notification: {0}")]
    BadPayload(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ErrorCode for WebhookError {
    fn error_code(&self) -> Code {
        match self {
            Self::NotFound(_) | Self::FunctionNotFound(_) => Code::ResourceNotFound,
            Self::Invalid(_) => Code::InvalidParameterValue,
            Self::Unauthorized => Code::AccessDenied,
            Self::BadPayload(_) => Code::InvalidRequestContent,
            Self::Store(e) => e.error_code(),
        }
    }
}

fn sha256_hex(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// The secret a request presents: `Authorization: Bearer TOKEN` (MinIO),
/// or a `token` query parameter (for Ceph, whose push endpoint is a URL).
pub fn presented_token<'a>(authorization: Option<&'a str>, query: &'a str) -> Option<String> {
    if let Some(a) = authorization {
        let a = a.trim();
        return Some(
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
                .unwrap_or(a)
                .trim()
                .to_owned(),
        );
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn rules_of(filter: Option<&serde_json::Value>) -> Result<Vec<(String, String)>, WebhookError> {
    let Some(rules) = filter.and_then(|f| f.pointer("/Key/FilterRules")) else {
        return Ok(Vec::new());
    };
    let list = rules
        .as_array()
        .ok_or_else(|| WebhookError::Invalid("Filter.Key.FilterRules must be a list".into()))?;
    list.iter()
        .map(|r| {
            let name = r["Name"].as_str().unwrap_or_default();
            let value = r["Value"].as_str().unwrap_or_default();
            if !name.eq_ignore_ascii_case("prefix") && !name.eq_ignore_ascii_case("suffix") {
                return Err(WebhookError::Invalid(format!(
                    "Invalid filter rule name {name}: it must be prefix or suffix"
                )));
            }
            Ok((name.to_ascii_lowercase(), value.to_owned()))
        })
        .collect()
}

fn view(name: &str, s: Stored) -> WebhookView {
    WebhookView {
        name: name.to_owned(),
        endpoint_path: format!("/_lambdad/s3-webhooks/{name}/events"),
        buckets: s.buckets,
        lambda_function_configurations: s
            .lambda
            .into_iter()
            .map(|t| LambdaInput {
                id: Some(t.id),
                lambda_function_arn: t.function_arn,
                events: t.events,
                filter: (!t.rules.is_empty()).then(|| {
                    let rules: Vec<_> = t
                        .rules
                        .into_iter()
                        .map(|(n, v)| serde_json::json!({"Name": n, "Value": v}))
                        .collect();
                    serde_json::json!({"Key": {"FilterRules": rules}})
                }),
            })
            .collect(),
    }
}

/// `(bucket, key, event name without "s3:")` of a record; the key decoded
/// from S3's URL encoding.
fn record_parts(r: &serde_json::Value) -> Option<(String, String, String)> {
    let bucket = r.pointer("/s3/bucket/name")?.as_str()?.to_owned();
    let raw = r.pointer("/s3/object/key")?.as_str()?;
    let plus = raw.replace('+', " ");
    let key = percent_decode(&plus);
    let name = r.get("eventName")?.as_str()?;
    let name = name.strip_prefix("s3:").unwrap_or(name).to_owned();
    Some((bucket, key, name))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(h), Some(l)) if hex(*h).is_some() && hex(*l).is_some() => {
                let v = hex(*h).unwrap_or(0) * 16 + hex(*l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Objects {
    async fn webhook_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn lambdad_store::Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebhookError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| WebhookError::Store(StoreError::Io(std::io::Error::other(e.to_string()))))?
            .map_err(WebhookError::Store)
    }

    /// Creates or replaces the webhook `name`.
    pub async fn put_webhook(
        &self,
        name: &str,
        input: WebhookInput,
    ) -> Result<WebhookView, WebhookError> {
        if !valid_name(name) {
            return Err(WebhookError::Invalid(
                "The webhook name must be 1 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        let token = input.auth_token.unwrap_or_default();
        if token.len() < 8 || token.len() > 512 || token.contains(char::is_whitespace) {
            return Err(WebhookError::Invalid(
                "AuthToken must be 8 to 512 characters without spaces".into(),
            ));
        }
        if input.lambda_function_configurations.is_empty() {
            return Err(WebhookError::Invalid(
                "LambdaFunctionConfigurations must name at least one function".into(),
            ));
        }
        let mut lambda = Vec::new();
        for c in input.lambda_function_configurations {
            if c.events.is_empty() || c.events.iter().any(|e| !EVENT_TYPES.contains(&e.as_str())) {
                return Err(WebhookError::Invalid(
                    "The event is not supported for notifications".into(),
                ));
            }
            lambda.push(LambdaTarget {
                id: c.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                rules: rules_of(c.filter.as_ref())?,
                function_arn: c.lambda_function_arn,
                events: c.events,
            });
        }
        let stored = Stored {
            token_sha256: sha256_hex(&token),
            buckets: input.buckets,
            lambda,
        };
        let json = serde_json::to_string(&stored).unwrap_or_default();
        let (n, check) = (name.to_owned(), stored.lambda.clone());
        let missing = self
            .webhook_db(move |s| {
                for t in &check {
                    if s.get_function(&function_of(&t.function_arn).0)?.is_none() {
                        return Ok(Some(t.function_arn.clone()));
                    }
                }
                s.put_doc(WEBHOOK_DOC, &n, Some(&json))?;
                Ok(None)
            })
            .await?;
        if let Some(f) = missing {
            return Err(WebhookError::FunctionNotFound(f));
        }
        Ok(view(name, stored))
    }

    async fn stored_webhook(&self, name: &str) -> Result<Stored, WebhookError> {
        let n = name.to_owned();
        self.webhook_db(move |s| s.get_doc(WEBHOOK_DOC, &n))
            .await?
            .and_then(|d| serde_json::from_str(&d).ok())
            .ok_or_else(|| WebhookError::NotFound(name.to_owned()))
    }

    /// The webhook `name` (without its secret).
    pub async fn get_webhook(&self, name: &str) -> Result<WebhookView, WebhookError> {
        Ok(view(name, self.stored_webhook(name).await?))
    }

    /// Deletes the webhook `name`.
    pub async fn delete_webhook(&self, name: &str) -> Result<(), WebhookError> {
        self.stored_webhook(name).await?;
        let n = name.to_owned();
        self.webhook_db(move |s| s.put_doc(WEBHOOK_DOC, &n, None))
            .await
    }

    /// Checks the secret (`token`, from [`presented_token`]) of a request
    /// to the webhook `name`, without reading its body (HEAD, MinIO's
    /// liveness probe).
    pub async fn check_webhook(&self, name: &str, token: Option<&str>) -> Result<(), WebhookError> {
        let stored = self.stored_webhook(name).await?;
        let given = sha256_hex(token.ok_or(WebhookError::Unauthorized)?);
        // Both are hashes of equal length: compare without an early exit.
        let same = given
            .bytes()
            .zip(stored.token_sha256.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized)
        }
    }

    /// Queues the invocations the S3 event records in `body` cause under the
    /// webhook `name`; how many. Records of other buckets or events no
    /// destination wants cause none (as S3, they are not errors).
    pub async fn accept_webhook(
        &self,
        name: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<usize, WebhookError> {
        self.check_webhook(name, token).await?;
        let stored = self.stored_webhook(name).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::BadPayload(e.to_string()))?;
        let records = doc
            .get("Records")
            .and_then(|r| r.as_array())
            .ok_or_else(|| WebhookError::BadPayload("no Records list".into()))?;
        if records.len() > MAX_RECORDS {
            return Err(WebhookError::BadPayload(format!(
                "more than {MAX_RECORDS} records"
            )));
        }
        let now = crate::now_ms();
        let mut events = Vec::new();
        for r in records {
            let (bucket, key, event_name) = record_parts(r).ok_or_else(|| {
                WebhookError::BadPayload(
                    "a record lacks eventName, s3.bucket.name or s3.object.key".into(),
                )
            })?;
            if !stored.buckets.is_empty() && !stored.buckets.contains(&bucket) {
                continue;
            }
            for t in &stored.lambda {
                if crate::notify::wants(&t.events, &t.rules, &event_name, &key) {
                    let (function, qualifier) = function_of(&t.function_arn);
                    events.push(lambdad_store::AsyncEvent {
                        id: uuid::Uuid::new_v4().to_string(),
                        function,
                        qualifier,
                        payload: serde_json::json!({ "Records": [r] })
                            .to_string()
                            .into_bytes(),
                        received_ms: now,
                        attempts: 0,
                        not_before_ms: now,
                    });
                }
            }
        }
        let n = events.len();
        if n > 0 {
            self.webhook_db(move |s| s.enqueue_events(&events)).await?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_records_are_read_as_minio_and_ceph_send_them() {
        assert_eq!(
            presented_token(Some("Bearer s3cret-token"), ""),
            Some("s3cret-token".into())
        );
        assert_eq!(presented_token(None, "a=1&token=t%2B1"), Some("t+1".into()));
        assert_eq!(presented_token(None, ""), None);
        let minio = serde_json::json!({
            "eventName": "s3:ObjectCreated:Put",
            "s3": {"bucket": {"name": "photos"}, "object": {"key": "uploads%2Fred+flower.jpg"}}
        });
        assert_eq!(
            record_parts(&minio),
            Some((
                "photos".into(),
                "uploads/red flower.jpg".into(),
                "ObjectCreated:Put".into()
            ))
        );
        assert!(valid_name("minio-1") && !valid_name("a/b") && !valid_name(""));
    }
}
