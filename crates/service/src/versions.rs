//! Versions and aliases: PublishVersion, ListVersionsByFunction, qualified
//! reads, alias CRUD with weighted routing, and picking the version an alias
//! invocation runs.

use std::collections::BTreeMap;

use lambdad_model::function::FunctionConfiguration;
use lambdad_store::AliasRecord;
use lambdad_store::FunctionRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::{Context, blocking, missing, new_revision, unqualified};
use lambdad_model::validate;

use crate::error::{ServiceError, service_error};
use crate::records::is_version_number;

/// AWS's limit on the length of an alias name.
const MAX_ALIAS_NAME: usize = 128;

/// AWS's message for a routing entry (`{VERSION=WEIGHT}`) that breaks `constraint`.
fn weight_message(version: &str, weight: f64, constraint: &str) -> String {
    validate::one_error(
        &format!("{{{version}={weight:?}}}"),
        "routingConfig.additionalVersionWeights",
        constraint,
    )
}

/// AWS names both bounds whichever is broken.
const WEIGHT_BOUNDS: &str = "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]";

service_error! {
    /// Why a versions or aliases call fails.
    pub enum VersionsError {
        /// PublishVersion's `CodeSha256` is not `$LATEST`'s.
        #[error(
            "CodeSHA256 ({given}) is different from current CodeSHA256 in $LATEST ({latest}). Please try again with the CodeSHA256 in $LATEST."
        )]
        CodeShaMismatch { given: String, latest: String } => InvalidParameterValue,
        /// Aliases (named, comma-separated) still route to the version.
        #[error(
            "Unable to delete version because the following aliases reference it: [{0}]"
        )]
        VersionInUse(String) => ResourceConflict,
        /// More than one additional version weight.
        #[error("Number of items in AdditionalVersionWeights cannot be greater than 1")]
        TooManyWeights => InvalidParameterValue,
        /// A weight outside 0.0–1.0.
        #[error("{}", weight_message(.version, *.weight, WEIGHT_BOUNDS))]
        WeightOutOfRange { version: String, weight: f64 } => Validation,
        /// A weight for something that is not a version number.
        #[error("{}", weight_message(
            .version,
            *.weight,
            "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
        ))]
        WeightNotAVersion { version: String, weight: f64 } => Validation,
        /// The alias's own version has a weight too.
        #[error(
            "Invalid function version {0}. Function version {0} is already included in routing configuration."
        )]
        WeightOnOwnVersion(String) => InvalidParameterValue,
        /// Weights on an alias of `$LATEST`.
        #[error("$LATEST is not supported for an alias pointing to more than 1 version")]
        WeightedLatest => InvalidParameterValue,
        /// An alias name AWS refuses.
        #[error("{}", validate::one_error(
            .name,
            "name",
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ))]
        BadAliasName { name: String } => Validation,
        /// CreateAlias of an alias that exists (its ARN).
        #[error("Alias already exists: {0}")]
        AliasExists(String) => ResourceConflict,
        /// GetAlias of an alias that does not exist (its ARN).
        #[error("Cannot find alias arn: {0}")]
        CannotFindAlias(String) => ResourceNotFound,
        /// UpdateAlias of an alias that does not exist (its ARN).
        #[error("Alias not found: {0}")]
        AliasNotFound(String) => ResourceNotFound,
    }
}

/// Shorthand for versions and aliases results.
pub type VersionsResult<T> = Result<T, VersionsError>;

/// PublishVersion body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishVersionRequest {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

/// `RoutingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingConfig {
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

/// CreateAlias / UpdateAlias body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRequest {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingConfig>,
    revision_id: Option<String>,
}

/// The configuration without what changes on every write, to tell whether
/// anything changed since the last published version.
fn content(c: &FunctionConfiguration) -> FunctionConfiguration {
    FunctionConfiguration {
        last_modified: String::new(),
        revision_id: String::new(),
        version: String::new(),
        function_arn: String::new(),
        description: String::new(),
        ..c.for_listing()
    }
}

/// The versions and aliases service.
#[derive(Clone, Debug)]
pub struct Versions {
    ctx: Context,
}

