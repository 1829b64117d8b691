//! Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency,
//! DeleteFunctionConcurrency, and the account figures GetAccountSettings shows.

use lambdad_model::validate;

use crate::context::{Context, blocking, missing};
use crate::error::{ServiceError, service_error};

/// AWS keeps at least this much of the account limit unreserved.
pub const MIN_UNRESERVED: u32 = 100;

service_error! {
    /// Why a reserved-concurrency call fails.
    pub enum ConcurrencyError {
        /// The reservation would leave less than [`MIN_UNRESERVED`] unreserved.
        #[error(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
        )]
        BelowMinimumUnreserved => InvalidParameterValue,
    }
}

/// Shorthand for reserved-concurrency results.
pub type ConcurrencyResult<T> = Result<T, ConcurrencyError>;

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

    async fn unqualified_function(&self, region: &str, name: &str) -> ConcurrencyResult<String> {
        let r = self.ctx.parse_ref(region, name)?;
        if r.qualifier.is_some() {
            return Err(ServiceError::FunctionsOnly.into());
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
    ) -> ConcurrencyResult<u32> {
        let function = self.unqualified_function(region, name).await?;
        let reserved = reserved.ok_or_else(|| missing("reservedConcurrentExecutions"))?;
        let reserved = u32::try_from(reserved).map_err(|_| {
            validate::at_least(&reserved.to_string(), "reservedConcurrentExecutions", 0)
        })?;
        let others = self.ctx.engine.concurrency().reserved_by_others(&function);
        if u64::from(others) + u64::from(reserved) + u64::from(MIN_UNRESERVED)
            > u64::from(self.ctx.engine.concurrency().limit())
        {
            return Err(ConcurrencyError::BelowMinimumUnreserved);
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
    pub async fn get_concurrency(
        &self,
        region: &str,
        name: &str,
    ) -> ConcurrencyResult<Option<u32>> {
        let function = self.unqualified_function(region, name).await?;
        Ok(self.ctx.engine.concurrency().reserved(&function))
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_concurrency(&self, region: &str, name: &str) -> ConcurrencyResult<()> {
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
