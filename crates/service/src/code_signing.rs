//! Code signing configurations (CreateCodeSigningConfig and its family) and
//! their attachment to functions (Put/Get/DeleteFunctionCodeSigningConfig,
//! `CodeSigningConfigArn` at CreateFunction).
//!
//! lambdad has no signing service (AWS Signer signs the S3 objects Lambda
//! verifies), so no package it receives is signed: a function whose
//! configuration's `UntrustedArtifactOnDeployment` is `Enforce` refuses
//! every code deployment with AWS's `CodeVerificationFailedException`, and
//! `Warn` deploys and logs a warning, as AWS does for unsigned code.
//!
//! Store documents: one per configuration (kind [`KIND`], keyed by its id),
//! one per function that has one attached (kind [`FUNCTION_KIND`], keyed by
//! the function's name); DeleteFunction forgets the latter.

use lambdad_model::{AwsError, Code, ErrorCode, validate};
use serde::{Deserialize, Serialize};

use crate::context::{Context, now_timestamp};
use crate::error::{ServiceResult, service_error};

/// The configurations' documents.
pub const KIND: &str = "code-signing-config";

/// The attachments' documents (function name → configuration ARN).
pub const FUNCTION_KIND: &str = "function-code-signing";

/// At most this many signing profiles per configuration (AWS's limit).
pub const MAX_PROFILES: usize = 20;

/// A configuration that does not exist, by the ARN it was asked for. AWS's
/// body for it has no `Type`.
#[derive(Debug, thiserror::Error)]
#[error("The Lambda code signing configuration {0} can not be found.")]
pub struct ConfigNotFound(pub String);

impl ErrorCode for ConfigNotFound {
    fn error_code(&self) -> Code {
        Code::ResourceNotFound
    }

    fn typed(&self) -> bool {
        false
    }
}

service_error! {
    /// Why a code signing call fails.
    pub enum CodeSigningError {
        /// Attaching (or creating a function with) a configuration that does not exist.
        #[error("The code signing configuration cannot be found. Check that the provided configuration is not deleted: {0}.")]
        AttachMissing(String) => CodeSigningConfigNotFound,
        /// Deleting a configuration functions still use.
        #[error("The code signing configuration {0} cannot be deleted because it is used by one or more functions.")]
        InUse(String) => ResourceConflict,
        /// A deployment of unsigned code under an `Enforce` policy.
        #[error("The code signature failed one or more of the validation checks for signature mismatch or expiry, and the code signing policy is set to ENFORCE. Lambda blocks the deployment.")]
        Unsigned => CodeVerificationFailed,
    }
    wraps {
        /// The configuration does not exist.
        NotFound(ConfigNotFound),
    }
}

/// Shorthand for code signing results.
pub type CodeSigningResult<T> = Result<T, CodeSigningError>;

/// `AllowedPublishers`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllowedPublishers {
    /// The signing profile versions whose signatures are trusted.
    #[serde(default)]
    pub signing_profile_version_arns: Vec<String>,
}

/// `CodeSigningPolicies`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeSigningPolicies {
    /// `Warn` (the default) or `Enforce`.
    pub untrusted_artifact_on_deployment: Option<String>,
}

/// A configuration, as the API shows it (and as it is stored).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeSigningConfig {
    /// Who may sign.
    pub allowed_publishers: AllowedPublishers,
    /// `arn:aws:lambda:REGION:ACCOUNT:code-signing-config:ID`.
    pub code_signing_config_arn: String,
    /// `csc-` and 17 lowercase letters or digits.
    pub code_signing_config_id: String,
    /// What to do with untrusted code.
    pub code_signing_policies: CodeSigningPolicies,
    /// Free text (empty when not given).
    pub description: String,
    /// When it was created or last updated.
    pub last_modified: String,
}

/// The members of CreateCodeSigningConfig and UpdateCodeSigningConfig.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigRequest {
    /// Required at creation.
    pub allowed_publishers: Option<AllowedPublishers>,
    /// Defaults to `Warn`.
    pub code_signing_policies: Option<CodeSigningPolicies>,
    /// At most 256 characters.
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attachment {
    code_signing_config_arn: String,
}

