//! Function URL configurations and functions' resource-based policies:
//! CreateFunctionUrlConfig and its siblings, AddPermission, RemovePermission,
//! GetPolicy, and the lookups the URL data plane makes.

use lambdad_model::policy::{self, PermissionRequest};
use lambdad_model::url::{self, Cors};
use lambdad_model::{VersionSnapshot, validate};
use lambdad_store::{PolicyRecord, UrlConfigRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use std::sync::Arc;

use crate::context::{Context, blocking, missing, new_revision, now_timestamp};
use crate::error::{ServiceError, ServiceResult, service_error};

/// The most URL configurations on one ListFunctionUrlConfigs page.
const MAX_URL_PAGE: i64 = 50;

service_error! {
    /// Why a function URL or resource-policy call fails.
    pub enum UrlsError {
        /// The function (or alias) has no URL configuration.
        #[error("The resource you requested does not exist.")]
        UrlNotFound => ResourceNotFound,
        /// A URL configuration write or listing names a missing function or alias.
        #[error("Function does not exist")]
        NoFunction => ResourceNotFound,
        /// The function (or alias, its ARN) has a URL configuration already.
        #[error(
            "Failed to create function url config for [functionArn = {0}]. Error message:  FunctionUrlConfig exists for this Lambda function"
        )]
        UrlExists(String) => ResourceConflict,
        /// AddPermission on `$LATEST`.
        #[error("We currently do not support adding policies for $LATEST.")]
        LatestPolicy => InvalidParameterValue,
    }
}

/// Shorthand for function URL and policy results.
pub type UrlsResult<T> = Result<T, UrlsError>;

/// The body of Create/UpdateFunctionUrlConfig.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UrlConfigRequest {
    /// `NONE` or `AWS_IAM`.
    pub auth_type: Option<String>,
    /// CORS settings.
    pub cors: Option<Cors>,
    /// `BUFFERED` or `RESPONSE_STREAM` (unset: buffered, and not echoed).
    pub invoke_mode: Option<String>,
}

/// What the URL data plane needs to serve a request.
#[derive(Debug, Clone)]
pub struct UrlTarget {
    /// The configuration.
    pub config: UrlConfigRecord,
    /// The parsed CORS settings.
    pub cors: Option<Cors>,
    /// Whether the policy lets anyone invoke it (AuthType NONE).
    pub public: bool,
}

/// A new URL id: 32 characters of `[a-z0-9]`, like AWS's.
fn new_url_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn statements(p: Option<&PolicyRecord>) -> ServiceResult<Vec<Value>> {
    match p {
        None => Ok(Vec::new()),
        Some(p) => serde_json::from_str(&p.statements)
            .map_err(|e| ServiceError::internal(format!("corrupt policy: {e}"))),
    }
}

/// The function URL and resource-policy service.
#[derive(Clone, Debug)]
pub struct Urls {
    ctx: Context,
    /// Scheme and domain (with port) under which function URLs are published.
    url_base: Arc<str>,
}

impl Urls {
    /// The service over `ctx`, publishing URLs under `url_base` (e.g. `http://localhost:9001`).
    pub fn new(ctx: Context, url_base: &str) -> Self {
        Self {
            ctx,
            url_base: Arc::from(url_base),
        }
    }

    /// `http://ID.lambda-url.REGION.localhost:PORT/` (or under the configured base).
    pub fn function_url(&self, region: &str, url_id: &str) -> String {
        let (scheme, rest) = self
            .url_base
            .split_once("://")
            .unwrap_or(("http", &self.url_base));
        format!(
            "{scheme}://{url_id}.lambda-url.{region}.{}/",
            rest.trim_end_matches('/')
        )
    }

    /// Resolves the function and URL qualifier (`$LATEST` or an alias) of a
    /// URL configuration request, checking both exist (`read`: Get/Delete).
    async fn url_scope(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        read: bool,
    ) -> UrlsResult<(String, String)> {
        let r = self.ctx.parse_ref(region, name)?;
        let q = Context::qualifier(&r, qualifier)?;
        if let Some(q) = q {
            url::check_qualifier(q)?;
        }
        // Loads the alias too, so that a missing one is a 404, in AWS's
        // words: reads say the URL config does not exist, writes and
        // listings that the function does not.
        self.ctx
            .load(region, &r.name, q)
            .await
            .map_err(|e| match e {
                ServiceError::FunctionNotFound(_) if read => UrlsError::UrlNotFound,
                ServiceError::FunctionNotFound(_) => UrlsError::NoFunction,
                e => e.into(),
            })?;
        Ok((r.name.clone(), q.unwrap_or("$LATEST").to_owned()))
    }

