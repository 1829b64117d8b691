//! The functions service: the business rules behind CreateFunction,
//! GetFunction, ListFunctions, the updates and DeleteFunction.
//!
//! Handlers parse HTTP and call these methods with plain arguments; the
//! methods validate, apply AWS's semantics (defaults, RevisionId, states) and
//! talk to the store on tokio's blocking pool.

mod listing;

use base64::Engine as _;
use lambdad_model::AwsError;
use lambdad_model::arn::parse_function_ref;
use lambdad_model::function::*;
use lambdad_model::validate;
use lambdad_store::FunctionRecord;
use lambdad_store::code::{CodeError, MAX_UNZIPPED_BYTES};

use crate::code_signing::{self, CodeSigningError};
use crate::context::{
    Context, blocking, missing, new_revision, now_timestamp, stamp_runtime_version, unqualified,
};
use crate::error::{ServiceError, ServiceResult, service_error};
use crate::images::{ImageError, Pulled};
use crate::layers::{Layers, LayersError};
use crate::versions::{PublishVersionRequest, Versions, VersionsError};

/// Longest `FunctionName` GetFunction accepts (AWS's model: 170).
const MAX_GET_NAME: usize = 170;

/// AWS's limit on the items of one ListFunctions page.
const MAX_LIST_ITEMS: i64 = 10_000;

service_error! {
    /// Why a functions call fails.
    pub enum FunctionsError {
        /// A PackageType AWS does not know.
        #[error("{}", validate::one_error(
            .value,
            "packageType",
            "Member must satisfy enum value set: [Image, Zip]",
        ))]
        BadPackageType { value: String } => Validation,
        /// Runtime or Handler on an image function.
        #[error("The Runtime and Handler parameters are not supported for functions created with container images.")]
        RuntimeOnImage => InvalidParameterValue,
        /// Layers on an image function.
        #[error("Layers are not supported for functions created with container images.")]
        LayersOnImage => InvalidParameterValue,
        /// `ImageConfig` on a zip function.
        #[error("Please don't provide ImageConfig when updating a function with packageType Zip.")]
        ImageConfigOnZip => InvalidParameterValue,
        /// A zip or S3 object on an image function.
        #[error("Please don't provide ZipFile or S3 location when creating or updating a function with packageType Image.")]
        ZipOnImage => InvalidParameterValue,
        /// A zip function without a runtime or a handler.
        #[error(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages."
        )]
        RuntimeAndHandler => InvalidParameterValue,
        /// No code.
        #[error("Please provide a source for function code.")]
        NoCode => InvalidParameterValue,
        /// The code and layers unpack to more than [`MAX_UNZIPPED_BYTES`].
        #[error(
            "Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} bytes. The actual size is {0} bytes."
        )]
        TooLarge(u64) => InvalidParameterValue,
        /// CreateFunction of a name that exists.
        #[error("Function already exist: {0}")]
        Exists(String) => ResourceConflict,
        /// UpdateFunctionCode of a version or alias.
        #[error("Unsupported qualifier: update the function by its name or unqualified ARN.")]
        QualifiedCodeUpdate => InvalidParameterValue,
        /// `ImageUri` on a zip function.
        #[error("Please don't provide ImageUri when updating a function with packageType Zip.")]
        ImageUriOnZip => InvalidParameterValue,
        /// DeleteFunction of `$LATEST`.
        #[error("$LATEST version cannot be deleted without deleting the function.")]
        DeleteLatest => InvalidParameterValue,
        /// DeleteFunction with an alias as qualifier.
        #[error("Deletion of aliases is not currently supported.")]
        DeleteAlias => InvalidParameterValue,
        /// A tracing mode AWS does not know.
        #[error("{}", validate::one_error(
            .mode,
            "tracingConfig.mode",
            "Member must satisfy enum value set: [Active, PassThrough]",
        ))]
        BadTracingMode { mode: String } => Validation,
    }
    wraps {
        /// The archive was refused or could not be stored.
        Code(CodeError),
        /// A layer could not be resolved.
        Layers(LayersError),
        /// Publishing (`Publish: true`) or deleting a version failed.
        Versions(VersionsError),
        /// The container image could not be pulled.
        Image(ImageError),
        /// The code signing configuration refused the code.
        CodeSigning(CodeSigningError),
    }
}

