//! Reading what a request names: a function at a qualifier (`$LATEST`, a
//! version or an alias), the version an alias invocation runs (by its
//! routing weights), and the snapshot the engine runs.

use std::borrow::Cow;
use std::sync::Arc;

use lambdad_model::{ImageRun, NetworkMode, VersionSnapshot};
use lambdad_store::{AliasRecord, FunctionRecord};

use crate::context::{Context, blocking, unqualified};
use crate::error::{ServiceError, ServiceResult};

/// Longest `FunctionName` Invoke accepts (AWS's model: 170).
const MAX_INVOKE_NAME: usize = 170;

/// Whether `q` is a version number (not `$LATEST`, not an alias).
pub fn is_version_number(q: &str) -> bool {
    !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit())
}

impl Context {
    /// The ARN of alias `alias` of `function`.
    pub fn alias_arn(&self, region: &str, function: &str, alias: &str) -> String {
        format!("{}:{alias}", self.arn(region, function))
    }

    /// Alias `alias` of `function`, if any.
    pub async fn alias(&self, function: &str, alias: &str) -> ServiceResult<Option<AliasRecord>> {
        let (store, f, a) = (self.store.clone(), function.to_owned(), alias.to_owned());
        blocking(move || store.get_alias(&f, &a)).await
    }

    /// Version `version` of `function`, if any.
    pub async fn version(
        &self,
        function: &str,
        version: u64,
    ) -> ServiceResult<Option<FunctionRecord>> {
        let (store, f) = (self.store.clone(), function.to_owned());
        blocking(move || store.get_version(&f, version)).await
    }

    /// The record of `name` at `qualifier` (tags are the function's, whatever the qualifier).
    pub async fn load(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ServiceResult<FunctionRecord> {
        let store = self.store.clone();
        let key = name.to_owned();
        let rec = blocking(move || store.get_function(&key)).await?;
        let rec = rec.ok_or_else(|| self.not_found(region, name, qualifier))?;
        match qualifier {
            None | Some("$LATEST") => Ok(rec),
            Some(q) => {
                let tags = rec.tags.clone();
                let mut v = self.load_qualified(region, name, q, rec).await?;
                v.tags = tags;
                Ok(v)
            }
        }
    }

    /// A read with a qualifier other than `$LATEST`: a version or an alias.
    pub async fn load_qualified(
        &self,
        region: &str,
        name: &str,
        q: &str,
        latest: FunctionRecord,
    ) -> ServiceResult<FunctionRecord> {
        if is_version_number(q) {
            let n = q
                .parse()
                .map_err(|_| self.not_found(region, name, Some(q)))?;
            return self
                .version(name, n)
                .await?
                .ok_or_else(|| self.not_found(region, name, Some(q)));
        }
        let alias = self
            .alias(name, q)
            .await?
            .ok_or_else(|| self.not_found(region, name, Some(q)))?;
        let mut rec = if alias.function_version == "$LATEST" {
            latest
        } else {
            let n = alias.function_version.parse().unwrap_or(0);
            self.version(name, n)
                .await?
                .ok_or_else(|| self.not_found(region, name, Some(&alias.function_version)))?
        };
        rec.config.function_arn = self.alias_arn(region, name, q);
        Ok(rec)
    }

    /// The qualifier an invocation runs: an alias is resolved to one of its
    /// versions, picked by its routing weights.
    pub async fn route<'a>(
        &self,
        region: &str,
        name: &str,
        q: Option<&'a str>,
    ) -> ServiceResult<Option<Cow<'a, str>>> {
        let Some(q) = q.filter(|q| *q != "$LATEST" && !is_version_number(q)) else {
            return Ok(q.map(Cow::Borrowed));
        };
        let alias = self
            .alias(name, q)
            .await?
            .ok_or_else(|| self.not_found(region, name, Some(q)))?;
        let roll: f64 = rand::random();
        let mut acc = 0.0;
        for (version, weight) in &alias.weights {
            acc += weight;
            if roll < acc {
                return Ok(Some(version.clone().into()));
            }
        }
        Ok(Some(alias.function_version.into()))
    }

    /// The snapshot of `name` at `qualifier` that the engine runs (`$LATEST`
    /// from the snapshot cache while the function's record is unchanged).
    pub async fn resolve_snapshot(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ServiceResult<Arc<VersionSnapshot>> {
        let r = self.parse_ref_with(region, name, qualifier, MAX_INVOKE_NAME)?;
        let q = Self::qualifier(&r, qualifier)?;
        let q = self.route(region, &r.name, q).await?;
        let latest = matches!(q.as_deref(), None | Some("$LATEST"));
        let (generation, cached) = self.snapshots.get(&r.name);
        if latest && let Some(s) = cached {
            return Ok(s);
        }
        let rec = match self.load(region, &r.name, q.as_deref()).await {
            // AWS names `$LATEST` when an unqualified invocation finds no function.
            Err(ServiceError::FunctionNotFound(_)) if q.is_none() => {
                return Err(self.not_found(region, &r.name, Some("$LATEST")));
            }
            other => other?,
        };
        // A node of a cluster may not hold the code yet.
        self.fetch_record_code(&rec).await?;
        let snapshot = self.snapshot_of(rec);
        if latest {
            self.snapshots.put(&r.name, generation, snapshot.clone());
        }
        Ok(snapshot)
    }

    /// The snapshot the engine runs for a loaded function or version record.
    pub fn snapshot_of(&self, rec: FunctionRecord) -> Arc<VersionSnapshot> {
        let c = rec.config;
        let image = rec.image.as_ref().map(|i| {
            ImageRun::of(
                i,
                c.image_config_response
                    .as_ref()
                    .and_then(|r| r.image_config.as_ref()),
            )
        });
        Arc::new(VersionSnapshot {
            function_name: c.function_name.clone(),
            function_arn: unqualified(&c.function_arn),
            version: c.version.clone(),
            runtime: c.runtime.clone().unwrap_or_default(),
            handler: c.handler.clone().unwrap_or_default(),
            memory_mb: c.memory_size,
            timeout_secs: c.timeout,
            ephemeral_mb: c.ephemeral_storage.size,
            environment: c.environment.map(|e| e.variables).unwrap_or_default(),
            code_sha256: c.code_sha256,
            code_dir: self.code.dir(&rec.code_hex),
            layer_dirs: rec.layer_code.iter().map(|h| self.code.dir(h)).collect(),
            architecture: c
                .architectures
                .first()
                .cloned()
                .unwrap_or_else(|| "x86_64".into()),
            log_group: c
                .logging_config
                .log_group
                .unwrap_or_else(|| format!("/aws/lambda/{}", c.function_name)),
            role: c.role.clone(),
            application_log_level: c.logging_config.application_log_level.clone(),
            system_log_level: c.logging_config.system_log_level.clone(),
            log_format: c.logging_config.log_format.unwrap_or_else(|| "Text".into()),
            network: rec
                .tags
                .get(NetworkMode::TAG)
                .and_then(|v| NetworkMode::parse(v))
                .unwrap_or(self.network),
            revision_id: c.revision_id,
            image,
        })
    }
}
