//! [`Store`] for [`PgStore`]: functions, versions, aliases, concurrency
//! settings, EventInvokeConfigs, function URLs, resource policies,
//! documents and layers. The queue, HTTP APIs and stream checkpoints are in
//! `pg_events.rs`.

use tokio_postgres::Row;

use crate::pg::{PgStore, big, is_unique_violation, small};
use crate::{
    AliasRecord, AsyncEvent, FunctionRecord, GatewayApiRecord, LayerVersionRecord, PolicyRecord,
    ProvisionedRecord, Store, StoreError, StreamCheckpoint, UrlConfigRecord,
};

const FUNCTION_COLUMNS: &str = "config, tags, code_hex, layer_code";
const VERSION_COLUMNS: &str = "config, '{}', code_hex, layer_code";

impl PgStore {
    fn function_row(&self, r: &Row) -> Result<FunctionRecord, StoreError> {
        let (config, image) = self.sealer.open_with(r.try_get(0)?)?;
        Ok(FunctionRecord {
            config,
            tags: serde_json::from_str(r.try_get(1)?)?,
            code_hex: r.try_get(2)?,
            layer_code: serde_json::from_str(r.try_get(3)?)?,
            image,
        })
    }

    fn function_rows(&self, rows: &[Row]) -> Result<Vec<FunctionRecord>, StoreError> {
        rows.iter().map(|r| self.function_row(r)).collect()
    }
}

/// The JSON documents in column 0 of `rows`.
fn docs<T: serde::de::DeserializeOwned>(rows: &[Row]) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|r| Ok(serde_json::from_str(r.try_get(0)?)?))
        .collect()
}

/// The JSON document in column 0 of `row`, if any.
fn doc<T: serde::de::DeserializeOwned>(row: Option<Row>) -> Result<Option<T>, StoreError> {
    row.map(|r| Ok(serde_json::from_str(r.try_get(0)?)?))
        .transpose()
}

fn mismatch(kind: &'static str, id: String) -> StoreError {
    StoreError::RevisionMismatch { kind, id }
}

/// `AlreadyExists` for a unique violation, else the error.
fn exists_or(e: tokio_postgres::Error, kind: &'static str, id: String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::AlreadyExists { kind, id }
    } else {
        e.into()
    }
}

impl Store for PgStore {
    fn cluster(&self) -> Option<&dyn crate::ClusterStore> {
        Some(self)
    }

