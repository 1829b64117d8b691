//! Layers: PublishLayerVersion, Get/List/Delete, layer version policies, and
//! the resolution of a function's `Layers` into archives for `/opt`.

use base64::Engine as _;
use lambdad_model::function::LayerRef;
use lambdad_model::validate;
use lambdad_store::LayerVersionRecord;
use lambdad_store::code::CodeError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::{Context, blocking, missing, now_timestamp};
use crate::error::{ServiceError, service_error};

/// AWS's limit on the layers of one function.
pub const MAX_FUNCTION_LAYERS: usize = 5;
/// AWS's limit on a layer version's `CompatibleRuntimes`.
const MAX_COMPATIBLE_RUNTIMES: usize = 15;
/// AWS's limit on the length of a layer name.
const MAX_LAYER_NAME: usize = 140;

/// `Layer version ARN does not exist.`
fn no_version(arn: &str) -> String {
    format!("Layer version {arn} does not exist.")
}

fn bracketed(list: &str) -> String {
    format!("[{list}]")
}

fn runtimes_message(list: &str) -> String {
    validate::one_error(
        &bracketed(list),
        "compatibleRuntimes",
        &format!(
            "Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
            validate::SUPPORTED_RUNTIMES.join(", ")
        ),
    )
}

service_error! {
    /// Why a layers call fails.
    pub enum LayersError {
        /// A layer name AWS refuses.
        #[error("{}", validate::one_error(
            .name,
            "layerName",
            "Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
        ))]
        BadName { name: String } => Validation,
        /// No content.
        #[error("Please provide a source for the layer content.")]
        NoContent => InvalidParameterValue,
        /// More than [`MAX_COMPATIBLE_RUNTIMES`] runtimes.
        #[error("{}", validate::unvalued_error(
            "compatibleRuntimes",
            &format!("Member must have length less than or equal to {MAX_COMPATIBLE_RUNTIMES}"),
        ))]
        TooManyRuntimes => Validation,
        /// A runtime lambdad does not know (the list, comma-separated).
        #[error("{}", runtimes_message(.runtimes))]
        BadRuntimes { runtimes: String } => Validation,
        /// An architecture AWS does not know, or too many (the list, comma-separated).
        #[error("{}", validate::one_error(
            &bracketed(.architectures),
            "compatibleArchitectures",
            "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
        ))]
        BadArchitectures { architectures: String } => Validation,
        /// A version number below 1.
        #[error("Layer Version Cannot be less than 1")]
        VersionBelowOne => InvalidParameterValue,
        /// The layer version (its ARN) does not exist.
        #[error("{}", no_version(.arn))]
        VersionNotFound { arn: String } => ResourceNotFound,
        /// A function names a layer version (its ARN) that does not exist.
        #[error("{}", no_version(.arn))]
        NoSuchVersion { arn: String } => InvalidParameterValue,
        /// A function names a layer of another region (the function's).
        #[error(
            "Layers are not in the same region as the function. Layers are expected to be in region {0}."
        )]
        OtherRegion(String) => InvalidParameterValue,
        /// Not a layer version ARN.
        #[error("{}", validate::one_error(
            .arn,
            "arn",
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)",
        ))]
        BadArn { arn: String } => Validation,
        /// A permission for another action than `lambda:GetLayerVersion`.
        #[error("{}", validate::one_error(
            .action,
            "action",
            "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
        ))]
        BadAction { action: String } => Validation,
        /// More than [`MAX_FUNCTION_LAYERS`] layers on a function.
        #[error("Cannot reference more than {MAX_FUNCTION_LAYERS} layers.")]
        TooManyLayers => InvalidParameterValue,
        /// Two versions of one layer on a function.
        #[error(
            "Two different versions of the same layer are not allowed to be referenced in the same function. {first} and {second} are versions of the same layer."
        )]
        SameLayerTwice { first: String, second: String } => InvalidParameterValue,
    }
    wraps {
        /// The archive was refused or could not be stored.
        Code(CodeError),
    }
}