/// Shorthand for functions results.
pub type FunctionsResult<T> = Result<T, FunctionsError>;

fn decode_zip(b64: &str) -> ServiceResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| ServiceError::NotAZip)
}

/// The functions service.
#[derive(Clone, Debug)]
pub struct Functions {
    ctx: Context,
    layers: Layers,
    versions: Versions,
}

impl Functions {
    /// The service over `ctx`, resolving layers through `layers` and
    /// publishing through `versions`.
    pub fn new(ctx: Context, layers: Layers, versions: Versions) -> Self {
        Self {
            ctx,
            layers,
            versions,
        }
    }

    /// AWS's limit on the unpacked size of a function's code and layers together.
    /// (Layers published on another node of a cluster are fetched first, to know their size.)
    async fn check_combined_size(
        &self,
        code_hex: &str,
        layer_code: &[String],
    ) -> FunctionsResult<()> {
        for layer in layer_code {
            self.ctx.fetch_code(layer).await?;
        }
        let total: u64 = std::iter::once(code_hex)
            .chain(layer_code.iter().map(String::as_str))
            .map(|h| self.ctx.code.unzipped_size(h))
            .sum();
        if total > MAX_UNZIPPED_BYTES {
            return Err(FunctionsError::TooLarge(total));
        }
        Ok(())
    }

