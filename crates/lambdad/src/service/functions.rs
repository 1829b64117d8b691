//! The functions service: the business rules behind CreateFunction,
//! GetFunction, ListFunctions, the updates, DeleteFunction and tags.
//!
//! Handlers parse HTTP and call these methods with plain arguments; the
//! methods validate, apply AWS's semantics (defaults, RevisionId, states) and
//! talk to the store on tokio's blocking pool.

use std::sync::Arc;

use base64::Engine as _;
use lambdad_model::arn::{FunctionRef, function_arn, parse_function_ref};
use lambdad_model::function::*;
use lambdad_model::{AwsError, Code, validate};
use lambdad_store::{CodeStore, FunctionRecord, Store, StoreError};

use crate::api::error::{ApiError, ApiResult};

/// Runs a store call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            Code::Service,
            format!("store task failed: {e}"),
        )),
    }
}

/// Called when a function's code or configuration changes or it is deleted,
/// so that execution environments of the old revision are retired.
pub type RetireHook = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// The functions service.
#[derive(Clone)]
pub struct Functions {
    pub(super) store: Arc<dyn Store>,
    pub(super) code: CodeStore,
    region: String,
    pub(super) account: String,
    /// Serialises code mutations so that an archive is never collected while a
    /// concurrent create is about to reference it.
    code_lock: Arc<tokio::sync::Mutex<()>>,
    retire: Option<RetireHook>,
    layers: super::layers::Layers,
    pub(super) concurrency: lambdad_engine::concurrency::Concurrency,
    pub(super) engine: Option<lambdad_engine::Invoker>,
    /// Counters of the asynchronous path.
    pub async_stats: Arc<super::async_invoke::AsyncStats>,
    /// Scheme and domain (with port) under which function URLs are published.
    pub(super) url_base: Arc<str>,
    /// Invocation traces (a no-op unless an OTLP endpoint is configured).
    pub telemetry: crate::telemetry::Telemetry,
    /// `$LATEST` snapshots of warm functions (invalidated on every write).
    pub(super) snapshots: super::snapshot_cache::SnapshotCache,
    /// Network of functions without a `lambdad:network` tag.
    pub network: lambdad_model::NetworkMode,
    /// Group commit of accepted asynchronous events.
    pub(super) accepts: super::accepts::Accepts,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// AWS's timestamp format for `LastModified`: `2020-04-10T19:06:32.563+0000`.
pub fn now_timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    now.format(&fmt).unwrap_or_default()
}

pub(super) fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn decode_zip(b64: &str) -> ApiResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| {
            ApiError::new(
                Code::InvalidParameterValue,
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            )
        })
}

impl Functions {
    /// A service over `store` and `code`.
    pub fn new(store: Arc<dyn Store>, code: CodeStore, region: String, account: String) -> Self {
        let layers = super::layers::Layers::new(store.clone(), code.clone(), account.clone());
        Self {
            store,
            code,
            region,
            account,
            code_lock: Arc::default(),
            retire: None,
            layers,
            concurrency: lambdad_engine::concurrency::Concurrency::new(1000),
            engine: None,
            async_stats: Arc::default(),
            url_base: Arc::from("http://localhost:9001"),
            telemetry: Default::default(),
            snapshots: Default::default(),
            network: Default::default(),
            accepts: Default::default(),
        }
    }

    /// Sets the public base of function URLs, e.g. `http://localhost:9001`.
    pub fn set_url_base(&mut self, base: &str) {
        self.url_base = Arc::from(base);
    }

    /// The layers service (sharing this service's store and code).
    pub fn layers(&self) -> &super::layers::Layers {
        &self.layers
    }

    /// Connects the engine: its concurrency accounting and provisioned environments.
    pub fn set_engine(&mut self, engine: lambdad_engine::Invoker) {
        self.concurrency = engine.concurrency().clone();
        self.engine = Some(engine);
    }