/// The code signing service.
#[derive(Clone, Debug)]
pub struct CodeSigning {
    ctx: Context,
    /// Serializes changes, so an attachment never names a deleted configuration.
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl CodeSigning {
    /// The service over its parts.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            lock: Default::default(),
        }
    }

    /// CreateCodeSigningConfig.
    pub async fn create(
        &self,
        region: &str,
        req: ConfigRequest,
    ) -> CodeSigningResult<CodeSigningConfig> {
        let publishers = req
            .allowed_publishers
            .ok_or(crate::error::ServiceError::Missing("allowedPublishers"))?;
        check_publishers(&publishers)?;
        let policy = policy(req.code_signing_policies.as_ref())?.unwrap_or("Warn");
        let description = req.description.unwrap_or_default();
        validate::description(&description)?;
        let id = new_id();
        let config = CodeSigningConfig {
            allowed_publishers: publishers,
            code_signing_config_arn: format!(
                "arn:aws:lambda:{region}:{}:code-signing-config:{id}",
                self.ctx.account
            ),
            code_signing_config_id: id,
            code_signing_policies: CodeSigningPolicies {
                untrusted_artifact_on_deployment: Some(policy.to_owned()),
            },
            description,
            last_modified: now_timestamp(),
        };
        let _guard = self.lock.lock().await;
        self.ctx
            .save_doc(KIND, &config.code_signing_config_id, Some(&config))
            .await?;
        Ok(config)
    }

    /// GetCodeSigningConfig.
    pub async fn get(&self, arn: &str) -> CodeSigningResult<CodeSigningConfig> {
        load(&self.ctx, arn)
            .await?
            .ok_or_else(|| ConfigNotFound(arn.to_owned()).into())
    }

    /// UpdateCodeSigningConfig: the members given replace the stored ones.
    pub async fn update(
        &self,
        arn: &str,
        req: ConfigRequest,
    ) -> CodeSigningResult<CodeSigningConfig> {
        let _guard = self.lock.lock().await;
        let mut config = self.get(arn).await?;
        if let Some(publishers) = req.allowed_publishers {
            check_publishers(&publishers)?;
            config.allowed_publishers = publishers;
        }
        if let Some(policy) = policy(req.code_signing_policies.as_ref())? {
            config
                .code_signing_policies
                .untrusted_artifact_on_deployment = Some(policy.to_owned());
        }
        if let Some(description) = req.description {
            validate::description(&description)?;
            config.description = description;
        }
        config.last_modified = now_timestamp();
        self.ctx
            .save_doc(KIND, &config.code_signing_config_id, Some(&config))
            .await?;
        Ok(config)
    }

    /// DeleteCodeSigningConfig: refused while a function uses it.
    pub async fn delete(&self, arn: &str) -> CodeSigningResult<()> {
        let _guard = self.lock.lock().await;
        let config = self.get(arn).await?;
        if !self.functions_using(arn).await?.is_empty() {
            return Err(CodeSigningError::InUse(arn.to_owned()));
        }
        self.ctx
            .save_doc::<CodeSigningConfig>(KIND, &config.code_signing_config_id, None)
            .await?;
        Ok(())
    }

    /// ListCodeSigningConfigs: every configuration, oldest id first.
    pub async fn list(&self) -> CodeSigningResult<Vec<CodeSigningConfig>> {
        let mut all: Vec<CodeSigningConfig> = self.ctx.all_docs(KIND).await?;
        all.sort_by(|a, b| a.code_signing_config_id.cmp(&b.code_signing_config_id));
        Ok(all)
    }

    /// ListFunctionsByCodeSigningConfig: the unqualified ARNs of the
    /// functions it is attached to.
    pub async fn functions(&self, region: &str, arn: &str) -> CodeSigningResult<Vec<String>> {
        self.get(arn).await?;
        let mut names = self.functions_using(arn).await?;
        names.sort();
        Ok(names.iter().map(|n| self.ctx.arn(region, n)).collect())
    }

    /// PutFunctionCodeSigningConfig: the configuration is checked first, then the function.
    pub async fn attach(
        &self,
        region: &str,
        function: &str,
        arn: &str,
    ) -> CodeSigningResult<(String, String)> {
        let _guard = self.lock.lock().await;
        if load(&self.ctx, arn).await?.is_none() {
            return Err(CodeSigningError::AttachMissing(arn.to_owned()));
        }
        let name = self.function(region, function).await?;
        link(&self.ctx, &name, arn).await?;
        Ok((arn.to_owned(), name))
    }

    /// GetFunctionCodeSigningConfig: the attached configuration's ARN and
    /// the function's name, or nothing when none is attached.
    pub async fn attached(
        &self,
        region: &str,
        function: &str,
    ) -> CodeSigningResult<Option<(String, String)>> {
        let name = self.function(region, function).await?;
        let doc: Option<Attachment> = self.ctx.load_doc(FUNCTION_KIND, &name).await?;
        Ok(doc.map(|d| (d.code_signing_config_arn, name)))
    }

    /// DeleteFunctionCodeSigningConfig (nothing attached is no error).
    pub async fn detach(&self, region: &str, function: &str) -> CodeSigningResult<()> {
        let _guard = self.lock.lock().await;
        let name = self.function(region, function).await?;
        Ok(self
            .ctx
            .save_doc::<Attachment>(FUNCTION_KIND, &name, None)
            .await?)
    }

    async fn functions_using(&self, arn: &str) -> ServiceResult<Vec<String>> {
        let store = self.ctx.store.clone();
        let docs = crate::context::blocking(move || store.list_docs(FUNCTION_KIND)).await?;
        Ok(docs
            .into_iter()
            .filter(|(_, body)| {
                serde_json::from_str::<Attachment>(body)
                    .is_ok_and(|a| a.code_signing_config_arn == arn)
            })
            .map(|(name, _)| name)
            .collect())
    }

    /// The function's name, once it is known to exist (AWS's not-found otherwise).
    async fn function(&self, region: &str, function: &str) -> ServiceResult<String> {
        let r = self.ctx.parse_ref(region, function)?;
        self.ctx.load(region, &r.name, None).await?;
        Ok(r.name)
    }
}

