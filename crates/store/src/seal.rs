//! Environment variables at rest: a function's `Environment.Variables` are
//! kept out of the stored configuration JSON and sealed with
//! ChaCha20-Poly1305 under a key of the data directory (created with mode
//! 0600 beside the database). A copy of `meta.db` alone reveals no
//! variable's value.

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use lambdad_model::function::{FunctionConfiguration, ImageCode};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// The member of a stored configuration that holds its [`ImageCode`].
const IMAGE_KEY: &str = "LambdadImage";

/// The stored form of a configuration whose variables are sealed.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// base64(nonce ‖ ciphertext) of the variables' JSON.
    sealed_env: String,
    /// The configuration without its variables.
    config: FunctionConfiguration,
}

/// Seals and opens configurations.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(serde::de::Error::custom(what))
}

impl Sealer {
    /// A sealer with a fresh key that is kept nowhere (in-memory stores).
    pub fn ephemeral() -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&ChaCha20Poly1305::generate_key(&mut OsRng)),
        }
    }

    /// The key in `path`, created (mode 0600) when absent.
    pub fn from_key_file(path: &Path) -> std::io::Result<Self> {
        let key = match std::fs::read(path) {
            Ok(k) if k.len() == 32 => k,
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a 32-byte key", path.display()),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let key = ChaCha20Poly1305::generate_key(&mut OsRng).to_vec();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                key
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    /// The stored JSON of `config`.
    pub fn seal(&self, config: &FunctionConfiguration) -> Result<String, StoreError> {
        let Some(env) = config
            .environment
            .as_ref()
            .filter(|e| !e.variables.is_empty())
        else {
            return Ok(serde_json::to_string(config)?);
        };
        let plain = serde_json::to_vec(&env.variables)?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut sealed = nonce.to_vec();
        sealed.extend(
            self.cipher
                .encrypt(&nonce, plain.as_slice())
                .map_err(|_| corrupt("cannot seal environment variables"))?,
        );
        let mut bare = config.clone();
        if let Some(e) = bare.environment.as_mut() {
            e.variables.clear();
        }
        Ok(serde_json::to_string(&Sealed {
            sealed_env: base64::engine::general_purpose::STANDARD.encode(sealed),
            config: bare,
        })?)
    }

    /// The stored JSON of `config` and, for a container image function, its
    /// image (kept beside the configuration under [`IMAGE_KEY`]).
    pub fn seal_with(
        &self,
        config: &FunctionConfiguration,
        image: Option<&ImageCode>,
    ) -> Result<String, StoreError> {
        let sealed = self.seal(config)?;
        let Some(image) = image else {
            return Ok(sealed);
        };
        let mut value: serde_json::Value = serde_json::from_str(&sealed)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(IMAGE_KEY.into(), serde_json::to_value(image)?);
        }
        Ok(serde_json::to_string(&value)?)
    }

    /// The configuration and image of JSON written by [`Self::seal_with`].
    pub fn open_with(
        &self,
        stored: &str,
    ) -> Result<(FunctionConfiguration, Option<ImageCode>), StoreError> {
        if !stored.contains(IMAGE_KEY) {
            return Ok((self.open(stored)?, None));
        }
        let mut value: serde_json::Value = serde_json::from_str(stored)?;
        let image = match value.as_object_mut().and_then(|o| o.remove(IMAGE_KEY)) {
            Some(v) => Some(serde_json::from_value(v)?),
            None => None,
        };
        Ok((self.open(&serde_json::to_string(&value)?)?, image))
    }

    /// The configuration of stored JSON (sealed, or plain from before sealing).
    pub fn open(&self, stored: &str) -> Result<FunctionConfiguration, StoreError> {
        let Ok(sealed) = serde_json::from_str::<Sealed>(stored) else {
            return Ok(serde_json::from_str(stored)?);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed.sealed_env)
            .map_err(|_| corrupt("sealed variables are not base64"))?;
        if bytes.len() < 12 {
            return Err(corrupt("sealed variables are truncated"));
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| corrupt("sealed variables do not open with this data directory's key"))?;
        let mut config = sealed.config;
        if let Some(e) = config.environment.as_mut() {
            e.variables = serde_json::from_slice(&plain)?;
        }
        Ok(config)
    }
}