    /// Installs the hook that retires execution environments.
    pub fn set_retire_hook(&mut self, hook: RetireHook) {
        self.retire = Some(hook);
    }

    /// AWS's limit on the unpacked size of a function's code and layers together.
    fn check_combined_size(&self, code_hex: &str, layer_code: &[String]) -> ApiResult<()> {
        let total: u64 = std::iter::once(code_hex)
            .chain(layer_code.iter().map(String::as_str))
            .map(|h| self.code.unzipped_size(h))
            .sum();
        if total > lambdad_store::code::MAX_UNZIPPED_BYTES {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                format!(
                    "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is {total} bytes."
                ),
            ));
        }
        Ok(())
    }

    /// The code blob store.
    pub fn code(&self) -> &CodeStore {
        &self.code
    }

    pub(super) fn arn(&self, region: &str, name: &str) -> String {
        function_arn(region, &self.account, name)
    }

    pub(super) fn not_found(&self, region: &str, name: &str, qualifier: Option<&str>) -> ApiError {
        let mut arn = self.arn(region, name);
        if let Some(q) = qualifier {
            arn.push(':');
            arn.push_str(q);
        }
        ApiError::new(Code::ResourceNotFound, format!("Function not found: {arn}"))
    }

    /// Parses a `FunctionName` parameter and checks the ARN's region and account.
    pub fn parse_ref(&self, region: &str, name: &str) -> ApiResult<FunctionRef> {
        validate::function_name_param(name).map_err(ApiError)?;
        let r = parse_function_ref(name)
            .ok_or_else(|| ApiError::new(Code::Validation, "invalid function name"))?;
        if r.account.as_ref().is_some_and(|a| a != &self.account) {
            return Err(ApiError::new(Code::AccessDenied, ""));
        }
        if let Some(rr) = r.region.as_ref().filter(|rr| rr.as_str() != region) {
            return Err(ApiError::new(
                Code::ResourceNotFound,
                format!("Functions from '{rr}' are not reachable in this region ('{region}')"),
            ));
        }
        Ok(r)
    }

    /// Resolves the qualifier given in the reference and as a parameter.
    pub(super) fn qualifier<'a>(
        r: &'a FunctionRef,
        param: Option<&'a str>,
    ) -> ApiResult<Option<&'a str>> {
        match (r.qualifier.as_deref(), param) {
            (Some(a), Some(b)) if a != b => Err(ApiError::new(
                Code::InvalidParameterValue,
                "The derived qualifier from the function name does not match the specified qualifier.",
            )),
            (a, b) => Ok(a.or(b)),
        }
    }

    pub(super) async fn load(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ApiResult<FunctionRecord> {
        let store = self.store.clone();
        let key = name.to_owned();
        let rec = blocking(move || store.get_function(&key)).await?;
        let rec = rec.ok_or_else(|| self.not_found(region, name, qualifier))?;
        match qualifier {
            None | Some("$LATEST") => Ok(rec),
            Some(q) => {
                // Tags are the function's, whatever the qualifier.
                let tags = rec.tags.clone();
                let mut v = self.load_qualified(region, name, q, rec).await?;
                v.tags = tags;
                Ok(v)
            }
        }
    }

    /// CreateFunction.
    pub async fn create(
        &self,
        region: &str,
        req: CreateFunctionRequest,
    ) -> ApiResult<FunctionConfiguration> {
        let name = req
            .function_name
            .clone()
            .ok_or_else(|| missing("functionName"))?;
        validate::function_name_for_create(&name).map_err(ApiError)?;
        let name = parse_function_ref(&name).map(|r| r.name).unwrap_or(name);
        let role = req.role.clone().ok_or_else(|| missing("role"))?;
        validate::role(&role).map_err(ApiError)?;
        let code = req.code.clone().ok_or_else(|| missing("code"))?;
        let package_type = req.package_type.clone().unwrap_or_else(|| "Zip".into());
        if package_type != "Zip" {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                "PackageType Image is not supported by this lambdad yet.",
            ));
        }
        let runtime = req.runtime.clone().ok_or_else(|| {
            ApiError::new(Code::InvalidParameterValue, "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
        })?;
        validate::runtime(&runtime).map_err(ApiError)?;
        let handler = req.handler.clone().ok_or_else(|| {
            ApiError::new(Code::InvalidParameterValue, "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
        })?;
        validate::handler(&handler).map_err(ApiError)?;
        let mut config = FunctionConfiguration {
            function_name: name.clone(),
            function_arn: self.arn(region, &name),
            runtime: Some(runtime),
            role,
            handler: Some(handler),
            code_size: 0,
            code_sha256: String::new(),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            last_modified: now_timestamp(),
            version: "$LATEST".into(),
            revision_id: new_revision(),
            environment: None,
            tracing_config: TracingConfig {
                mode: "PassThrough".into(),
            },
            package_type,
            architectures: vec!["x86_64".into()],
            ephemeral_storage: EphemeralStorage { size: 512 },
            snap_start: SnapStartResponse {
                apply_on: "None".into(),
                optimization_status: "Off".into(),
            },
            logging_config: LoggingConfig {
                log_format: Some("Text".into()),
                log_group: Some(format!("/aws/lambda/{name}")),
                ..Default::default()
            },
            layers: None,
            dead_letter_config: None,
            kms_key_arn: None,
            state: Some("Active".into()),
            state_reason: None,
            state_reason_code: None,
            last_update_status: Some("Successful".into()),
            last_update_status_reason: None,
            last_update_status_reason_code: None,
        };
        apply_common(
            &mut config,
            Common {
                description: req.description,
                timeout: req.timeout,
                memory_size: req.memory_size,
                environment: req.environment,
                ephemeral_storage: req.ephemeral_storage,
                logging_config: req.logging_config,
                tracing_config: req.tracing_config,
                dead_letter_config: req.dead_letter_config,
                kms_key_arn: req.kms_key_arn,
            },
        )?;
        if let Some(arch) = &req.architectures {
            config.architectures = vec![validate::architectures(arch).map_err(ApiError)?];
        }
        let tags = req.tags.unwrap_or_default();
        if !tags.is_empty() {
            validate::tags(&tags, 0).map_err(ApiError)?;
        }
        let zip = match (&code.zip_file, &code.s3_bucket, &code.image_uri) {
            (Some(z), _, _) => decode_zip(z)?,
            (None, Some(_), _) => {
                return Err(ApiError::new(
                    Code::InvalidParameterValue,
                    "Code.S3Bucket is not supported by this lambdad: upload the archive as Code.ZipFile.",
                ));
            }
            _ => {
                return Err(ApiError::new(
                    Code::InvalidParameterValue,
                    "Please provide a source for function code.",
                ));
            }
        };
        let mut layer_code = Vec::new();
        if let Some(arns) = req.layers.as_deref().filter(|l| !l.is_empty()) {
            let (refs, code) = self.layers.resolve_for_function(region, arns).await?;
            config.layers = Some(refs);
            layer_code = code;
        }
        let _guard = self.code_lock.lock().await;
        let info = self.put_code(zip).await?;
        if let Err(e) = self.check_combined_size(&info.sha256_hex, &layer_code) {
            self.collect_code(info.sha256_hex).await;
            return Err(e);
        }
        config.code_size = info.size;
        config.code_sha256 = info.sha256_b64.clone();
        let record = FunctionRecord {
            config: config.clone(),
            tags,
            code_hex: info.sha256_hex,
            layer_code,
        };
        let store = self.store.clone();
        let code_hex = record.code_hex.clone();
        let name_for_cache = record.config.function_name.clone();
        let created = blocking(move || store.create_function(&record)).await;
        self.snapshots.invalidate(&name_for_cache);
        if created.is_err() {
            // Nothing of a refused create stays behind.
            self.collect_code(code_hex).await;
        }
        match created {
            Ok(()) if req.publish => {
                drop(_guard);
                self.publish_version(
                    region,
                    &name,
                    super::versions::PublishVersionRequest::default(),
                )
                .await
            }
            Ok(()) => Ok(config.as_created()),
            Err(e) if e.0.code == Code::ResourceConflict => Err(ApiError::new(
                Code::ResourceConflict,
                format!("Function already exist: {name}"),
            )),
            Err(e) => Err(e),
        }
    }

    async fn put_code(&self, zip: Vec<u8>) -> ApiResult<lambdad_store::CodeInfo> {
        let code = self.code.clone();
        match tokio::task::spawn_blocking(move || code.put_zip(&zip)).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::new(
                Code::Service,
                format!("code task failed: {e}"),
            )),
        }
    }

    /// GetFunction / GetFunctionConfiguration: the record of `name` at `qualifier`.
    pub async fn get(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ApiResult<FunctionRecord> {
        let r = self.parse_ref(region, name)?;
        let q = Self::qualifier(&r, qualifier)?;
        self.load(region, &r.name, q).await
    }

    /// ListFunctions: one page and the marker of the next, if any.
    pub async fn list(
        &self,
        marker: Option<String>,
        max_items: Option<i64>,
    ) -> ApiResult<(Vec<FunctionConfiguration>, Option<String>)> {
        let limit = match max_items {
            None => 50,
            Some(n) if (1..=10000).contains(&n) => n.min(50) as usize,
            Some(n) => {
                return Err(ApiError::new(
                    Code::Validation,
                    format!(
                        "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value {}",
                        if n < 1 {
                            "greater than or equal to 1"
                        } else {
                            "less than or equal to 10000"
                        }
                    ),
                ));
            }
        };
        let store = self.store.clone();
        let mut page = blocking(move || store.list_functions(marker.as_deref(), limit + 1)).await?;
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|r| r.config.function_name.clone())
        } else {
            None
        };
        Ok((
            page.into_iter().map(|r| r.config.for_listing()).collect(),
            next,
        ))
    }

    /// Writes `record` if the function still has `expected` as RevisionId.
    async fn save(&self, record: FunctionRecord, expected: String) -> ApiResult<()> {
        let store = self.store.clone();
        let arn = record.config.function_arn.clone();
        let name = record.config.function_name.clone();
        let written = blocking(move || store.update_function(&record, &expected)).await;
        self.snapshots.invalidate(&name);
        match written {
            Err(e) if e.0.code == Code::PreconditionFailed => Err(ApiError::new(
                Code::ResourceConflict,
                format!(
                    "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
                ),
            )),
            other => {
                if other.is_ok()
                    && let Some(hook) = &self.retire
                {
                    hook(&name, false);
                }
                other
            }
        }
    }

    pub(super) fn check_revision(current: &FunctionRecord, given: Option<&str>) -> ApiResult<()> {
        match given {
            Some(rev) if rev != current.config.revision_id => Err(ApiError::new(
                Code::PreconditionFailed,
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            )),
            _ => Ok(()),
        }
    }

    /// UpdateFunctionCode.
    pub async fn update_code(
        &self,
        region: &str,
        name: &str,
        req: UpdateFunctionCodeRequest,
    ) -> ApiResult<FunctionConfiguration> {
        let r = self.parse_ref(region, name)?;
        if r.qualifier.is_some() {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                "Unsupported qualifier: update the function by its name or unqualified ARN.",
            ));
        }
        let mut rec = self.load(region, &r.name, None).await?;
        Self::check_revision(&rec, req.revision_id.as_deref())?;
        if req.image_uri.is_some() {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                "Please don't provide ImageUri when updating a function with packageType Zip.",
            ));
        }
        let zip = match (&req.zip_file, &req.s3_bucket) {
            (Some(z), _) => decode_zip(z)?,
            (None, Some(_)) => {
                return Err(ApiError::new(
                    Code::InvalidParameterValue,
                    "Code.S3Bucket is not supported by this lambdad: upload the archive as ZipFile.",
                ));
            }
            _ => {
                return Err(ApiError::new(
                    Code::InvalidParameterValue,
                    "Please provide a source for function code.",
                ));
            }
        };
        let _guard = self.code_lock.lock().await;
        let info = self.put_code(zip).await?;
        if let Err(e) = self.check_combined_size(&info.sha256_hex, &rec.layer_code) {
            self.collect_code(info.sha256_hex).await;
            return Err(e);
        }
        let expected = rec.config.revision_id.clone();
        let old_hex = std::mem::replace(&mut rec.code_hex, info.sha256_hex);
        rec.config.code_sha256 = info.sha256_b64;
        rec.config.code_size = info.size;
        if let Some(arch) = &req.architectures {
            rec.config.architectures = vec![validate::architectures(arch).map_err(ApiError)?];
        }
        if req.dry_run {
            return Ok(rec.config.as_updating());
        }
        rec.config.last_modified = now_timestamp();
        rec.config.revision_id = new_revision();
        let config = rec.config.clone();
        self.save(rec, expected).await?;
        self.collect_code(old_hex).await;
        if req.publish {
            return self
                .publish_version(
                    region,
                    name,
                    super::versions::PublishVersionRequest::default(),
                )
                .await;
        }
        Ok(config.as_updating())
    }

    /// UpdateFunctionConfiguration.
    pub async fn update_configuration(
        &self,
        region: &str,
        name: &str,
        req: UpdateFunctionConfigurationRequest,
    ) -> ApiResult<FunctionConfiguration> {
        let r = self.parse_ref(region, name)?;
        let mut rec = self.load(region, &r.name, r.qualifier.as_deref()).await?;
        Self::check_revision(&rec, req.revision_id.as_deref())?;
        let expected = rec.config.revision_id.clone();
        let c = &mut rec.config;
        if let Some(role) = req.role {
            validate::role(&role).map_err(ApiError)?;
            c.role = role;
        }
        if let Some(runtime) = req.runtime {
            validate::runtime(&runtime).map_err(ApiError)?;
            c.runtime = Some(runtime);
        }
        if let Some(handler) = req.handler {
            validate::handler(&handler).map_err(ApiError)?;
            c.handler = Some(handler);
        }
        apply_common(
            c,
            Common {
                description: req.description,
                timeout: req.timeout,
                memory_size: req.memory_size,
                environment: req.environment,
                ephemeral_storage: req.ephemeral_storage,
                logging_config: req.logging_config,
                tracing_config: req.tracing_config,
                dead_letter_config: req.dead_letter_config,
                kms_key_arn: req.kms_key_arn,
            },
        )?;
        if let Some(arns) = req.layers {
            let (refs, code) = self.layers.resolve_for_function(region, &arns).await?;
            self.check_combined_size(&rec.code_hex, &code)?;
            rec.config.layers = (!refs.is_empty()).then_some(refs);
            rec.layer_code = code;
        }
        let c = &mut rec.config;
        c.last_modified = now_timestamp();
        c.revision_id = new_revision();
        let config = c.clone();
        self.save(rec, expected).await?;
        Ok(config.as_updating())
    }

    /// DeleteFunction.
    pub async fn delete(&self, region: &str, name: &str, qualifier: Option<&str>) -> ApiResult<()> {
        let r = self.parse_ref(region, name)?;
        match Self::qualifier(&r, qualifier)? {
            Some("$LATEST") => {
                return Err(ApiError::new(
                    Code::InvalidParameterValue,
                    "$LATEST version cannot be deleted without deleting the function.",
                ));
            }
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                let _guard = self.code_lock.lock().await;
                return self.delete_version(region, &r.name, q).await;
            }
            Some(q) => return Err(self.not_found(region, &r.name, Some(q))),
            None => {}
        }
        let _guard = self.code_lock.lock().await;
        let rec = self.load(region, &r.name, None).await?;
        let store = self.store.clone();
        let key = r.name.clone();
        let deleted = blocking(move || store.delete_function(&key)).await;
        self.snapshots.invalidate(&r.name);
        if !deleted? {
            return Err(self.not_found(region, &r.name, None));
        }
        if let Some(hook) = &self.retire {
            hook(&r.name, true);
        }
        self.concurrency.set_reserved(&r.name, None);
        if let Some(engine) = &self.engine {
            engine.deprovision_function(&r.name);
        }
        self.collect_code(rec.code_hex).await;
        Ok(())
    }

    /// Removes an archive no function references any more (caller holds `code_lock`).
    pub(super) async fn collect_code(&self, hex: String) {
        let store = self.store.clone();
        let code = self.code.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(false) = store.code_in_use(&hex) {
                code.remove(&hex);
            }
        })
        .await;
    }

    /// Function count and total code size, for GetAccountSettings.
    pub async fn usage(&self) -> ApiResult<(u64, u64)> {
        let store = self.store.clone();
        blocking(move || store.usage()).await
    }
}