    /// CreateFunction.
    pub async fn create(
        &self,
        region: &str,
        req: CreateFunctionRequest,
    ) -> FunctionsResult<FunctionConfiguration> {
        let name = req
            .function_name
            .clone()
            .ok_or_else(|| missing("functionName"))?;
        validate::function_name_for_create(&name)?;
        let name = parse_function_ref(&name).map(|r| r.name).unwrap_or(name);
        let role = req.role.clone().ok_or_else(|| missing("role"))?;
        validate::role(&role)?;
        let code = req.code.clone().ok_or_else(|| missing("code"))?;
        let package_type = req.package_type.clone().unwrap_or_else(|| "Zip".into());
        let is_image = match package_type.as_str() {
            "Zip" => false,
            "Image" => true,
            other => {
                return Err(FunctionsError::BadPackageType {
                    value: other.to_owned(),
                });
            }
        };
        let (runtime, handler) = if is_image {
            if req.runtime.is_some() || req.handler.is_some() {
                return Err(FunctionsError::RuntimeOnImage);
            }
            if req.layers.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(FunctionsError::LayersOnImage);
            }
            if code.zip_file.is_some() || code.s3_bucket.is_some() {
                return Err(FunctionsError::ZipOnImage);
            }
            (None, None)
        } else {
            if code.image_uri.is_some() {
                return Err(FunctionsError::ImageUriOnZip);
            }
            let runtime = req
                .runtime
                .clone()
                .ok_or(FunctionsError::RuntimeAndHandler)?;
            validate::runtime(&runtime)?;
            let handler = req
                .handler
                .clone()
                .ok_or(FunctionsError::RuntimeAndHandler)?;
            validate::handler(&handler)?;
            (Some(runtime), Some(handler))
        };
        let mut config = FunctionConfiguration {
            function_name: name.clone(),
            function_arn: self.ctx.arn(region, &name),
            runtime,
            role,
            handler,
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
            runtime_version_config: None,
            image_config_response: None,
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
            config.architectures = vec![validate::architectures(arch)?];
        }
        stamp_runtime_version(&mut config);
        let tags = req.tags.unwrap_or_default();
        if !tags.is_empty() {
            validate::tags(&tags, 0)?;
        }
        if let Some(arn) = &req.code_signing_config_arn {
            code_signing::check_new(&self.ctx, &name, arn).await?;
        }
        let (_guard, code_hex, layer_code, image) = if is_image {
            let uri = code.image_uri.as_deref().ok_or(FunctionsError::NoCode)?;
            config.image_config_response = image_config_response(req.image_config)?;
            let _guard = self.ctx.code_lock.lock().await;
            let pulled = self.pull(uri, &config.architectures[0]).await?;
            config.code_sha256 = pulled.digest_hex;
            (_guard, pulled.key, Vec::new(), Some(pulled.image))
        } else {
            let zip = match (&code.zip_file, &code.s3_bucket) {
                (Some(z), _) => decode_zip(z)?,
                (None, Some(bucket)) => {
                    self.ctx
                        .code_from_s3(bucket, code.s3_key.as_deref())
                        .await?
                }
                _ => {
                    return Err(FunctionsError::NoCode);
                }
            };
            let mut layer_code = Vec::new();
            if let Some(arns) = req.layers.as_deref().filter(|l| !l.is_empty()) {
                let (refs, code) = self.layers.resolve_for_function(region, arns).await?;
                config.layers = Some(refs);
                layer_code = code;
            }
            let _guard = self.ctx.code_lock.lock().await;
            let info = self.put_code(zip).await?;
            if let Err(e) = self
                .check_combined_size(&info.sha256_hex, &layer_code)
                .await
            {
                self.ctx.collect_code(info.sha256_hex).await;
                return Err(e);
            }
            config.code_size = info.size;
            config.code_sha256 = info.sha256_b64.clone();
            (_guard, info.sha256_hex, layer_code, None)
        };
        let record = FunctionRecord {
            config: config.clone(),
            tags,
            code_hex,
            layer_code,
            image,
        };
        let store = self.ctx.store.clone();
        let code_hex = record.code_hex.clone();
        let name_for_cache = record.config.function_name.clone();
        let created = blocking(move || store.create_function(&record)).await;
        self.ctx.snapshots.invalidate(&name_for_cache);
        if created.is_err() {
            // Nothing of a refused create stays behind.
            self.ctx.collect_code(code_hex).await;
        }
        if let (Ok(()), Some(arn)) = (&created, &req.code_signing_config_arn) {
            code_signing::link(&self.ctx, &name, arn).await?;
        }
        match created {
            Ok(()) if req.publish => {
                drop(_guard);
                let version = self
                    .versions
                    .publish_version(region, &name, PublishVersionRequest::default())
                    .await?
                    .version;
                // AWS answers with the unqualified, pending function carrying
                // the new version's number.
                Ok(FunctionConfiguration {
                    version,
                    ..config.as_created(new_revision())
                })
            }
            Ok(()) => Ok(config.as_created(new_revision())),
            Err(e) if e.is_store_conflict() => Err(FunctionsError::Exists(name)),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `uri` for a function of architecture `arch` (under the code lock).
    async fn pull(&self, uri: &str, arch: &str) -> FunctionsResult<Pulled> {
        let pulled = crate::images::pull(&self.ctx.code, &self.ctx.registries, uri, arch).await?;
        tracing::info!(
            uri,
            digest = pulled.digest_hex,
            layers_downloaded = pulled.layers_downloaded,
            "Container image resolved."
        );
        Ok(pulled)
    }

    /// Validates and unpacks `zip`; in a cluster, also stores it in the
    /// shared store before any record names it.
    async fn put_code(&self, zip: Vec<u8>) -> FunctionsResult<lambdad_store::CodeInfo> {
        let code = self.ctx.code.clone();
        let (info, zip) = match tokio::task::spawn_blocking(move || (code.put_zip(&zip), zip)).await
        {
            Ok((r, zip)) => (r?, zip),
            Err(e) => return Err(ServiceError::Internal(format!("code task failed: {e}")).into()),
        };
        self.ctx.share_code(&info.sha256_hex, zip).await?;
        Ok(info)
    }

    /// GetFunction / GetFunctionConfiguration: the record of `name` at `qualifier`.
    pub async fn get(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> FunctionsResult<FunctionRecord> {
        let r = self
            .ctx
            .parse_ref_with(region, name, qualifier, MAX_GET_NAME)?;
        let q = Context::qualifier(&r, qualifier)?;
        let mut rec = self.ctx.load(region, &r.name, q).await?;
        if q == Some("$LATEST") {
            // AWS names the qualifier when it was asked for.
            rec.config.function_arn = format!("{}:$LATEST", unqualified(&rec.config.function_arn));
        }
        if matches!(q, None | Some("$LATEST"))
            && crate::cluster::change_pending(&self.ctx, &r.name).await?
        {
            // A node of the cluster has not applied the last change yet: the
            // update is still in progress, as AWS says until every worker
            // runs it (so `wait function-updated-v2` waits for all nodes).
            let c = &mut rec.config;
            c.last_update_status = Some("InProgress".to_owned());
            c.last_update_status_reason = Some("The function is being created.".to_owned());
            c.last_update_status_reason_code = Some("Creating".to_owned());
        }
        Ok(rec)
    }

    /// ListFunctions: every function's `$LATEST` by name, or with
    /// `FunctionVersion: ALL` its published versions after it (`$LATEST`
    /// then named `:$LATEST`); the marker is the last function's name, or
    /// with ALL `NAME:N`, N entries of NAME already listed.
    pub async fn list(
        &self,
        marker: Option<String>,
        max_items: Option<i64>,
        all_versions: bool,
    ) -> FunctionsResult<(Vec<FunctionConfiguration>, Option<String>)> {
        let limit = match max_items {
            None => 50,
            Some(n) => validate::in_range(n, 1, MAX_LIST_ITEMS, "maxItems")?.min(50) as usize,
        };
        if all_versions {
            return self.list_all_versions(marker, limit).await;
        }
        let store = self.ctx.store.clone();
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
    async fn save(&self, record: FunctionRecord, expected: String) -> ServiceResult<()> {
        let store = self.ctx.store.clone();
        let arn = record.config.function_arn.clone();
        let name = record.config.function_name.clone();
        let written = blocking(move || store.update_function(&record, &expected)).await;
        self.ctx.snapshots.invalidate(&name);
        match written {
            Err(e) if e.is_store_revision_mismatch() => Err(ServiceError::UpdateInProgress(arn)),
            other => {
                if other.is_ok() {
                    self.ctx.engine.retire(&name, false);
                }
                other
            }
        }
    }

    /// UpdateFunctionCode.
    pub async fn update_code(
        &self,
        region: &str,
        name: &str,
        req: UpdateFunctionCodeRequest,
    ) -> FunctionsResult<FunctionConfiguration> {
        let r = self.ctx.parse_ref(region, name)?;
        if r.qualifier.is_some() {
            return Err(FunctionsError::QualifiedCodeUpdate);
        }
        let mut rec = self.ctx.load(region, &r.name, None).await?;
        Context::check_revision(&rec, req.revision_id.as_deref())?;
        code_signing::check_deploy(&self.ctx, &r.name).await?;
        if rec.image.is_some() {
            return self.update_image(region, name, rec, req).await;
        }
        if req.image_uri.is_some() {
            return Err(FunctionsError::ImageUriOnZip);
        }
        let zip = match (&req.zip_file, &req.s3_bucket) {
            (Some(z), _) => decode_zip(z)?,
            (None, Some(bucket)) => self.ctx.code_from_s3(bucket, req.s3_key.as_deref()).await?,
            _ => {
                return Err(FunctionsError::NoCode);
            }
        };
        let _guard = self.ctx.code_lock.lock().await;
        let info = self.put_code(zip).await?;
        if let Err(e) = self
            .check_combined_size(&info.sha256_hex, &rec.layer_code)
            .await
        {
            self.ctx.collect_code(info.sha256_hex).await;
            return Err(e);
        }
        let expected = rec.config.revision_id.clone();
        let old_hex = std::mem::replace(&mut rec.code_hex, info.sha256_hex);
        rec.config.code_sha256 = info.sha256_b64;
        rec.config.code_size = info.size;
        if let Some(arch) = &req.architectures {
            rec.config.architectures = vec![validate::architectures(arch)?];
        }
        stamp_runtime_version(&mut rec.config);
        self.finish_code_update(region, name, rec, expected, old_hex, &req)
            .await
    }

    /// The end of UpdateFunctionCode, zip or image: a dry run answers the
    /// new configuration; otherwise the record is saved, the old code is
    /// collected if nothing uses it any more, and `Publish` publishes.
    async fn finish_code_update(
        &self,
        region: &str,
        name: &str,
        mut rec: FunctionRecord,
        expected: String,
        old_code: String,
        req: &UpdateFunctionCodeRequest,
    ) -> FunctionsResult<FunctionConfiguration> {
        if req.dry_run {
            return Ok(rec.config.as_updating(new_revision()));
        }
        rec.config.last_modified = now_timestamp();
        rec.config.revision_id = new_revision();
        let config = rec.config.clone();
        self.save(rec, expected).await?;
        self.ctx.collect_code(old_code).await;
        if req.publish {
            return Ok(self
                .versions
                .publish_version(region, name, PublishVersionRequest::default())
                .await?);
        }
        Ok(config.as_updating(new_revision()))
    }

    /// UpdateFunctionCode of a container image function: a new ImageUri.
    async fn update_image(
        &self,
        region: &str,
        name: &str,
        mut rec: FunctionRecord,
        req: UpdateFunctionCodeRequest,
    ) -> FunctionsResult<FunctionConfiguration> {
        if req.zip_file.is_some() || req.s3_bucket.is_some() {
            return Err(FunctionsError::ZipOnImage);
        }
        let uri = req.image_uri.as_deref().ok_or(FunctionsError::NoCode)?;
        if let Some(arch) = &req.architectures {
            rec.config.architectures = vec![validate::architectures(arch)?];
        }
        let _guard = self.ctx.code_lock.lock().await;
        let pulled = self.pull(uri, &rec.config.architectures[0]).await?;
        let expected = rec.config.revision_id.clone();
        let old_key = std::mem::replace(&mut rec.code_hex, pulled.key);
        rec.config.code_sha256 = pulled.digest_hex;
        rec.image = Some(pulled.image);
        self.finish_code_update(region, name, rec, expected, old_key, &req)
            .await
    }

    /// UpdateFunctionConfiguration.
    pub async fn update_configuration(
        &self,
        region: &str,
        name: &str,
        req: UpdateFunctionConfigurationRequest,
    ) -> FunctionsResult<FunctionConfiguration> {
        let r = self.ctx.parse_ref(region, name)?;
        let mut rec = self
            .ctx
            .load(region, &r.name, r.qualifier.as_deref())
            .await?;
        Context::check_revision(&rec, req.revision_id.as_deref())?;
        let expected = rec.config.revision_id.clone();
        let c = &mut rec.config;
        if let Some(role) = req.role {
            validate::role(&role)?;
            c.role = role;
        }
        let is_image = rec.image.is_some();
        let c = &mut rec.config;
        if is_image && (req.runtime.is_some() || req.handler.is_some()) {
            return Err(FunctionsError::RuntimeOnImage);
        }
        if is_image && req.layers.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(FunctionsError::LayersOnImage);
        }
        if let Some(ic) = req.image_config {
            if !is_image {
                return Err(FunctionsError::ImageConfigOnZip);
            }
            c.image_config_response = image_config_response(Some(ic))?;
        }
        if let Some(runtime) = req.runtime {
            validate::runtime(&runtime)?;
            c.runtime = Some(runtime);
        }
        if let Some(handler) = req.handler {
            validate::handler(&handler)?;
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
            self.ctx.fetch_record_code(&rec).await?;
            self.check_combined_size(&rec.code_hex, &code).await?;
            rec.config.layers = (!refs.is_empty()).then_some(refs);
            rec.layer_code = code;
        }
        let c = &mut rec.config;
        c.last_modified = now_timestamp();
        c.revision_id = new_revision();
        stamp_runtime_version(c);
        let config = c.clone();
        self.save(rec, expected).await?;
        Ok(config.as_updating(new_revision()))
    }

    /// DeleteFunction.
    pub async fn delete(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> FunctionsResult<()> {
        let r = self
            .ctx
            .parse_ref_with(region, name, qualifier, validate::MAX_FUNCTION_ARN)?;
        match Context::qualifier(&r, qualifier)? {
            Some("$LATEST") => {
                return Err(FunctionsError::DeleteLatest);
            }
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                let _guard = self.ctx.code_lock.lock().await;
                // A missing function is named unqualified (AWS).
                self.ctx.load(region, &r.name, None).await?;
                return Ok(self.versions.delete_version(region, &r.name, q).await?);
            }
            // AWS: `$latest` and the like name no version of the function.
            Some(q) if q.contains('$') => {
                return Err(self.ctx.not_found(region, &r.name, None).into());
            }
            Some(_) => return Err(FunctionsError::DeleteAlias),
            None => {}
        }
        let _guard = self.ctx.code_lock.lock().await;
        let rec = self.ctx.load(region, &r.name, None).await?;
        let store = self.ctx.store.clone();
        let key = r.name.clone();
        let deleted = blocking(move || store.delete_function(&key)).await;
        self.ctx.snapshots.invalidate(&r.name);
        if !deleted? {
            return Err(self.ctx.not_found(region, &r.name, None).into());
        }
        self.ctx.engine.retire(&r.name, true);
        self.ctx.engine.concurrency().set_reserved(&r.name, None);
        self.ctx.engine.deprovision_function(&r.name);
        self.ctx.collect_code(rec.code_hex).await;
        // The function is gone: a failure here only leaves its saved test
        // events for a function of the same name.
        if let Err(e) = crate::test_events::forget(&self.ctx, &r.name).await {
            tracing::warn!(function = %r.name, error = %e, "could not forget saved test events");
        }
        if let Err(e) = code_signing::forget(&self.ctx, &r.name).await {
            tracing::warn!(function = %r.name, error = %e, "could not forget the code signing configuration");
        }
        if let Err(e) = crate::recursion::forget(&self.ctx, &r.name).await {
            tracing::warn!(function = %r.name, error = %e, "could not forget the recursion configuration");
        }
        Ok(())
    }

    /// Function count and total code size, for GetAccountSettings.
    pub async fn usage(&self) -> FunctionsResult<(u64, u64)> {
        let store = self.ctx.store.clone();
        Ok(blocking(move || store.usage()).await?)
    }
}

/// The `ImageConfigResponse` of a request's `ImageConfig` (AWS's limits:
/// at most 1,500 entry point and command items, a working directory of at
/// most 1,000 characters).
fn image_config_response(
    config: Option<ImageConfig>,
) -> FunctionsResult<Option<ImageConfigResponse>> {
    let Some(config) = config else {
        return Ok(None);
    };
    for (list, member) in [
        (&config.entry_point, "imageConfig.entryPoint"),
        (&config.command, "imageConfig.command"),
    ] {
        if let Some(list) = list.as_ref().filter(|l| l.len() > 1500) {
            return Err(AwsError::validation(validate::one_error(
                &format!("{list:?}"),
                member,
                "Member must have length less than or equal to 1500",
            ))
            .into());
        }
    }
    if let Some(dir) = config
        .working_directory
        .as_ref()
        .filter(|d| d.chars().count() > 1000)
    {
        return Err(AwsError::validation(validate::one_error(
            dir,
            "imageConfig.workingDirectory",
            "Member must have length less than or equal to 1000",
        ))
        .into());
    }
    let empty = config == ImageConfig::default();
    Ok(Some(ImageConfigResponse {
        image_config: (!empty).then_some(config),
    }))
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

fn apply_common(c: &mut FunctionConfiguration, m: Common) -> FunctionsResult<()> {
    if let Some(d) = m.description {
        validate::description(&d)?;
        c.description = d;
    }
    if let Some(t) = m.timeout {
        c.timeout = validate::timeout(t)?;
    }
    if let Some(mem) = m.memory_size {
        c.memory_size = validate::memory_size(mem)?;
    }
    if let Some(env) = m.environment {
        validate::environment(&env.variables)?;
        c.environment = Some(env);
    }
    if let Some(e) = m.ephemeral_storage {
        c.ephemeral_storage.size = validate::ephemeral_storage(e.size)?;
    }
    if let Some(l) = m.logging_config {
        if let Some(f) = &l.log_format {
            validate::logging_format(f)?;
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
            return Err(FunctionsError::BadTracingMode { mode: t.mode });
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