impl Versions {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// PublishVersion (also used by `Publish: true`).
    pub async fn publish_version(
        &self,
        region: &str,
        name: &str,
        req: PublishVersionRequest,
    ) -> VersionsResult<FunctionConfiguration> {
        let r = self.ctx.parse_ref(region, name)?;
        if r.qualifier.is_some() {
            return Err(ServiceError::FunctionsOnly.into());
        }
        let rec = self.ctx.load(region, &r.name, None).await?;
        Context::check_revision(&rec, req.revision_id.as_deref())?;
        if let Some(sha) = req
            .code_sha256
            .as_deref()
            .filter(|s| *s != rec.config.code_sha256)
        {
            return Err(VersionsError::CodeShaMismatch {
                given: sha.to_owned(),
                latest: rec.config.code_sha256.clone(),
            });
        }
        let (store, key) = (self.ctx.store.clone(), r.name.clone());
        let versions = blocking(move || store.list_versions(&key)).await?;
        if let Some(last) = versions
            .last()
            // AWS publishes anew after any update of $LATEST, even of its
            // description alone: a version keeps $LATEST's LastModified.
            .filter(|v| {
                v.config.last_modified == rec.config.last_modified
                    && content(&v.config) == content(&rec.config)
            })
        {
            return Ok(last.config.clone());
        }
        let mut snapshot = rec.clone();
        snapshot.tags.clear();
        snapshot.config.description = req
            .description
            .unwrap_or_else(|| rec.config.description.clone());
        snapshot.config.state = Some("Active".into());
        snapshot.config.last_update_status = Some("Successful".into());
        self.store_version(&r.name, snapshot, &rec).await
    }

    /// Publishes a version of the code and configuration of `$LATEST` (or
    /// of the version or alias `source`) with MemorySize `memory_mb`
    /// instead (lambdad's own operation, for `lambdad tune`): `$LATEST`
    /// itself is not changed, and the version is always new (no reuse of an
    /// equal last version). Its description says what it is for.
    pub async fn publish_with_memory(
        &self,
        region: &str,
        name: &str,
        memory_mb: Option<i64>,
        source: Option<&str>,
    ) -> VersionsResult<FunctionConfiguration> {
        let mb = memory_mb.ok_or_else(|| {
            lambdad_model::AwsError::validation(validate::null_error("memorySize"))
        })?;
        let memory = validate::memory_size(mb)?;
        let r = self.ctx.parse_ref(region, name)?;
        if r.qualifier.is_some() {
            return Err(ServiceError::FunctionsOnly.into());
        }
        let rec = self.ctx.load(region, &r.name, None).await?;
        let mut snapshot = match source {
            None | Some("$LATEST") => rec.clone(),
            Some(q) => {
                let mut v = self.ctx.load(region, &r.name, Some(q)).await?;
                v.config.function_arn = rec.config.function_arn.clone();
                v
            }
        };
        snapshot.tags.clear();
        snapshot.config.memory_size = memory;
        snapshot.config.description = format!("lambdad tune: {memory} MB");
        snapshot.config.state = Some("Active".into());
        snapshot.config.last_update_status = Some("Successful".into());
        self.store_version(&r.name, snapshot, &rec).await
    }

    /// Stores `snapshot` as the next version of function `name`, if `$LATEST`
    /// is still `latest` (else the update in progress), and reads it back.
    /// A version has a RevisionId of its own, as in AWS.
    async fn store_version(
        &self,
        name: &str,
        mut snapshot: FunctionRecord,
        latest: &FunctionRecord,
    ) -> VersionsResult<FunctionConfiguration> {
        snapshot.config.revision_id = new_revision();
        let (store, expected) = (self.ctx.store.clone(), latest.config.revision_id.clone());
        let published = blocking(move || store.publish_version(&snapshot, &expected)).await;
        self.ctx.snapshots.invalidate(name);
        let n = published.map_err(|e| {
            if e.is_store_revision_mismatch() {
                ServiceError::UpdateInProgress(latest.config.function_arn.clone())
            } else {
                e
            }
        })?;
        Ok(self
            .ctx
            .version(name, n)
            .await?
            .map(|v| v.config)
            .ok_or_else(|| ServiceError::internal("published version vanished"))?)
    }