/// The function ARN without a qualifier.
pub(super) fn unqualified(arn: &str) -> String {
    arn.split(':').take(7).collect::<Vec<_>>().join(":")
}

fn missing(member: &str) -> ApiError {
    ApiError::new(
        Code::Validation,
        format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ),
    )
}

/// Members shared by CreateFunction and UpdateFunctionConfiguration.
struct Common {
    description: Option<String>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    environment: Option<Environment>,
    ephemeral_storage: Option<EphemeralStorageRequest>,
    logging_config: Option<LoggingConfig>,
    tracing_config: Option<TracingConfig>,
    dead_letter_config: Option<DeadLetterConfig>,
    kms_key_arn: Option<String>,
}

fn apply_common(c: &mut FunctionConfiguration, m: Common) -> ApiResult<()> {
    if let Some(d) = m.description {
        validate::description(&d).map_err(ApiError)?;
        c.description = d;
    }
    if let Some(t) = m.timeout {
        c.timeout = validate::timeout(t).map_err(ApiError)?;
    }
    if let Some(mem) = m.memory_size {
        c.memory_size = validate::memory_size(mem).map_err(ApiError)?;
    }
    if let Some(env) = m.environment {
        validate::environment(&env.variables).map_err(ApiError)?;
        c.environment = Some(env);
    }
    if let Some(e) = m.ephemeral_storage {
        c.ephemeral_storage.size = validate::ephemeral_storage(e.size).map_err(ApiError)?;
    }
    if let Some(l) = m.logging_config {
        if let Some(f) = &l.log_format {
            validate::logging_format(f).map_err(ApiError)?;
        }
        let format = l
            .log_format
            .or(c.logging_config.log_format.take())
            .unwrap_or_else(|| "Text".into());
        let json = format == "JSON";
        c.logging_config = LoggingConfig {
            application_log_level: json.then(|| {
                l.application_log_level
                    .or(c.logging_config.application_log_level.take())
                    .unwrap_or_else(|| "INFO".into())
            }),
            system_log_level: json.then(|| {
                l.system_log_level
                    .or(c.logging_config.system_log_level.take())
                    .unwrap_or_else(|| "INFO".into())
            }),
            log_group: l.log_group.or(c.logging_config.log_group.take()),
            log_format: Some(format),
        };
    }
    if let Some(t) = m.tracing_config {
        if t.mode != "Active" && t.mode != "PassThrough" {
            return Err(ApiError(AwsError::validation(format!(
                "1 validation error detected: Value '{}' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]",
                t.mode
            ))));
        }
        c.tracing_config = t;
    }
    if let Some(d) = m.dead_letter_config {
        c.dead_letter_config = d
            .target_arn
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|_| d.clone());
    }
    if let Some(k) = m.kms_key_arn {
        c.kms_key_arn = (!k.is_empty()).then_some(k);
    }
    Ok(())
}