    fn render_url(&self, region: &str, u: &UrlConfigRecord, created: bool) -> Value {
        let mut arn = self.ctx.arn(region, &u.function);
        if u.qualifier != "$LATEST" {
            arn = format!("{arn}:{}", u.qualifier);
        }
        let mut out = json!({
            "FunctionUrl": self.function_url(region, &u.url_id),
            "FunctionArn": arn,
            "AuthType": u.auth_type,
            "CreationTime": u.creation_time,
        });
        if !u.invoke_mode.is_empty() {
            out["InvokeMode"] = json!(u.invoke_mode);
        }
        if let Some(c) = &u.cors {
            out["Cors"] = c.clone();
        }
        if !created {
            out["LastModifiedTime"] = json!(u.last_modified_time);
        }
        out
    }

    async fn url_config(&self, function: &str, q: &str) -> UrlsResult<UrlConfigRecord> {
        let (store, f, q) = (self.ctx.store.clone(), function.to_owned(), q.to_owned());
        blocking(move || store.get_url_config(&f, &q))
            .await?
            .ok_or(UrlsError::UrlNotFound)
    }

    /// CreateFunctionUrlConfig.
    pub async fn create_url_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        req: UrlConfigRequest,
    ) -> UrlsResult<Value> {
        let auth = req.auth_type.ok_or_else(|| missing("authType"))?;
        url::check_enum(&auth, "authType", &url::AUTH_TYPES)?;
        // Empty when not given: AWS then answers without InvokeMode (buffered).
        if let Some(m) = &req.invoke_mode {
            url::check_enum(m, "invokeMode", &url::INVOKE_MODES)?;
        }
        let mode = req.invoke_mode.unwrap_or_default();
        if let Some(c) = &req.cors {
            c.validate()?;
        }
        let (function, q) = self.url_scope(region, name, qualifier, false).await?;
        let now = now_timestamp();
        let record = UrlConfigRecord {
            function: function.clone(),
            qualifier: q.clone(),
            url_id: new_url_id(),
            auth_type: auth,
            cors: req
                .cors
                .map(|c| serde_json::to_value(c).unwrap_or_default()),
            invoke_mode: mode,
            creation_time: now.clone(),
            last_modified_time: now,
        };
        let store = self.ctx.store.clone();
        let rec = record.clone();
        blocking(move || store.create_url_config(&rec))
            .await
            .map_err(|e| {
                if e.is_store_conflict() {
                    let mut arn = self.ctx.arn(region, &function);
                    if q != "$LATEST" {
                        arn = format!("{arn}:{q}");
                    }
                    UrlsError::UrlExists(arn)
                } else {
                    e.into()
                }
            })?;
        Ok(self.render_url(region, &record, true))
    }

    /// GetFunctionUrlConfig.
    pub async fn get_url_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> UrlsResult<Value> {
        let (function, q) = self.url_scope(region, name, qualifier, true).await?;
        let u = self.url_config(&function, &q).await?;
        Ok(self.render_url(region, &u, false))
    }

    /// UpdateFunctionUrlConfig: changes only the members given.
    pub async fn update_url_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        req: UrlConfigRequest,
    ) -> UrlsResult<Value> {
        if let Some(a) = &req.auth_type {
            url::check_enum(a, "authType", &url::AUTH_TYPES)?;
        }
        if let Some(m) = &req.invoke_mode {
            url::check_enum(m, "invokeMode", &url::INVOKE_MODES)?;
        }
        if let Some(c) = &req.cors {
            c.validate()?;
        }
        let (function, q) = self.url_scope(region, name, qualifier, false).await?;
        let mut u = self.url_config(&function, &q).await?;
        if let Some(a) = req.auth_type {
            u.auth_type = a;
        }
        if let Some(m) = req.invoke_mode {
            u.invoke_mode = m;
        }
        if let Some(c) = req.cors {
            u.cors = Some(serde_json::to_value(c).unwrap_or_default());
        }
        u.last_modified_time = now_timestamp();
        let store = self.ctx.store.clone();
        let rec = u.clone();
        if !blocking(move || store.update_url_config(&rec)).await? {
            return Err(UrlsError::UrlNotFound);
        }
        Ok(self.render_url(region, &u, false))
    }

    /// DeleteFunctionUrlConfig.
    pub async fn delete_url_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> UrlsResult<()> {
        let (function, q) = self.url_scope(region, name, qualifier, true).await?;
        let store = self.ctx.store.clone();
        if !blocking(move || store.delete_url_config(&function, &q)).await? {
            return Err(UrlsError::UrlNotFound);
        }
        Ok(())
    }

    /// ListFunctionUrlConfigs, paginated by `Marker` (an index) and `MaxItems`.
    pub async fn list_url_configs(
        &self,
        region: &str,
        name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> UrlsResult<Value> {
        let (function, _) = self.url_scope(region, name, None, false).await?;
        let max = match max_items {
            None => 50,
            Some(n @ 1..=MAX_URL_PAGE) => n as usize,
            Some(n) => {
                return Err(validate::at_most(&n.to_string(), "maxItems", MAX_URL_PAGE).into());
            }
        };
        let start: usize = marker.and_then(|m| m.parse().ok()).unwrap_or(0);
        let store = self.ctx.store.clone();
        let all = blocking(move || store.list_url_configs(&function)).await?;
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(max)
            .map(|u| self.render_url(region, u, false))
            .collect();
        let mut out = json!({ "FunctionUrlConfigs": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(out)
    }

    /// The function and policy key (`$LATEST` for the function itself, a
    /// version or an alias) of a policy request; checks they exist.
    async fn policy_scope(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> UrlsResult<(String, String, String)> {
        let r = self.ctx.parse_ref(region, name)?;
        let q = Context::qualifier(&r, qualifier)?;
        let rec = self.ctx.load(region, &r.name, q).await?;
        let resource = match q {
            Some(q) => format!("{}:{q}", self.ctx.arn(region, &r.name)),
            None => rec.config.function_arn,
        };
        Ok((r.name.clone(), q.unwrap_or("$LATEST").to_owned(), resource))
    }

    /// The RevisionId of the function (`$LATEST`), version or alias `key`.
    async fn own_revision(&self, region: &str, function: &str, key: &str) -> UrlsResult<String> {
        let numbered = key.bytes().all(|b| b.is_ascii_digit());
        if key == "$LATEST" || numbered {
            let q = (key != "$LATEST").then_some(key);
            return Ok(self.ctx.load(region, function, q).await?.config.revision_id);
        }
        let (store, f, k) = (self.ctx.store.clone(), function.to_owned(), key.to_owned());
        let alias = blocking(move || store.get_alias(&f, &k)).await?;
        Ok(alias.map(|a| a.revision_id).unwrap_or_default())
    }

    async fn load_policy(&self, function: &str, key: &str) -> UrlsResult<Option<PolicyRecord>> {
        let (store, f, k) = (self.ctx.store.clone(), function.to_owned(), key.to_owned());
        Ok(blocking(move || store.get_policy(&f, &k)).await?)
    }

    async fn save_policy(
        &self,
        function: String,
        key: String,
        statements: Vec<Value>,
        expected: Option<String>,
    ) -> UrlsResult<String> {
        let revision = new_revision();
        let record = (!statements.is_empty()).then(|| PolicyRecord {
            statements: Value::Array(statements).to_string(),
            revision_id: revision.clone(),
        });
        let store = self.ctx.store.clone();
        blocking(move || store.set_policy(&function, &key, record.as_ref(), expected.as_deref()))
            .await
            .map_err(|e| {
                if e.is_store_revision_mismatch() {
                    revision_mismatch()
                } else {
                    e
                }
            })?;
        Ok(revision)
    }

    /// AddPermission: returns the new statement as a JSON string.
    pub async fn add_permission(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        req: PermissionRequest,
    ) -> UrlsResult<String> {
        if qualifier == Some("$LATEST") {
            return Err(UrlsError::LatestPolicy);
        }
        let (function, key, resource) = self.policy_scope(region, name, qualifier).await?;
        // `NAME:$LATEST` as the function name is refused the same way.
        if key == "$LATEST" && resource.ends_with(":$LATEST") {
            return Err(UrlsError::LatestPolicy);
        }
        let (sid, statement) = policy::statement(&req, &resource)?;
        let current = self.load_policy(&function, &key).await?;
        match (&current, req.revision_id.as_deref()) {
            // No policy yet: AWS takes the RevisionId of the function,
            // version or alias the policy is for.
            (None, Some(given)) => {
                if self.own_revision(region, &function, &key).await? != given {
                    return Err(revision_mismatch().into());
                }
            }
            _ => check_revision(current.as_ref(), req.revision_id.as_deref())?,
        }
        let mut list = statements(current.as_ref())?;
        if list.iter().any(|s| s["Sid"] == sid.as_str()) {
            return Err(ServiceError::StatementExists(sid).into());
        }
        list.push(statement.clone());
        let expected = current.map(|c| c.revision_id);
        self.save_policy(function, key, list, expected).await?;
        Ok(statement.to_string())
    }

    /// RemovePermission.
    pub async fn remove_permission(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        sid: &str,
        revision: Option<&str>,
    ) -> UrlsResult<()> {
        let (function, key, _) = self.policy_scope(region, name, qualifier).await?;
        let current = self.load_policy(&function, &key).await?;
        let Some(current) = current else {
            return Err(ServiceError::NoPolicy.into());
        };
        check_revision(Some(&current), revision)?;
        let mut list = statements(Some(&current))?;
        let before = list.len();
        list.retain(|s| s["Sid"] != sid);
        if list.len() == before {
            return Err(ServiceError::StatementNotFound(sid.to_owned()).into());
        }
        self.save_policy(function, key, list, Some(current.revision_id))
            .await?;
        Ok(())
    }

    /// GetPolicy: (policy document as a JSON string, RevisionId).
    pub async fn get_policy(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> UrlsResult<(String, String)> {
        // AWS's GetPolicy says the same of a missing function, version or policy.
        let (function, key, _) = self
            .policy_scope(region, name, qualifier)
            .await
            .map_err(|e| match e {
                UrlsError::Common(ServiceError::FunctionNotFound(_)) => UrlsError::UrlNotFound,
                e => e,
            })?;
        let current = self.load_policy(&function, &key).await?;
        let Some(current) = current else {
            return Err(UrlsError::UrlNotFound);
        };
        let list = statements(Some(&current))?;
        Ok((policy::document(&list).to_string(), current.revision_id))
    }

    /// The URL configuration served at `url_id`, with what its policy allows.
    pub async fn url_target(&self, url_id: &str) -> UrlsResult<Option<UrlTarget>> {
        let (store, id) = (self.ctx.store.clone(), url_id.to_owned());
        let Some(config) = blocking(move || store.url_config_by_id(&id)).await? else {
            return Ok(None);
        };
        let cors = match &config.cors {
            Some(c) => serde_json::from_value(c.clone()).ok(),
            None => None,
        };
        let policy = self
            .load_policy(&config.function, &config.qualifier)
            .await?;
        let public = policy::allows_public_url(&statements(policy.as_ref())?);
        Ok(Some(UrlTarget {
            config,
            cors,
            public,
        }))
    }

    /// The snapshot a URL request runs (an alias is routed by its weights).
    pub async fn url_snapshot(
        &self,
        region: &str,
        config: &UrlConfigRecord,
    ) -> UrlsResult<std::sync::Arc<VersionSnapshot>> {
        let q = (config.qualifier != "$LATEST").then_some(config.qualifier.as_str());
        Ok(self
            .ctx
            .resolve_snapshot(region, &config.function, q)
            .await?)
    }
}

fn revision_mismatch() -> ServiceError {
    ServiceError::RevisionMismatch {
        read_with: "GetPolicy",
    }
}

fn check_revision(current: Option<&PolicyRecord>, given: Option<&str>) -> ServiceResult<()> {
    match given {
        Some(g) if current.is_none_or(|c| c.revision_id != g) => Err(revision_mismatch()),
        _ => Ok(()),
    }
}