/// Attaches `arn` to a function (PutFunctionCodeSigningConfig, and
/// `CodeSigningConfigArn` at CreateFunction after [`check_new`]).
pub(crate) async fn link(ctx: &Context, function: &str, arn: &str) -> ServiceResult<()> {
    let doc = Attachment {
        code_signing_config_arn: arn.to_owned(),
    };
    ctx.save_doc(FUNCTION_KIND, function, Some(&doc)).await
}

/// The deployment check of a function's code: refused under `Enforce`
/// (nothing here is signed), a warning under `Warn`.
pub(crate) async fn check_deploy(ctx: &Context, function: &str) -> CodeSigningResult<()> {
    let doc: Option<Attachment> = ctx.load_doc(FUNCTION_KIND, function).await?;
    match doc {
        Some(d) => check_config(ctx, function, &d.code_signing_config_arn).await,
        None => Ok(()),
    }
}

/// The check of CreateFunction's `CodeSigningConfigArn`: it must exist,
/// and the code passes its policy.
pub(crate) async fn check_new(ctx: &Context, function: &str, arn: &str) -> CodeSigningResult<()> {
    if load(ctx, arn).await?.is_none() {
        return Err(CodeSigningError::AttachMissing(arn.to_owned()));
    }
    check_config(ctx, function, arn).await
}

