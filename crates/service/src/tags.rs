//! Tags: TagResource, UntagResource, ListTags on unqualified function ARNs
//! and event source mapping ARNs (whose tags live in the mapping's
//! document).

use std::collections::BTreeMap;

use lambdad_model::arn::{TAGGABLE_PATTERN, Taggable, parse_taggable};
use lambdad_model::validate;
use lambdad_store::FunctionRecord;

use crate::context::{Context, blocking, new_revision};
use crate::error::{ServiceError, service_error};

service_error! {
    /// Why a tagging call fails.
    pub enum TagsError {
        /// Tags on a version or an alias.
        #[error(
            "Tags on function aliases and versions are not supported. Please specify a function ARN."
        )]
        Qualified => InvalidParameterValue,
        /// More than [`validate::MAX_TAGS`] tags.
        #[error("Number of tags exceeds resource tag limit.")]
        TooMany => InvalidParameterValue,
        /// A `Resource` that is no taggable ARN: AWS's message naming its pattern.
        #[error("{0}")]
        BadResource(String) => Validation,
        /// No event source mapping has the ARN's UUID.
        #[error("Event source mapping not found: {0}")]
        MappingNotFound(String) => ResourceNotFound,
        /// Capacity providers, layers and code signing configurations
        /// (lambdad has none to tag).
        #[error("{kind} not found: {arn}")]
        NotFound { kind: &'static str, arn: String } => ResourceNotFound,
    }
}

/// What a tagging call acts on.
enum Target {
    Function(Box<FunctionRecord>),
    Mapping(Box<crate::esm::Mapping>),
}

/// Shorthand for tagging results.
pub type TagsResult<T> = Result<T, TagsError>;

/// The tags service.
#[derive(Clone, Debug)]
pub struct Tags {
    ctx: Context,
}

impl Tags {
    /// The service over its parts.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Resolves a taggable ARN to what it names.
    async fn tag_target(&self, region: &str, arn: &str) -> TagsResult<Target> {
        let Some((what, _, _)) = parse_taggable(arn) else {
            let pattern =
                format!("Member must satisfy regular expression pattern: {TAGGABLE_PATTERN}");
            return Err(TagsError::BadResource(validate::one_error(
                arn, "resource", &pattern,
            )));
        };
        match what {
            Taggable::Function { .. } => {
                let r = self.ctx.parse_ref(region, arn)?;
                if r.qualifier.is_some() {
                    return Err(TagsError::Qualified);
                }
                let rec = self.ctx.load(region, &r.name, None).await?;
                Ok(Target::Function(Box::new(rec)))
            }
            Taggable::EventSourceMapping(uuid) => self
                .ctx
                .load_doc(crate::esm::KIND, &uuid)
                .await?
                .map(|m| Target::Mapping(Box::new(m)))
                .ok_or_else(|| TagsError::MappingNotFound(arn.to_owned())),
            Taggable::Other { kind } => Err(TagsError::NotFound {
                kind: match kind {
                    "layer" => "Layer",
                    "code-signing-config" => "Code signing config",
                    _ => "Capacity provider",
                },
                arn: arn.to_owned(),
            }),
        }
    }

    /// ListTags.
    pub async fn list_tags(&self, region: &str, arn: &str) -> TagsResult<BTreeMap<String, String>> {
        Ok(match self.tag_target(region, arn).await? {
            Target::Function(rec) => rec.tags,
            Target::Mapping(m) => m.tags,
        })
    }

    /// TagResource.
    pub async fn tag(
        &self,
        region: &str,
        arn: &str,
        tags: BTreeMap<String, String>,
    ) -> TagsResult<()> {
        let target = self.tag_target(region, arn).await?;
        let current = match &target {
            Target::Function(rec) => &rec.tags,
            Target::Mapping(m) => &m.tags,
        };
        let new_keys = tags.keys().filter(|k| !current.contains_key(*k)).count();
        validate::tags(&tags, 0)?;
        if current.len() + new_keys > validate::MAX_TAGS {
            return Err(TagsError::TooMany);
        }
        self.change(target, |t| t.extend(tags)).await
    }

    /// UntagResource.
    pub async fn untag(&self, region: &str, arn: &str, keys: Vec<String>) -> TagsResult<()> {
        let target = self.tag_target(region, arn).await?;
        self.change(target, |t| {
            for k in keys {
                t.remove(&k);
            }
        })
        .await
    }

    /// Applies `f` to the target's tags and saves it.
    async fn change(
        &self,
        target: Target,
        f: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> TagsResult<()> {
        match target {
            Target::Function(mut rec) => {
                let expected = rec.config.revision_id.clone();
                f(&mut rec.tags);
                rec.config.revision_id = new_revision();
                self.save_tags(*rec, expected).await
            }
            Target::Mapping(mut m) => {
                f(&mut m.tags);
                let uuid = m.uuid.clone();
                Ok(self
                    .ctx
                    .save_doc(crate::esm::KIND, &uuid, Some(&*m))
                    .await?)
            }
        }
    }

    async fn save_tags(&self, record: FunctionRecord, expected: String) -> TagsResult<()> {
        let store = self.ctx.store.clone();
        let arn = record.config.function_arn.clone();
        let name = record.config.function_name.clone();
        let written = blocking(move || store.update_function(&record, &expected)).await;
        self.ctx.snapshots.invalidate(&name);
        written.map_err(|e| {
            if e.is_store_revision_mismatch() {
                ServiceError::UpdateInProgress(arn).into()
            } else {
                e.into()
            }
        })
    }
}
