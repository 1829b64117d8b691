//! Tags: TagResource, UntagResource, ListTags on unqualified function ARNs.

use std::collections::BTreeMap;

use lambdad_model::{Code, validate};
use lambdad_store::FunctionRecord;

use super::functions::{Functions, blocking, new_revision};
use crate::api::error::{ApiError, ApiResult};

impl Functions {
    /// Resolves a taggable function ARN to its name.
    async fn tag_target(&self, region: &str, arn: &str) -> ApiResult<FunctionRecord> {
        let r = self.parse_ref(region, arn)?;
        if r.qualifier.is_some() {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                "Tags on function aliases and versions are not supported. Please specify a function ARN.",
            ));
        }
        self.load(region, &r.name, None).await
    }

    /// ListTags.
    pub async fn list_tags(&self, region: &str, arn: &str) -> ApiResult<BTreeMap<String, String>> {
        Ok(self.tag_target(region, arn).await?.tags)
    }

    /// TagResource.
    pub async fn tag(
        &self,
        region: &str,
        arn: &str,
        tags: BTreeMap<String, String>,
    ) -> ApiResult<()> {
        let mut rec = self.tag_target(region, arn).await?;
        let new_keys = tags.keys().filter(|k| !rec.tags.contains_key(*k)).count();
        validate::tags(&tags, 0).map_err(ApiError)?;
        if rec.tags.len() + new_keys > 50 {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                "Number of tags exceeds resource tag limit.",
            ));
        }
        let expected = rec.config.revision_id.clone();
        rec.tags.extend(tags);
        rec.config.revision_id = new_revision();
        self.save_tags(rec, expected).await
    }

    /// UntagResource.
    pub async fn untag(&self, region: &str, arn: &str, keys: Vec<String>) -> ApiResult<()> {
        let mut rec = self.tag_target(region, arn).await?;
        let expected = rec.config.revision_id.clone();
        for k in keys {
            rec.tags.remove(&k);
        }
        rec.config.revision_id = new_revision();
        self.save_tags(rec, expected).await
    }

    async fn save_tags(&self, record: FunctionRecord, expected: String) -> ApiResult<()> {
        let store = self.store.clone();
        let arn = record.config.function_arn.clone();
        let name = record.config.function_name.clone();
        let written = blocking(move || store.update_function(&record, &expected)).await;
        self.snapshots.invalidate(&name);
        written
            .map_err(|e| if e.0.code == Code::PreconditionFailed {
                ApiError::new(Code::ResourceConflict, format!("The operation cannot be performed at this time. An update is in progress for resource: {arn}"))
            } else {
                e
            })
    }
}