async fn check_config(ctx: &Context, function: &str, arn: &str) -> CodeSigningResult<()> {
    let Some(config) = load(ctx, arn).await? else {
        // A configuration deleted under the function: nothing to enforce.
        return Ok(());
    };
    let policy = config
        .code_signing_policies
        .untrusted_artifact_on_deployment;
    if policy.as_deref() == Some("Enforce") {
        return Err(CodeSigningError::Unsigned);
    }
    tracing::warn!(
        function,
        code_signing_config = arn,
        "The deployment package is not signed by a trusted publisher; deployed because the code signing policy is Warn."
    );
    Ok(())
}

async fn load(ctx: &Context, arn: &str) -> ServiceResult<Option<CodeSigningConfig>> {
    let Some((_, id)) = arn.rsplit_once(":code-signing-config:") else {
        return Ok(None);
    };
    let config: Option<CodeSigningConfig> = ctx.load_doc(KIND, id).await?;
    Ok(config.filter(|c| c.code_signing_config_arn == arn))
}

/// Forgets a deleted function's attachment (DeleteFunction).
pub(crate) async fn forget(ctx: &Context, function: &str) -> ServiceResult<()> {
    ctx.save_doc::<Attachment>(FUNCTION_KIND, function, None)
        .await
}

/// A new configuration id: `csc-` and 17 lowercase hex digits (AWS's
/// pattern `csc-[a-z0-9]{17}`).
fn new_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("csc-{}", &hex[..17])
}

/// The policy named, checked against AWS's enum.
fn policy(policies: Option<&CodeSigningPolicies>) -> Result<Option<&str>, AwsError> {
    match policies.and_then(|p| p.untrusted_artifact_on_deployment.as_deref()) {
        None => Ok(None),
        Some(p @ ("Warn" | "Enforce")) => Ok(Some(p)),
        Some(other) => Err(AwsError::validation(validate::one_error(
            other,
            "codeSigningPolicies.untrustedArtifactOnDeployment",
            "Member must satisfy enum value set: [Warn, Enforce]",
        ))),
    }
}

/// 1 to 20 signing profile version ARNs.
fn check_publishers(publishers: &AllowedPublishers) -> Result<(), AwsError> {
    let arns = &publishers.signing_profile_version_arns;
    let member = "allowedPublishers.signingProfileVersionArns";
    let shown = || format!("[{}]", arns.join(", "));
    if arns.is_empty() {
        return Err(AwsError::validation(validate::one_error(
            &shown(),
            member,
            "Member must have length greater than or equal to 1",
        )));
    }
    if arns.len() > MAX_PROFILES {
        return Err(AwsError::validation(validate::one_error(
            &shown(),
            member,
            "Member must have length less than or equal to 20",
        )));
    }
    if let Some(bad) = arns
        .iter()
        .find(|a| !a.starts_with("arn:") || a.len() > 1024)
    {
        return Err(AwsError::validation(validate::one_error(
            bad,
            member,
            "Member must satisfy constraint: [Member must satisfy regular expression pattern: arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)]",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_awss_pattern() {
        let id = new_id();
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("csc-"));
        assert!(
            id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
    }

    #[test]
    fn policies_and_publishers_are_checked() {
        let p = |v: &str| CodeSigningPolicies {
            untrusted_artifact_on_deployment: Some(v.into()),
        };
        assert_eq!(policy(Some(&p("Enforce"))).unwrap(), Some("Enforce"));
        assert_eq!(policy(None).unwrap(), None);
        let e = policy(Some(&p("enforce"))).unwrap_err();
        assert!(e.message.contains("[Warn, Enforce]"), "{}", e.message);
        let none = AllowedPublishers::default();
        assert!(check_publishers(&none).is_err());
        let one = AllowedPublishers {
            signing_profile_version_arns: vec![
                "arn:aws:signer:us-east-1:1:/signing-profiles/p".into(),
            ],
        };
        assert!(check_publishers(&one).is_ok());
    }

    #[test]
    fn a_missing_configuration_has_no_type() {
        let e = CodeSigningError::from(ConfigNotFound("arn:x".into()));
        assert_eq!(e.error_code(), Code::ResourceNotFound);
        assert!(!e.typed());
        assert!(CodeSigningError::Unsigned.typed());
    }
}