    /// ListVersionsByFunction: `$LATEST` first, then oldest to newest; `Marker` is a version.
    pub async fn list_versions(
        &self,
        region: &str,
        name: &str,
        marker: Option<String>,
        max_items: Option<usize>,
    ) -> VersionsResult<(Vec<FunctionConfiguration>, Option<String>)> {
        let r = self.ctx.parse_ref(region, name)?;
        let latest = self.ctx.load(region, &r.name, None).await?;
        let (store, key) = (self.ctx.store.clone(), r.name.clone());
        let mut all = vec![{
            let mut c = latest.config.for_listing();
            c.function_arn = format!("{}:$LATEST", unqualified(&c.function_arn));
            c
        }];
        all.extend(
            blocking(move || store.list_versions(&key))
                .await?
                .into_iter()
                .map(|v| v.config.for_listing()),
        );
        let start = match marker.as_deref() {
            Some(m) => all
                .iter()
                .position(|c| c.version == m)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let limit = max_items.unwrap_or(50).clamp(1, 50);
        let page: Vec<FunctionConfiguration> =
            all.iter().skip(start).take(limit).cloned().collect();
        let next = (start + page.len() < all.len())
            .then(|| page.last().map(|c| c.version.clone()))
            .flatten();
        Ok((page, next))
    }

    /// Deletes a published version (DeleteFunction with a numeric qualifier;
    /// the caller has checked that the function exists).
    pub async fn delete_version(&self, region: &str, name: &str, q: &str) -> VersionsResult<()> {
        let n: u64 = q
            .parse()
            .map_err(|_| self.ctx.not_found(region, name, Some(q)))?;
        let (store, key) = (self.ctx.store.clone(), name.to_owned());
        let aliases = blocking(move || store.list_aliases(&key)).await?;
        let users: Vec<&str> = aliases
            .iter()
            .filter(|a| a.function_version == q || a.weights.contains_key(q))
            .map(|a| a.name.as_str())
            .collect();
        if !users.is_empty() {
            return Err(VersionsError::VersionInUse(users.join(", ")));
        }
        let (store, key) = (self.ctx.store.clone(), name.to_owned());
        let hex = self.ctx.version(name, n).await?.map(|v| v.code_hex);
        // AWS: deleting a version the function does not have succeeds.
        if !blocking(move || store.delete_version(&key, n)).await? {
            return Ok(());
        }
        if let Some(hex) = hex {
            self.ctx.collect_code(hex).await;
        }
        Ok(())
    }

    /// AWS's `AliasConfiguration` JSON.
    pub fn render_alias(&self, region: &str, a: &AliasRecord) -> Value {
        let mut out = json!({
            "AliasArn": self.ctx.alias_arn(region, &a.function, &a.name),
            "Name": a.name,
            "FunctionVersion": a.function_version,
            "Description": a.description,
            "RevisionId": a.revision_id,
        });
        if !a.weights.is_empty() {
            out["RoutingConfig"] = json!({"AdditionalVersionWeights": a.weights});
        }
        out
    }

    async fn check_alias_target(
        &self,
        region: &str,
        function: &str,
        version: &str,
        weights: &BTreeMap<String, f64>,
    ) -> VersionsResult<()> {
        if weights.len() > 1 {
            return Err(VersionsError::TooManyWeights);
        }
        for (v, w) in weights {
            if !(0.0..=1.0).contains(w) {
                return Err(VersionsError::WeightOutOfRange {
                    version: v.clone(),
                    weight: *w,
                });
            }
            if !is_version_number(v) {
                return Err(VersionsError::WeightNotAVersion {
                    version: v.clone(),
                    weight: *w,
                });
            }
            if v == version {
                return Err(VersionsError::WeightOnOwnVersion(v.clone()));
            }
        }
        if version == "$LATEST" && !weights.is_empty() {
            return Err(VersionsError::WeightedLatest);
        }
        for v in std::iter::once(version).chain(weights.keys().map(String::as_str)) {
            if v != "$LATEST"
                && self
                    .ctx
                    .version(function, v.parse().unwrap_or(0))
                    .await?
                    .is_none()
            {
                return Err(self.ctx.not_found(region, function, Some(v)).into());
            }
        }
        Ok(())
    }

    fn alias_name_ok(name: &str) -> VersionsResult<()> {
        let ok = !name.is_empty()
            && name.len() <= MAX_ALIAS_NAME
            && !is_version_number(name)
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(())
        } else {
            Err(VersionsError::BadAliasName {
                name: name.to_owned(),
            })
        }
    }

