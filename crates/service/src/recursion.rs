//! A function's recursive loop detection setting
//! (Put/GetFunctionRecursionConfig): `Terminate` (the default) or `Allow`.
//! One store document per function that has set it (kind [`KIND`], keyed
//! by the function's name); DeleteFunction forgets it.

use lambdad_model::{AwsError, validate};
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{ServiceError, ServiceResult, service_error};

/// The store documents' kind.
pub const KIND: &str = "recursion-config";

/// The setting of a function that never set one.
pub const DEFAULT: &str = "Terminate";

service_error! {
    /// Why a recursion configuration call fails.
    pub enum RecursionError {}
}

/// Shorthand for recursion configuration results.
pub type RecursionResult<T> = Result<T, RecursionError>;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Setting {
    recursive_loop: String,
}

/// The recursion configuration service.
#[derive(Clone, Debug)]
pub struct Recursion {
    ctx: Context,
}

impl Recursion {
    /// The service over its parts.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// GetFunctionRecursionConfig: `Terminate` unless set otherwise.
    pub async fn get(&self, region: &str, function: &str) -> RecursionResult<String> {
        let name = self.function(region, function).await?;
        let setting: Option<Setting> = self.ctx.load_doc(KIND, &name).await?;
        Ok(setting.map_or_else(|| DEFAULT.to_owned(), |s| s.recursive_loop))
    }

    /// PutFunctionRecursionConfig.
    pub async fn put(
        &self,
        region: &str,
        function: &str,
        value: Option<&str>,
    ) -> RecursionResult<String> {
        let value = value.ok_or(ServiceError::Missing("recursiveLoop"))?;
        if !matches!(value, "Terminate" | "Allow") {
            return Err(AwsError::validation(validate::one_error(
                value,
                "recursiveLoop",
                "Member must satisfy enum value set: [Terminate, Allow]",
            ))
            .into());
        }
        let name = self.function(region, function).await?;
        let setting = Setting {
            recursive_loop: value.to_owned(),
        };
        self.ctx.save_doc(KIND, &name, Some(&setting)).await?;
        Ok(setting.recursive_loop)
    }

    /// The function's name, once it is known to exist (AWS's not-found otherwise).
    async fn function(&self, region: &str, function: &str) -> ServiceResult<String> {
        let r = self.ctx.parse_ref(region, function)?;
        self.ctx.load(region, &r.name, None).await?;
        Ok(r.name)
    }
}

/// Forgets a deleted function's setting (DeleteFunction).
pub(crate) async fn forget(ctx: &Context, function: &str) -> ServiceResult<()> {
    ctx.save_doc::<Setting>(KIND, function, None).await
}
