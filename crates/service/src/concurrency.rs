//! Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency,
//! DeleteFunctionConcurrency, and the account figures GetAccountSettings shows.

use crate::context::{Context, blocking, missing};
use crate::error::{ServiceError, ServiceResult};

/// AWS keeps at least this much of the account limit unreserved.
pub const MIN_UNRESERVED: u32 = 100;

/// The reserved concurrency service.
#[derive(Clone, Debug)]
pub struct Concurrency {
    ctx: Context,
}

impl Concurrency {
    /// The service over its parts.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    async fn unqualified_function(&self, region: &str, name: &str) -> ServiceResult<String> {
        let r = self.ctx.parse_ref(region, name)?;
        if r.qualifier.is_some() {
            return Err(ServiceError::invalid(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.",
            ));
        }
        self.ctx.load(region, &r.name, None).await?;
        Ok(r.name)
    }

    /// PutFunctionConcurrency.
    pub async fn put_concurrency(
        &self,
        region: &str,
        name: &str,
        reserved: Option<i64>,
    ) -> ServiceResult<u32> {
        let function = self.unqualified_function(region, name).await?;
        let reserved = reserved.ok_or_else(|| missing("reservedConcurrentExecutions"))?;
        let reserved = u32::try_from(reserved).map_err(|_| {
            ServiceError::validation(format!("1 validation error detected: Value '{reserved}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"))
        })?;
        let others = self.ctx.engine.concurrency().reserved_by_others(&function);
        if u64::from(others) + u64::from(reserved) + u64::from(MIN_UNRESERVED)
            > u64::from(self.ctx.engine.concurrency().limit())
        {
            return Err(ServiceError::invalid(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
            )));
        }
        let (store, key) = (self.ctx.store.clone(), function.clone());
        blocking(move || store.set_reserved_concurrency(&key, Some(reserved))).await?;
        self.ctx
            .engine
            .concurrency()
            .set_reserved(&function, Some(reserved));
        Ok(reserved)
    }

    /// GetFunctionConcurrency.
    pub async fn get_concurrency(&self, region: &str, name: &str) -> ServiceResult<Option<u32>> {
        let function = self.unqualified_function(region, name).await?;
        Ok(self.ctx.engine.concurrency().reserved(&function))
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_concurrency(&self, region: &str, name: &str) -> ServiceResult<()> {
        let function = self.unqualified_function(region, name).await?;
        let (store, key) = (self.ctx.store.clone(), function.clone());
        blocking(move || store.set_reserved_concurrency(&key, None)).await?;
        self.ctx.engine.concurrency().set_reserved(&function, None);
        Ok(())
    }

    /// (account limit, unreserved) for GetAccountSettings.
    pub fn account_concurrency(&self) -> (u32, u32) {
        (
            self.ctx.engine.concurrency().limit(),
            self.ctx.engine.concurrency().unreserved(),
        )
    }

    /// A function's reservation, for GetFunction's `Concurrency`.
    pub fn reservation(&self, function: &str) -> Option<u32> {
        self.ctx.engine.concurrency().reserved(function)
    }
}
