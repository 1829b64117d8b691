//! Provisioned concurrency configurations: Put/Get/List/Delete on a version
//! or alias; the engine keeps that many environments initialised.

use lambdad_model::validate;
use lambdad_store::ProvisionedRecord;
use serde_json::{Value, json};

use crate::context::{Context, blocking, missing, now_timestamp};
use crate::error::service_error;

service_error! {
    /// Why a provisioned-concurrency call fails.
    pub enum ProvisionedError {
        /// A configuration for `$LATEST`.
        #[error(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
        )]
        Unpublished => InvalidParameterValue,
        /// More than the function's reserved concurrency.
        #[error(
            "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
        )]
        AboveReserved => InvalidParameterValue,
        /// The version or alias has no configuration.
        #[error("No Provisioned Concurrency Config found for this function")]
        NotFound => ProvisionedConcurrencyConfigNotFound,
    }
}

/// Shorthand for provisioned-concurrency results.
pub type ProvisionedResult<T> = Result<T, ProvisionedError>;

fn key(function: &str, qualifier: &str) -> String {
    format!("{function}:{qualifier}")
}

/// The provisioned concurrency service.
#[derive(Clone, Debug)]
pub struct Provisioned {
    ctx: Context,
}

impl Provisioned {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    async fn provision_target(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ProvisionedResult<(String, String)> {
        let r = self.ctx.parse_ref(region, name)?;
        let q = Context::qualifier(&r, qualifier)?
            .map(str::to_owned)
            .ok_or_else(|| missing("qualifier"))?;
        if q == "$LATEST" {
            return Err(ProvisionedError::Unpublished);
        }
        self.ctx.load(region, &r.name, Some(&q)).await?;
        Ok((r.name, q))
    }

    fn render_provisioned(&self, p: &ProvisionedRecord, with_arn: Option<String>) -> Value {
        let ready = self
            .ctx
            .engine
            .provisioned_status(&key(&p.function, &p.qualifier))
            .map_or(0, |(_, ready)| ready);
        let mut out = json!({
            "RequestedProvisionedConcurrentExecutions": p.requested,
            "AvailableProvisionedConcurrentExecutions": ready,
            "AllocatedProvisionedConcurrentExecutions": ready,
            "Status": if ready >= p.requested { "READY" } else { "IN_PROGRESS" },
            "LastModified": p.last_modified,
        });
        if let Some(arn) = with_arn {
            out["FunctionArn"] = json!(arn);
        }
        out
    }

    /// Starts (or restarts after a restart of lambdad) the environments of `p`.
    pub async fn apply_provisioned(
        &self,
        region: &str,
        p: &ProvisionedRecord,
    ) -> ProvisionedResult<()> {
        let rec = self
            .ctx
            .load(region, &p.function, Some(&p.qualifier))
            .await?;
        self.ctx.fetch_record_code(&rec).await?;
        self.ctx.engine.provision(
            &key(&p.function, &p.qualifier),
            self.ctx.snapshot_of(rec),
            p.requested,
        );
        Ok(())
    }

    /// PutProvisionedConcurrencyConfig.
    pub async fn put_provisioned(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        requested: Option<i64>,
    ) -> ProvisionedResult<Value> {
        let (function, q) = self.provision_target(region, name, qualifier).await?;
        let requested = requested.unwrap_or(0);
        if requested < 1 {
            return Err(validate::at_least(
                &requested.to_string(),
                "provisionedConcurrentExecutions",
                1,
            )
            .into());
        }
        let requested = u32::try_from(requested).unwrap_or(u32::MAX);
        if self
            .ctx
            .engine
            .concurrency()
            .reserved(&function)
            .is_some_and(|r| requested > r)
        {
            return Err(ProvisionedError::AboveReserved);
        }
        let p = ProvisionedRecord {
            function,
            qualifier: q,
            requested,
            last_modified: now_timestamp(),
        };
        let (store, rec) = (self.ctx.store.clone(), p.clone());
        blocking(move || store.set_provisioned(&rec)).await?;
        self.apply_provisioned(region, &p).await?;
        let mut out = self.render_provisioned(&p, None);
        out["Status"] = json!("IN_PROGRESS");
        Ok(out)
    }

    async fn find_provisioned(
        &self,
        function: &str,
        q: &str,
    ) -> ProvisionedResult<ProvisionedRecord> {
        let (store, f) = (self.ctx.store.clone(), function.to_owned());
        blocking(move || store.list_provisioned(Some(&f)))
            .await?
            .into_iter()
            .find(|p| p.qualifier == q)
            .ok_or(ProvisionedError::NotFound)
    }

    /// GetProvisionedConcurrencyConfig.
    pub async fn get_provisioned(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ProvisionedResult<Value> {
        let (function, q) = self.provision_target(region, name, qualifier).await?;
        let p = self.find_provisioned(&function, &q).await?;
        Ok(self.render_provisioned(&p, None))
    }

    /// ListProvisionedConcurrencyConfigs.
    pub async fn list_provisioned(&self, region: &str, name: &str) -> ProvisionedResult<Value> {
        let r = self.ctx.parse_ref(region, name)?;
        self.ctx.load(region, &r.name, None).await?;
        let (store, f) = (self.ctx.store.clone(), r.name.clone());
        let all = blocking(move || store.list_provisioned(Some(&f))).await?;
        let items: Vec<Value> = all
            .iter()
            .map(|p| {
                self.render_provisioned(
                    p,
                    Some(format!(
                        "{}:{}",
                        self.ctx.arn(region, &p.function),
                        p.qualifier
                    )),
                )
            })
            .collect();
        Ok(json!({ "ProvisionedConcurrencyConfigs": items }))
    }

    /// DeleteProvisionedConcurrencyConfig.
    pub async fn delete_provisioned(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ProvisionedResult<()> {
        let (function, q) = self.provision_target(region, name, qualifier).await?;
        // A version or alias without a configuration: nothing to delete, and
        // no error (AWS answers 204).
        let (store, f, qq) = (self.ctx.store.clone(), function.clone(), q.clone());
        blocking(move || store.delete_provisioned(&f, &qq)).await?;
        self.ctx.engine.deprovision(&key(&function, &q));
        Ok(())
    }

    /// Every stored configuration (re-applied at start-up).
    pub async fn all_provisioned(&self) -> ProvisionedResult<Vec<ProvisionedRecord>> {
        let store = self.ctx.store.clone();
        Ok(blocking(move || store.list_provisioned(None)).await?)
    }
}
