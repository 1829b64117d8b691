//! Typed access to the store's documents: records (EventBridge rules, event
//! source mappings) kept as JSON under a kind and a key.

use lambdad_model::Code;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::functions::{Functions, blocking};
use crate::api::error::{ApiError, ApiResult};

impl Functions {
    /// The document `kind`/`key`, if any.
    pub(super) async fn load_doc<T: DeserializeOwned>(
        &self,
        kind: &'static str,
        key: &str,
    ) -> ApiResult<Option<T>> {
        let (store, key) = (self.store.clone(), key.to_owned());
        let Some(doc) = blocking(move || store.get_doc(kind, &key)).await? else {
            return Ok(None);
        };
        serde_json::from_str(&doc)
            .map(Some)
            .map_err(|e| ApiError::new(Code::Service, format!("corrupt {kind} record: {e}")))
    }

    /// Stores (or with `None` deletes) the document `kind`/`key`.
    pub(super) async fn save_doc<T: Serialize>(
        &self,
        kind: &'static str,
        key: &str,
        value: Option<&T>,
    ) -> ApiResult<()> {
        let doc = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ApiError::new(Code::Service, e.to_string()))?;
        let (store, key) = (self.store.clone(), key.to_owned());
        blocking(move || store.put_doc(kind, &key, doc.as_deref())).await
    }

    /// Every document of `kind` (unreadable ones are skipped).
    pub(super) async fn all_docs<T: DeserializeOwned>(
        &self,
        kind: &'static str,
    ) -> ApiResult<Vec<T>> {
        let store = self.store.clone();
        let docs = blocking(move || store.list_docs(kind)).await?;
        Ok(docs
            .iter()
            .filter_map(|(_, d)| serde_json::from_str(d).ok())
            .collect())
    }
}
