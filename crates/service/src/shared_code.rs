//! Code archives in cluster mode: the node that receives an archive
//! validates and unpacks it as always, then stores its bytes in the shared
//! store **before** the record that names it is written, so no node ever
//! sees a function whose code is nowhere. Every node keeps its unpacked
//! code as a local cache ([`lambdad_store::CodeStore`]): on a miss it
//! fetches the archive, checks that its SHA-256 is the name it was asked
//! for, and unpacks it with the same validation as an upload. Container
//! image root file systems are not shared: they stay on the node that
//! pulled them. With a store of one node (SQLite) nothing here does anything.

use std::time::{Duration, Instant};

use lambdad_store::FunctionRecord;
use lambdad_store::code::MAX_ZIPPED_BYTES;
use sha2::{Digest, Sha256};

use crate::context::{Context, blocking};
use crate::error::{ServiceError, ServiceResult};

/// How long an unused shared archive is kept after its last upload (a
/// create on another node may be about to name it).
pub const GRACE: Duration = crate::context::SHARED_CODE_GRACE;

impl Context {
    /// Stores a validated archive in the shared store (cluster mode).
    pub async fn share_code(&self, hex: &str, zip: Vec<u8>) -> ServiceResult<()> {
        if self.store.cluster().is_none() {
            return Ok(());
        }
        let (store, hex) = (self.store.clone(), hex.to_owned());
        blocking(move || match store.cluster() {
            Some(c) => c.put_code_blob(&hex, &zip),
            None => Ok(()),
        })
        .await
    }

    /// Makes sure this node holds the unpacked archive `hex`, fetching it
    /// from the shared store on a miss (cluster mode).
    pub async fn fetch_code(&self, hex: &str) -> ServiceResult<()> {
        if self.store.cluster().is_none() || self.code.contains(hex) {
            return Ok(());
        }
        let _one_at_a_time = self.fetch_lock.lock().await;
        if self.code.contains(hex) {
            return Ok(());
        }
        let (store, code, want) = (self.store.clone(), self.code.clone(), hex.to_owned());
        let started = Instant::now();
        let fetched = tokio::task::spawn_blocking(move || -> Result<Option<u64>, String> {
            let Some(c) = store.cluster() else {
                return Ok(None);
            };
            let Some(zip) = c
                .get_code_blob(&want, MAX_ZIPPED_BYTES)
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let digest = hex::encode(Sha256::digest(&zip));
            if digest != want {
                return Err(format!(
                    "the shared code archive {want} has the SHA-256 {digest}"
                ));
            }
            let info = code.put_zip(&zip).map_err(|e| e.to_string())?;
            Ok(Some(info.size))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("code fetch failed: {e}")))?;
        match fetched {
            Ok(Some(size)) => {
                tracing::info!(
                    code = hex,
                    bytes = size,
                    ms = started.elapsed().as_millis() as u64,
                    "Fetched a code archive from the shared store."
                );
                Ok(())
            }
            Ok(None) => Err(ServiceError::Internal(format!(
                "the code archive {hex} is neither in this node's cache nor in the shared store"
            ))),
            Err(why) => Err(ServiceError::Internal(why)),
        }
    }

    /// [`Self::fetch_code`] of a record's code and layers (a container
    /// image's root file system is not shared).
    pub async fn fetch_record_code(&self, rec: &FunctionRecord) -> ServiceResult<()> {
        if rec.image.is_none() {
            self.fetch_code(&rec.code_hex).await?;
        }
        for layer in &rec.layer_code {
            self.fetch_code(layer).await?;
        }
        Ok(())
    }
}
