//! Layers: PublishLayerVersion, Get/List/Delete, layer version policies, and
//! the resolution of a function's `Layers` into archives for `/opt`.

use base64::Engine as _;
use lambdad_model::function::LayerRef;
use lambdad_store::LayerVersionRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::{Context, blocking, missing, now_timestamp};
use crate::error::{ServiceError, ServiceResult};

/// PublishLayerVersion body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishLayerRequest {
    content: Option<LayerContent>,
    description: Option<String>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
    license_info: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LayerContent {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
}

/// AddLayerVersionPermission body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddLayerPermissionRequest {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    organization_id: Option<String>,
}

/// The layers service.
#[derive(Clone, Debug)]
pub struct Layers {
    ctx: Context,
}

fn valid_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Layers {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// `arn:aws:lambda:REGION:ACCOUNT:layer:NAME`.
    pub fn layer_arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:lambda:{region}:{}:layer:{name}", self.ctx.account)
    }

    fn missing(&self, region: &str, name: &str, version: u64) -> ServiceError {
        ServiceError::not_found(format!(
            "Layer version {}:{version} does not exist.",
            self.layer_arn(region, name)
        ))
    }

    fn check_name(name: &str) -> ServiceResult<()> {
        if valid_layer_name(name) {
            Ok(())
        } else {
            Err(ServiceError::validation(format!(
                "1 validation error detected: Value '{name}' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
            )))
        }
    }

    /// The JSON AWS answers for a layer version; `full` adds `Content` and `LayerArn`.
    pub fn render(
        &self,
        region: &str,
        v: &LayerVersionRecord,
        location: &str,
        full: bool,
    ) -> Value {
        let mut out = json!({
            "LayerVersionArn": format!("{}:{}", self.layer_arn(region, &v.name), v.version),
            "Version": v.version,
            "Description": v.description,
            "CreatedDate": v.created_date,
            "CompatibleRuntimes": v.compatible_runtimes,
            "CompatibleArchitectures": v.compatible_architectures,
        });
        if let Some(l) = &v.license_info {
            out["LicenseInfo"] = json!(l);
        }
        if full {
            out["LayerArn"] = json!(self.layer_arn(region, &v.name));
            out["Content"] =
                json!({"Location": location, "CodeSha256": v.code_sha256, "CodeSize": v.code_size});
        }
        out
    }

    /// PublishLayerVersion.
    pub async fn publish(
        &self,
        name: &str,
        req: PublishLayerRequest,
    ) -> ServiceResult<LayerVersionRecord> {
        Self::check_name(name)?;
        let content = req.content.ok_or_else(|| missing("content"))?;
        let zip = match (content.zip_file, content.s3_bucket.as_deref()) {
            (Some(z), _) => base64::engine::general_purpose::STANDARD.decode(z.trim()).map_err(|_| {
                ServiceError::invalid("Could not unzip uploaded file. Please check your file, then try to upload again.")
            })?,
            (None, Some(bucket)) => self.ctx.code_from_s3(bucket, content.s3_key.as_deref()).await?,
            _ => return Err(ServiceError::invalid("Please provide a source for the layer content.")),
        };
        let runtimes = req.compatible_runtimes.unwrap_or_default();
        if runtimes.len() > 15 {
            return Err(ServiceError::validation(
                "1 validation error detected: Value at 'compatibleRuntimes' failed to satisfy constraint: Member must have length less than or equal to 15",
            ));
        }
        for r in &runtimes {
            lambdad_model::validate::runtime(r).map_err(|_| {
                ServiceError::validation(format!("1 validation error detected: Value '[{}]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [{}]]", runtimes.join(", "), lambdad_model::validate::SUPPORTED_RUNTIMES.join(", ")))
            })?;
        }
        let archs = req.compatible_architectures.unwrap_or_default();
        if archs.len() > 2 || archs.iter().any(|a| a != "x86_64" && a != "arm64") {
            return Err(ServiceError::validation(format!(
                "1 validation error detected: Value '[{}]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
                archs.join(", ")
            )));
        }
        let code = self.ctx.code.clone();
        let info = tokio::task::spawn_blocking(move || code.put_zip(&zip))
            .await
            .map_err(|e| ServiceError::internal(e.to_string()))?
            .map_err(ServiceError::from)?;
        let mut record = LayerVersionRecord {
            name: name.to_owned(),
            version: 0,
            description: req.description.unwrap_or_default(),
            created_date: now_timestamp(),
            compatible_runtimes: runtimes,
            compatible_architectures: archs,
            license_info: req.license_info,
            code_sha256: info.sha256_b64,
            code_size: info.size,
            code_hex: info.sha256_hex,
            policy: None,
            policy_revision: uuid::Uuid::new_v4().to_string(),
        };
        let store = self.ctx.store.clone();
        let to_store = record.clone();
        record.version = blocking(move || store.publish_layer_version(&to_store)).await?;
        Ok(record)
    }

    /// GetLayerVersion.
    pub async fn get(
        &self,
        region: &str,
        name: &str,
        version: i64,
    ) -> ServiceResult<LayerVersionRecord> {
        if version < 1 {
            return Err(ServiceError::invalid("Layer Version Cannot be less than 1"));
        }
        let version = version as u64;
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        blocking(move || store.get_layer_version(&key, version))
            .await?
            .ok_or_else(|| self.missing(region, name, version))
    }

    /// Parses a layer version ARN into name and version, checking region and account.
    pub fn parse_version_arn(&self, region: &str, arn: &str) -> ServiceResult<(String, u64)> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", p, "lambda", r, acct, "layer", name, version] if p.starts_with("aws") => {
                let version: u64 = version.parse().map_err(|_| bad_arn(arn))?;
                if *r != region {
                    return Err(ServiceError::invalid(format!(
                        "Layers are not in the same region as the function. Layers are expected to be in region {region}."
                    )));
                }
                if *acct != self.ctx.account || !valid_layer_name(name) {
                    return Err(ServiceError::invalid(format!(
                        "Layer version {arn} does not exist."
                    )));
                }
                Ok(((*name).to_owned(), version))
            }
            _ => Err(bad_arn(arn)),
        }
    }

    /// ListLayerVersions (newest first).
    pub async fn list_versions(&self, name: &str) -> ServiceResult<Vec<LayerVersionRecord>> {
        Self::check_name(name)?;
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        blocking(move || store.list_layer_versions(&key)).await
    }

    /// ListLayers: the newest version of each layer, optionally filtered by runtime and architecture.
    pub async fn list(
        &self,
        runtime: Option<String>,
        arch: Option<String>,
    ) -> ServiceResult<Vec<LayerVersionRecord>> {
        let store = self.ctx.store.clone();
        let all = blocking(move || store.list_layers()).await?;
        Ok(all
            .into_iter()
            .filter(|v| {
                runtime
                    .as_ref()
                    .is_none_or(|r| v.compatible_runtimes.contains(r))
            })
            .filter(|v| {
                arch.as_ref()
                    .is_none_or(|a| v.compatible_architectures.contains(a))
            })
            .collect())
    }

    /// DeleteLayerVersion (idempotent). The archive stays while functions use it.
    pub async fn delete(&self, name: &str, version: i64) -> ServiceResult<()> {
        if version < 1 {
            return Err(ServiceError::invalid("Layer Version Cannot be less than 1"));
        }
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        blocking(move || store.delete_layer_version(&key, version as u64)).await?;
        Ok(())
    }

    /// AddLayerVersionPermission: returns (statement JSON, new revision).
    pub async fn add_permission(
        &self,
        region: &str,
        name: &str,
        version: i64,
        revision: Option<String>,
        req: AddLayerPermissionRequest,
    ) -> ServiceResult<(String, String)> {
        let mut v = self.get(region, name, version).await?;
        check_policy_revision(&v, revision.as_deref())?;
        let sid = req.statement_id.ok_or_else(|| missing("statementId"))?;
        let action = req.action.ok_or_else(|| missing("action"))?;
        if action != "lambda:GetLayerVersion" {
            return Err(ServiceError::validation(format!(
                "1 validation error detected: Value '{action}' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: lambda:GetLayerVersion"
            )));
        }
        let principal = req.principal.ok_or_else(|| missing("principal"))?;
        let mut statements: Vec<Value> = v
            .policy
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ServiceError::internal(e.to_string()))?
            .unwrap_or_default();
        if statements.iter().any(|s| s["Sid"] == sid.as_str()) {
            return Err(ServiceError::conflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )));
        }
        let aws_principal = if principal == "*" || principal.starts_with("arn:") {
            principal.clone()
        } else {
            format!("arn:aws:iam::{principal}:root")
        };
        let mut statement = json!({
            "Sid": sid, "Effect": "Allow", "Principal": {"AWS": aws_principal}, "Action": action,
            "Resource": format!("{}:{}", self.layer_arn(region, name), v.version),
        });
        if let Some(org) = req.organization_id {
            statement["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": org}});
        }
        statements.push(statement.clone());
        self.save_policy(&mut v, statements).await?;
        Ok((statement.to_string(), v.policy_revision))
    }

    /// RemoveLayerVersionPermission.
    pub async fn remove_permission(
        &self,
        region: &str,
        name: &str,
        version: i64,
        sid: &str,
        revision: Option<String>,
    ) -> ServiceResult<()> {
        let mut v = self.get(region, name, version).await?;
        check_policy_revision(&v, revision.as_deref())?;
        let mut statements: Vec<Value> = v
            .policy
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ServiceError::internal(e.to_string()))?
            .unwrap_or_default();
        let before = statements.len();
        statements.retain(|s| s["Sid"] != sid);
        if statements.len() == before {
            return Err(ServiceError::not_found(format!(
                "Statement {sid} is not found in resource policy."
            )));
        }
        self.save_policy(&mut v, statements).await
    }

    /// GetLayerVersionPolicy: (policy document JSON, revision).
    pub async fn policy(
        &self,
        region: &str,
        name: &str,
        version: i64,
    ) -> ServiceResult<(String, String)> {
        let v = self.get(region, name, version).await?;
        let statements: Vec<Value> = v
            .policy
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ServiceError::internal(e.to_string()))?
            .unwrap_or_default();
        if statements.is_empty() {
            return Err(ServiceError::not_found(
                "No policy is associated with the given resource.",
            ));
        }
        let doc = json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
        Ok((doc.to_string(), v.policy_revision))
    }

    async fn save_policy(
        &self,
        v: &mut LayerVersionRecord,
        statements: Vec<Value>,
    ) -> ServiceResult<()> {
        let expected = std::mem::replace(&mut v.policy_revision, uuid::Uuid::new_v4().to_string());
        v.policy = (!statements.is_empty()).then(|| Value::Array(statements).to_string());
        let store = self.ctx.store.clone();
        let record = v.clone();
        blocking(move || store.update_layer_policy(&record, &expected))
            .await
            .map_err(|e| {
                if e.is_store_revision_mismatch() {
                    ServiceError::RevisionMismatch {
                        read_with: "GetLayerPolicy",
                    }
                } else {
                    e
                }
            })
    }

    /// Resolves a function's `Layers`: their references for the configuration and their archives, in order.
    pub async fn resolve_for_function(
        &self,
        region: &str,
        arns: &[String],
    ) -> ServiceResult<(Vec<LayerRef>, Vec<String>)> {
        if arns.len() > 5 {
            return Err(ServiceError::invalid(
                "Cannot reference more than 5 layers.",
            ));
        }
        let mut refs = Vec::new();
        let mut code = Vec::new();
        let mut seen: Vec<(String, &String)> = Vec::new();
        for arn in arns {
            let (name, version) = self.parse_version_arn(region, arn)?;
            if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
                return Err(ServiceError::invalid(format!(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. {other} and {arn}"
                )));
            }
            seen.push((name.clone(), arn));
            let v = self.get(region, &name, version as i64).await.map_err(|_| {
                ServiceError::invalid(format!("Layer version {arn} does not exist."))
            })?;
            refs.push(LayerRef {
                arn: arn.clone(),
                code_size: v.code_size,
            });
            code.push(v.code_hex);
        }
        Ok((refs, code))
    }
}

fn bad_arn(arn: &str) -> ServiceError {
    ServiceError::validation(format!(
        "1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
    ))
}

fn check_policy_revision(v: &LayerVersionRecord, given: Option<&str>) -> ServiceResult<()> {
    match given {
        Some(r) if r != v.policy_revision => Err(ServiceError::RevisionMismatch {
            read_with: "GetLayerPolicy",
        }),
        _ => Ok(()),
    }
}