    /// CreateAlias.
    pub async fn create_alias(
        &self,
        region: &str,
        function: &str,
        req: AliasRequest,
    ) -> VersionsResult<AliasRecord> {
        let r = self.ctx.parse_ref(region, function)?;
        self.ctx.load(region, &r.name, None).await?;
        let name = req.name.ok_or_else(|| missing("name"))?;
        Self::alias_name_ok(&name)?;
        let version = req
            .function_version
            .ok_or_else(|| missing("functionVersion"))?;
        let weights = req
            .routing_config
            .and_then(|r| r.additional_version_weights)
            .unwrap_or_default();
        self.check_alias_target(region, &r.name, &version, &weights)
            .await?;
        let alias = AliasRecord {
            function: r.name.clone(),
            name: name.clone(),
            function_version: version,
            description: req.description.unwrap_or_default(),
            weights,
            revision_id: uuid::Uuid::new_v4().to_string(),
        };
        let (store, a) = (self.ctx.store.clone(), alias.clone());
        blocking(move || store.create_alias(&a))
            .await
            .map_err(|e| {
                if e.is_store_conflict() {
                    VersionsError::AliasExists(self.ctx.alias_arn(region, &r.name, &name))
                } else {
                    e.into()
                }
            })?;
        Ok(alias)
    }

    /// GetAlias.
    pub async fn get_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> VersionsResult<AliasRecord> {
        let r = self.ctx.parse_ref(region, function)?;
        self.ctx.alias(&r.name, name).await?.ok_or_else(|| {
            VersionsError::CannotFindAlias(self.ctx.alias_arn(region, &r.name, name))
        })
    }

    /// ListAliases (optionally only those pointing at `version`).
    pub async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        version: Option<String>,
    ) -> VersionsResult<Vec<AliasRecord>> {
        let r = self.ctx.parse_ref(region, function)?;
        self.ctx.load(region, &r.name, None).await?;
        let (store, key) = (self.ctx.store.clone(), r.name.clone());
        let all = blocking(move || store.list_aliases(&key)).await?;
        Ok(all
            .into_iter()
            .filter(|a| version.as_ref().is_none_or(|v| &a.function_version == v))
            .collect())
    }

    /// UpdateAlias.
    pub async fn update_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
        req: AliasRequest,
    ) -> VersionsResult<AliasRecord> {
        let r = self.ctx.parse_ref(region, function)?;
        let mut alias = self.ctx.alias(&r.name, name).await?.ok_or_else(|| {
            VersionsError::AliasNotFound(self.ctx.alias_arn(region, &r.name, name))
        })?;
        if req
            .revision_id
            .as_deref()
            .is_some_and(|rev| rev != alias.revision_id)
        {
            return Err(ServiceError::FUNCTION_REVISION_MISMATCH.into());
        }
        if let Some(v) = req.function_version {
            alias.function_version = v;
        }
        if let Some(d) = req.description {
            alias.description = d;
        }
        if let Some(rc) = req.routing_config {
            alias.weights = rc.additional_version_weights.unwrap_or_default();
        }
        self.check_alias_target(region, &r.name, &alias.function_version, &alias.weights)
            .await?;
        let expected = std::mem::replace(&mut alias.revision_id, uuid::Uuid::new_v4().to_string());
        let (store, a) = (self.ctx.store.clone(), alias.clone());
        blocking(move || store.update_alias(&a, &expected)).await?;
        Ok(alias)
    }

    /// DeleteAlias.
    pub async fn delete_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> VersionsResult<()> {
        let r = self.ctx.parse_ref(region, function)?;
        let (store, f, a) = (self.ctx.store.clone(), r.name.clone(), name.to_owned());
        blocking(move || store.delete_alias(&f, &a)).await?;
        Ok(())
    }
}