    fn create_function(&self, r: &FunctionRecord) -> Result<(), StoreError> {
        let config = self.sealer.seal_with(&r.config, r.image.as_ref())?;
        let tags = serde_json::to_string(&r.tags)?;
        let layers = serde_json::to_string(&r.layer_code)?;
        let res = self.execute(
            "INSERT INTO functions (name, revision_id, code_hex, code_size, config, tags, layer_code) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&r.config.function_name, &r.config.revision_id, &r.code_hex, &big(r.config.code_size), &config, &tags, &layers],
        );
        match res {
            Ok(_) => Ok(()),
            Err(StoreError::Postgres(e)) => {
                Err(exists_or(e, "function", r.config.function_name.clone()))
            }
            Err(e) => Err(e),
        }
    }

    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        let row = self.query_opt(
            &format!("SELECT {FUNCTION_COLUMNS} FROM functions WHERE name = $1"),
            &[&name],
        )?;
        row.map(|r| self.function_row(&r)).transpose()
    }

    fn update_function(
        &self,
        r: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let config = self.sealer.seal_with(&r.config, r.image.as_ref())?;
        let tags = serde_json::to_string(&r.tags)?;
        let layers = serde_json::to_string(&r.layer_code)?;
        let n = self.execute(
            "UPDATE functions SET revision_id = $2, code_hex = $3, code_size = $4, config = $5, tags = $6, layer_code = $8 WHERE name = $1 AND revision_id = $7",
            &[&r.config.function_name, &r.config.revision_id, &r.code_hex, &big(r.config.code_size), &config, &tags, &expected_revision, &layers],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(mismatch("function", r.config.function_name.clone()))
        }
    }

    fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute("DELETE FROM functions WHERE name = $1", &[&name])
                .await?;
            for table in [
                "versions",
                "aliases",
                "concurrency",
                "provisioned",
                "event_invoke_configs",
                "url_configs",
                "policies",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE name = $1"), &[&name])
                    .await?;
            }
            Ok(n == 1)
        })
    }

    fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let rows = self.query(
            &format!(
                "SELECT {FUNCTION_COLUMNS} FROM functions WHERE name > $1 ORDER BY name LIMIT $2"
            ),
            &[&after.unwrap_or(""), &big(limit as u64)],
        )?;
        self.function_rows(&rows)
    }

    fn usage(&self) -> Result<(u64, u64), StoreError> {
        let rows = self.query(
            "SELECT COUNT(*), COALESCE(SUM(code_size), 0)::BIGINT FROM functions",
            &[],
        )?;
        let Some(r) = rows.first() else {
            return Ok((0, 0));
        };
        Ok((
            crate::pg::unsigned(r.try_get(0)?),
            crate::pg::unsigned(r.try_get(1)?),
        ))
    }

    fn code_in_use(&self, code_hex: &str) -> Result<bool, StoreError> {
        // A layer's archive stays while any function still references it,
        // even after the layer version itself was deleted (as on AWS).
        let quoted = format!("\"{code_hex}\"");
        let row = self.query_opt(
            "SELECT EXISTS (SELECT 1 FROM functions WHERE code_hex = $1 OR strpos(layer_code, $2) > 0)
                 OR EXISTS (SELECT 1 FROM versions WHERE code_hex = $1 OR strpos(layer_code, $2) > 0)
                 OR EXISTS (SELECT 1 FROM layer_versions WHERE code_hex = $1)",
            &[&code_hex, &quoted],
        )?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => false,
        })
    }

    fn publish_version(
        &self,
        r: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<u64, StoreError> {
        let name = &r.config.function_name;
        self.in_tx(async |tx| {
            let row = tx
                .query_opt(
                    "UPDATE functions SET last_version = last_version + 1 WHERE name = $1 AND revision_id = $2 RETURNING last_version",
                    &[name, &expected_revision],
                )
                .await?;
            let Some(row) = row else {
                return Err(mismatch("function", name.clone()));
            };
            let version: i64 = row.try_get(0)?;
            let mut config = r.config.clone();
            config.version = version.to_string();
            config.function_arn = format!("{}:{version}", r.config.function_arn);
            let sealed = self.sealer.seal_with(&config, r.image.as_ref())?;
            let layers = serde_json::to_string(&r.layer_code)?;
            tx.execute(
                "INSERT INTO versions (name, version, code_hex, layer_code, config) VALUES ($1, $2, $3, $4, $5)",
                &[name, &version, &r.code_hex, &layers, &sealed],
            )
            .await?;
            Ok(crate::pg::unsigned(version))
        })
    }

    fn get_version(
        &self,
        function: &str,
        version: u64,
    ) -> Result<Option<FunctionRecord>, StoreError> {
        let row = self.query_opt(
            &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE name = $1 AND version = $2"),
            &[&function, &big(version)],
        )?;
        row.map(|r| self.function_row(&r)).transpose()
    }

    fn list_versions(&self, function: &str) -> Result<Vec<FunctionRecord>, StoreError> {
        let rows = self.query(
            &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE name = $1 ORDER BY version"),
            &[&function],
        )?;
        self.function_rows(&rows)
    }

    fn delete_version(&self, function: &str, version: u64) -> Result<bool, StoreError> {
        let qualifier = version.to_string();
        self.in_tx(async |tx| {
            let n = tx
                .execute(
                    "DELETE FROM versions WHERE name = $1 AND version = $2",
                    &[&function, &big(version)],
                )
                .await?;
            tx.execute(
                "DELETE FROM policies WHERE name = $1 AND qualifier = $2",
                &[&function, &qualifier],
            )
            .await?;
            Ok(n == 1)
        })
    }

    fn create_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let record = serde_json::to_string(a)?;
        match self.execute(
            "INSERT INTO aliases (name, alias, revision_id, record) VALUES ($1, $2, $3, $4)",
            &[&a.function, &a.name, &a.revision_id, &record],
        ) {
            Ok(_) => Ok(()),
            Err(StoreError::Postgres(e)) => {
                Err(exists_or(e, "alias", format!("{}:{}", a.function, a.name)))
            }
            Err(e) => Err(e),
        }
    }

    fn get_alias(&self, function: &str, name: &str) -> Result<Option<AliasRecord>, StoreError> {
        doc(self.query_opt(
            "SELECT record FROM aliases WHERE name = $1 AND alias = $2",
            &[&function, &name],
        )?)
    }

    fn list_aliases(&self, function: &str) -> Result<Vec<AliasRecord>, StoreError> {
        docs(&self.query(
            "SELECT record FROM aliases WHERE name = $1 ORDER BY alias",
            &[&function],
        )?)
    }

    fn update_alias(&self, a: &AliasRecord, expected_revision: &str) -> Result<(), StoreError> {
        let record = serde_json::to_string(a)?;
        let n = self.execute(
            "UPDATE aliases SET revision_id = $3, record = $4 WHERE name = $1 AND alias = $2 AND revision_id = $5",
            &[&a.function, &a.name, &a.revision_id, &record, &expected_revision],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(mismatch("alias", format!("{}:{}", a.function, a.name)))
        }
    }

    fn delete_alias(&self, function: &str, name: &str) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute(
                    "DELETE FROM aliases WHERE name = $1 AND alias = $2",
                    &[&function, &name],
                )
                .await?;
            for table in ["url_configs", "policies"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE name = $1 AND qualifier = $2"),
                    &[&function, &name],
                )
                .await?;
            }
            Ok(n == 1)
        })
    }

    fn set_reserved_concurrency(
        &self,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<(), StoreError> {
        match reserved {
            Some(n) => self.execute(
                "INSERT INTO concurrency (name, reserved) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET reserved = excluded.reserved",
                &[&function, &i64::from(n)],
            )?,
            None => self.execute("DELETE FROM concurrency WHERE name = $1", &[&function])?,
        };
        Ok(())
    }

    fn reserved_concurrency(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.query("SELECT name, reserved FROM concurrency ORDER BY name", &[])?
            .iter()
            .map(|r| Ok((r.try_get(0)?, small(r.try_get(1)?))))
            .collect()
    }

    fn set_provisioned(&self, p: &ProvisionedRecord) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO provisioned (name, qualifier, requested, last_modified) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name, qualifier) DO UPDATE SET requested = excluded.requested, last_modified = excluded.last_modified",
            &[&p.function, &p.qualifier, &i64::from(p.requested), &p.last_modified],
        )?;
        Ok(())
    }

    fn delete_provisioned(&self, function: &str, qualifier: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM provisioned WHERE name = $1 AND qualifier = $2",
            &[&function, &qualifier],
        )? == 1)
    }

    fn list_provisioned(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<ProvisionedRecord>, StoreError> {
        self.query(
            "SELECT name, qualifier, requested, last_modified FROM provisioned
             WHERE $1::TEXT IS NULL OR name = $1 ORDER BY name, qualifier",
            &[&function],
        )?
        .iter()
        .map(|r| {
            Ok(ProvisionedRecord {
                function: r.try_get(0)?,
                qualifier: r.try_get(1)?,
                requested: small(r.try_get(2)?),
                last_modified: r.try_get(3)?,
            })
        })
        .collect()
    }

    fn enqueue_events(&self, events: &[AsyncEvent]) -> Result<(), StoreError> {
        self.in_tx(async |tx| crate::pg_events::insert_events(tx, events).await)?;
        self.doorbells.ring(events);
        Ok(())
    }

    fn on_events_queued(&self, ring: Box<dyn Fn() + Send + Sync>) {
        self.doorbells.add(ring);
    }

    fn lease_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        self.lease_events_impl(now_ms, lease_ms, limit)
    }

    fn release_leases(&self) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE async_events SET leased_until_ms = 0 WHERE leased_until_ms > 0",
            &[],
        )
    }

    fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        not_before_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE async_events SET attempts = $2, not_before_ms = $3, leased_until_ms = 0 WHERE id = $1",
            &[&id, &i64::from(attempts), &not_before_ms],
        )?;
        Ok(())
    }

    fn delete_events(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.execute("DELETE FROM async_events WHERE id = ANY($1)", &[&ids])?;
        Ok(())
    }

    fn pending_events(&self) -> Result<u64, StoreError> {
        let rows = self.query("SELECT COUNT(*) FROM async_events", &[])?;
        match rows.first() {
            Some(r) => Ok(crate::pg::unsigned(r.try_get(0)?)),
            None => Ok(0),
        }
    }

    fn oldest_event_ms(&self) -> Result<Option<i64>, StoreError> {
        let rows = self.query("SELECT MIN(received_ms) FROM async_events", &[])?;
        match rows.first() {
            Some(r) => Ok(r.try_get(0)?),
            None => Ok(None),
        }
    }

    fn put_event_invoke_config(
        &self,
        name: &str,
        qualifier: &str,
        config: Option<&str>,
    ) -> Result<(), StoreError> {
        match config {
            Some(c) => self.execute(
                "INSERT INTO event_invoke_configs (name, qualifier, config) VALUES ($1, $2, $3)
                 ON CONFLICT (name, qualifier) DO UPDATE SET config = excluded.config",
                &[&name, &qualifier, &c],
            )?,
            None => self.execute(
                "DELETE FROM event_invoke_configs WHERE name = $1 AND qualifier = $2",
                &[&name, &qualifier],
            )?,
        };
        Ok(())
    }

    fn event_invoke_configs(&self, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.query(
            "SELECT qualifier, config FROM event_invoke_configs WHERE name = $1 ORDER BY qualifier",
            &[&name],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    fn create_url_config(&self, url: &UrlConfigRecord) -> Result<(), StoreError> {
        let record = serde_json::to_string(url)?;
        match self.execute(
            "INSERT INTO url_configs (name, qualifier, url_id, record) VALUES ($1, $2, $3, $4)",
            &[&url.function, &url.qualifier, &url.url_id, &record],
        ) {
            Ok(_) => Ok(()),
            Err(StoreError::Postgres(e)) => Err(exists_or(
                e,
                "function url config",
                format!("{}:{}", url.function, url.qualifier),
            )),
            Err(e) => Err(e),
        }
    }

    fn update_url_config(&self, url: &UrlConfigRecord) -> Result<bool, StoreError> {
        let record = serde_json::to_string(url)?;
        Ok(self.execute(
            "UPDATE url_configs SET record = $3 WHERE name = $1 AND qualifier = $2",
            &[&url.function, &url.qualifier, &record],
        )? == 1)
    }

    fn get_url_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<UrlConfigRecord>, StoreError> {
        doc(self.query_opt(
            "SELECT record FROM url_configs WHERE name = $1 AND qualifier = $2",
            &[&function, &qualifier],
        )?)
    }

    fn url_config_by_id(&self, url_id: &str) -> Result<Option<UrlConfigRecord>, StoreError> {
        doc(self.query_opt(
            "SELECT record FROM url_configs WHERE url_id = $1",
            &[&url_id],
        )?)
    }

    fn delete_url_config(&self, function: &str, qualifier: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM url_configs WHERE name = $1 AND qualifier = $2",
            &[&function, &qualifier],
        )? == 1)
    }

    fn list_url_configs(&self, function: &str) -> Result<Vec<UrlConfigRecord>, StoreError> {
        docs(&self.query(
            "SELECT record FROM url_configs WHERE name = $1 ORDER BY qualifier",
            &[&function],
        )?)
    }

    fn get_policy(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<PolicyRecord>, StoreError> {
        self.query_opt(
            "SELECT statements, revision_id FROM policies WHERE name = $1 AND qualifier = $2",
            &[&function, &qualifier],
        )?
        .map(|r| {
            Ok(PolicyRecord {
                statements: r.try_get(0)?,
                revision_id: r.try_get(1)?,
            })
        })
        .transpose()
    }

    fn set_policy(
        &self,
        function: &str,
        qualifier: &str,
        policy: Option<&PolicyRecord>,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError> {
        // Each case is one statement whose row count tells whether the
        // precondition held, so concurrent writers cannot both win.
        let n = match (policy, expected_revision) {
            (Some(p), None) => self.execute(
                "INSERT INTO policies (name, qualifier, revision_id, statements) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name, qualifier) DO NOTHING",
                &[&function, &qualifier, &p.revision_id, &p.statements],
            )?,
            (Some(p), Some(expected)) => self.execute(
                "UPDATE policies SET revision_id = $3, statements = $4
                 WHERE name = $1 AND qualifier = $2 AND revision_id = $5",
                &[&function, &qualifier, &p.revision_id, &p.statements, &expected],
            )?,
            (None, Some(expected)) => self.execute(
                "DELETE FROM policies WHERE name = $1 AND qualifier = $2 AND revision_id = $3",
                &[&function, &qualifier, &expected],
            )?,
            (None, None) => u64::from(self.get_policy(function, qualifier)?.is_none()),
        };
        if n == 1 {
            Ok(())
        } else {
            Err(mismatch("policy", format!("{function}:{qualifier}")))
        }
    }

    fn put_doc(&self, kind: &str, key: &str, body: Option<&str>) -> Result<(), StoreError> {
        match body {
            Some(b) => self.execute(
                "INSERT INTO docs (kind, key, body) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                &[&kind, &key, &b],
            )?,
            None => self.execute(
                "DELETE FROM docs WHERE kind = $1 AND key = $2",
                &[&kind, &key],
            )?,
        };
        Ok(())
    }

    fn get_doc(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.query_opt(
            "SELECT body FROM docs WHERE kind = $1 AND key = $2",
            &[&kind, &key],
        )?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
    }

    fn list_docs(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.query(
            "SELECT key, body FROM docs WHERE kind = $1 ORDER BY key",
            &[&kind],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    fn publish_layer_version(&self, record: &LayerVersionRecord) -> Result<u64, StoreError> {
        self.in_tx(async |tx| {
            // The counter row's lock orders concurrent publishes of a layer.
            let version: i64 = tx
                .query_one(
                    "INSERT INTO layers (name, last_version) VALUES ($1, 1)
                     ON CONFLICT (name) DO UPDATE SET last_version = layers.last_version + 1
                     RETURNING last_version",
                    &[&record.name],
                )
                .await?
                .try_get(0)?;
            let stored = LayerVersionRecord {
                version: crate::pg::unsigned(version),
                ..record.clone()
            };
            let body = serde_json::to_string(&stored)?;
            tx.execute(
                "INSERT INTO layer_versions (name, version, code_hex, policy_revision, record) VALUES ($1, $2, $3, $4, $5)",
                &[&record.name, &version, &record.code_hex, &record.policy_revision, &body],
            )
            .await?;
            Ok(stored.version)
        })
    }

    fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        doc(self.query_opt(
            "SELECT record FROM layer_versions WHERE name = $1 AND version = $2",
            &[&name, &big(version)],
        )?)
    }

    fn list_layer_versions(&self, name: &str) -> Result<Vec<LayerVersionRecord>, StoreError> {
        docs(&self.query(
            "SELECT record FROM layer_versions WHERE name = $1 ORDER BY version DESC",
            &[&name],
        )?)
    }

    fn list_layers(&self) -> Result<Vec<LayerVersionRecord>, StoreError> {
        docs(&self.query(
            "SELECT DISTINCT ON (name) record FROM layer_versions ORDER BY name, version DESC",
            &[],
        )?)
    }

    fn delete_layer_version(&self, name: &str, version: u64) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM layer_versions WHERE name = $1 AND version = $2",
            &[&name, &big(version)],
        )? == 1)
    }

    fn update_layer_policy(
        &self,
        record: &LayerVersionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(record)?;
        let n = self.execute(
            "UPDATE layer_versions SET policy_revision = $3, record = $4 WHERE name = $1 AND version = $2 AND policy_revision = $5",
            &[&record.name, &big(record.version), &record.policy_revision, &body, &expected_revision],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(mismatch(
                "layer version",
                format!("{}:{}", record.name, record.version),
            ))
        }
    }

    fn create_gateway_api(&self, api: &GatewayApiRecord) -> Result<(), StoreError> {
        match self.execute(
            "INSERT INTO gateway_apis (api_id, revision, body) VALUES ($1, $2, $3)",
            &[&api.api_id, &api.revision, &api.body],
        ) {
            Ok(_) => Ok(()),
            Err(StoreError::Postgres(e)) => Err(exists_or(e, "api", api.api_id.clone())),
            Err(e) => Err(e),
        }
    }

    fn get_gateway_api(&self, api_id: &str) -> Result<Option<GatewayApiRecord>, StoreError> {
        self.get_gateway_api_impl(api_id)
    }

    fn list_gateway_apis(&self) -> Result<Vec<GatewayApiRecord>, StoreError> {
        self.list_gateway_apis_impl()
    }

    fn update_gateway_api(
        &self,
        api: &GatewayApiRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let n = self.execute(
            "UPDATE gateway_apis SET revision = $2, body = $3 WHERE api_id = $1 AND revision = $4",
            &[&api.api_id, &api.revision, &api.body, &expected_revision],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(mismatch("api", api.api_id.clone()))
        }
    }

    fn delete_gateway_api(&self, api_id: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM gateway_apis WHERE api_id = $1", &[&api_id])? == 1)
    }

    fn stream_checkpoints(&self, mapping: &str) -> Result<Vec<StreamCheckpoint>, StoreError> {
        self.stream_checkpoints_impl(mapping)
    }

    fn put_stream_checkpoint(&self, cp: &StreamCheckpoint) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO stream_checkpoints (mapping, shard, sequence, ended) VALUES ($1, $2, $3, $4)
             ON CONFLICT (mapping, shard) DO UPDATE SET sequence = excluded.sequence, ended = excluded.ended",
            &[&cp.mapping, &cp.shard, &cp.sequence, &cp.ended],
        )?;
        Ok(())
    }

    fn delete_stream_checkpoints(&self, mapping: &str) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM stream_checkpoints WHERE mapping = $1",
            &[&mapping],
        )
    }
}
