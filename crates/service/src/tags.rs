//! Tags: TagResource, UntagResource, ListTags on unqualified function ARNs.

use std::collections::BTreeMap;

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
    }
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

    /// Resolves a taggable function ARN to its name.
    async fn tag_target(&self, region: &str, arn: &str) -> TagsResult<FunctionRecord> {
        let r = self.ctx.parse_ref(region, arn)?;
        if r.qualifier.is_some() {
            return Err(TagsError::Qualified);
        }
        Ok(self.ctx.load(region, &r.name, None).await?)
    }

    /// ListTags.
    pub async fn list_tags(&self, region: &str, arn: &str) -> TagsResult<BTreeMap<String, String>> {
        Ok(self.tag_target(region, arn).await?.tags)
    }

    /// TagResource.
    pub async fn tag(
        &self,
        region: &str,
        arn: &str,
        tags: BTreeMap<String, String>,
    ) -> TagsResult<()> {
        let mut rec = self.tag_target(region, arn).await?;
        let new_keys = tags.keys().filter(|k| !rec.tags.contains_key(*k)).count();
        validate::tags(&tags, 0)?;
        if rec.tags.len() + new_keys > validate::MAX_TAGS {
            return Err(TagsError::TooMany);
        }
        let expected = rec.config.revision_id.clone();
        rec.tags.extend(tags);
        rec.config.revision_id = new_revision();
        self.save_tags(rec, expected).await
    }

    /// UntagResource.
    pub async fn untag(&self, region: &str, arn: &str, keys: Vec<String>) -> TagsResult<()> {
        let mut rec = self.tag_target(region, arn).await?;
        let expected = rec.config.revision_id.clone();
        for k in keys {
            rec.tags.remove(&k);
        }
        rec.config.revision_id = new_revision();
        self.save_tags(rec, expected).await
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