/// Shorthand for layers results.
pub type LayersResult<T> = Result<T, LayersError>;

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
        && name.len() <= MAX_LAYER_NAME
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

    fn missing(&self, region: &str, name: &str, version: u64) -> LayersError {
        LayersError::VersionNotFound {
            arn: format!("{}:{version}", self.layer_arn(region, name)),
        }
    }

    fn check_name(name: &str) -> LayersResult<()> {
        if valid_layer_name(name) {
            Ok(())
        } else {
            Err(LayersError::BadName {
                name: name.to_owned(),
            })
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
        });
        // AWS leaves out the lists that are empty.
        if !v.compatible_runtimes.is_empty() {
            out["CompatibleRuntimes"] = json!(v.compatible_runtimes);
        }
        if !v.compatible_architectures.is_empty() {
            out["CompatibleArchitectures"] = json!(v.compatible_architectures);
        }
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
    ) -> LayersResult<LayerVersionRecord> {
        Self::check_name(name)?;
        let content = req.content.ok_or_else(|| missing("content"))?;
        let zip = match (content.zip_file, content.s3_bucket.as_deref()) {
            (Some(z), _) => base64::engine::general_purpose::STANDARD
                .decode(z.trim())
                .map_err(|_| ServiceError::NotAZip)?,
            (None, Some(bucket)) => {
                self.ctx
                    .code_from_s3(bucket, content.s3_key.as_deref())
                    .await?
            }
            _ => return Err(LayersError::NoContent),
        };
        let runtimes = req.compatible_runtimes.unwrap_or_default();
        if runtimes.len() > MAX_COMPATIBLE_RUNTIMES {
            return Err(LayersError::TooManyRuntimes);
        }
        for r in &runtimes {
            validate::runtime(r).map_err(|_| LayersError::BadRuntimes {
                runtimes: runtimes.join(", "),
            })?;
        }
        let archs = req.compatible_architectures.unwrap_or_default();
        if archs.len() > 2 || archs.iter().any(|a| a != "x86_64" && a != "arm64") {
            return Err(LayersError::BadArchitectures {
                architectures: archs.join(", "),
            });
        }
        let code = self.ctx.code.clone();
        let (info, zip) = tokio::task::spawn_blocking(move || (code.put_zip(&zip), zip))
            .await
            .map_err(|e| ServiceError::internal(e.to_string()))?;
        let info = info?;
        // Shared before the layer version that names it (cluster mode).
        self.ctx.share_code(&info.sha256_hex, zip).await?;
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
    ) -> LayersResult<LayerVersionRecord> {
        if version < 1 {
            return Err(LayersError::VersionBelowOne);
        }
        let version = version as u64;
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        blocking(move || store.get_layer_version(&key, version))
            .await?
            .ok_or_else(|| self.missing(region, name, version))
    }

    /// Parses a layer version ARN into name and version, checking region and account.
    pub fn parse_version_arn(&self, region: &str, arn: &str) -> LayersResult<(String, u64)> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", p, "lambda", r, acct, "layer", name, version] if p.starts_with("aws") => {
                let version: u64 = version.parse().map_err(|_| bad_arn(arn))?;
                if *r != region {
                    return Err(LayersError::OtherRegion(region.to_owned()));
                }
                if *acct != self.ctx.account || !valid_layer_name(name) {
                    return Err(LayersError::NoSuchVersion {
                        arn: arn.to_owned(),
                    });
                }
                Ok(((*name).to_owned(), version))
            }
            _ => Err(bad_arn(arn)),
        }
    }

    /// ListLayerVersions (newest first).
    pub async fn list_versions(&self, name: &str) -> LayersResult<Vec<LayerVersionRecord>> {
        Self::check_name(name)?;
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        Ok(blocking(move || store.list_layer_versions(&key)).await?)
    }

    /// ListLayers: the newest version of each layer, optionally filtered by runtime and architecture.
    pub async fn list(
        &self,
        runtime: Option<String>,
        arch: Option<String>,
    ) -> LayersResult<Vec<LayerVersionRecord>> {
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
    pub async fn delete(&self, name: &str, version: i64) -> LayersResult<()> {
        if version < 1 {
            return Err(LayersError::VersionBelowOne);
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
    ) -> LayersResult<(String, String)> {
        let mut v = self.get(region, name, version).await?;
        check_policy_revision(&v, revision.as_deref())?;
        let sid = req.statement_id.ok_or_else(|| missing("statementId"))?;
        let action = req.action.ok_or_else(|| missing("action"))?;
        if action != "lambda:GetLayerVersion" {
            return Err(LayersError::BadAction { action });
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
            return Err(ServiceError::StatementExists(sid).into());
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
    ) -> LayersResult<()> {
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
            return Err(ServiceError::StatementNotFound(sid.to_owned()).into());
        }
        self.save_policy(&mut v, statements).await
    }

    /// GetLayerVersionPolicy: (policy document JSON, revision).
    pub async fn policy(
        &self,
        region: &str,
        name: &str,
        version: i64,
    ) -> LayersResult<(String, String)> {
        let v = self.get(region, name, version).await?;
        let statements: Vec<Value> = v
            .policy
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ServiceError::internal(e.to_string()))?
            .unwrap_or_default();
        if statements.is_empty() {
            return Err(ServiceError::NoPolicy.into());
        }
        let doc = json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
        Ok((doc.to_string(), v.policy_revision))
    }

    async fn save_policy(
        &self,
        v: &mut LayerVersionRecord,
        statements: Vec<Value>,
    ) -> LayersResult<()> {
        let expected = std::mem::replace(&mut v.policy_revision, uuid::Uuid::new_v4().to_string());
        v.policy = (!statements.is_empty()).then(|| Value::Array(statements).to_string());
        let store = self.ctx.store.clone();
        let record = v.clone();
        blocking(move || store.update_layer_policy(&record, &expected))
            .await
            .map_err(|e| {
                if e.is_store_revision_mismatch() {
                    LAYER_POLICY_REVISION_MISMATCH.into()
                } else {
                    e.into()
                }
            })
    }

    /// Resolves a function's `Layers`: their references for the configuration and their archives, in order.
    pub async fn resolve_for_function(
        &self,
        region: &str,
        arns: &[String],
    ) -> LayersResult<(Vec<LayerRef>, Vec<String>)> {
        if arns.len() > MAX_FUNCTION_LAYERS {
            return Err(LayersError::TooManyLayers);
        }
        let mut refs = Vec::new();
        let mut code = Vec::new();
        let mut seen: Vec<(String, &String)> = Vec::new();
        for arn in arns {
            let (name, version) = self.parse_version_arn(region, arn)?;
            if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
                return Err(LayersError::SameLayerTwice {
                    first: (*other).clone(),
                    second: arn.clone(),
                });
            }
            seen.push((name.clone(), arn));
            let v = self
                .get(region, &name, version as i64)
                .await
                .map_err(|_| LayersError::NoSuchVersion { arn: arn.clone() })?;
            refs.push(LayerRef {
                arn: arn.clone(),
                code_size: v.code_size,
            });
            code.push(v.code_hex);
        }
        Ok((refs, code))
    }
}

fn bad_arn(arn: &str) -> LayersError {
    LayersError::BadArn {
        arn: arn.to_owned(),
    }
}

/// A layer version policy's RevisionId does not match.
const LAYER_POLICY_REVISION_MISMATCH: ServiceError = ServiceError::RevisionMismatch {
    read_with: "GetLayerPolicy",
};

fn check_policy_revision(v: &LayerVersionRecord, given: Option<&str>) -> LayersResult<()> {
    match given {
        Some(r) if r != v.policy_revision => Err(LAYER_POLICY_REVISION_MISMATCH.into()),
        _ => Ok(()),
    }
}
