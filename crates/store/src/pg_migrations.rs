//! The PostgreSQL schema, as an append-only list of migrations (the SQLite
//! schema of `migrations.rs`, ported: `BIGINT` for integers, `BYTEA` for
//! blobs, identity columns for sequences, and `COLLATE "C"` on text so that
//! ordering and comparisons are bytewise, as SQLite's). The `lambdad_schema`
//! table records the migrations applied; they are applied in one transaction
//! holding a transaction-scoped advisory lock, so that nodes starting
//! together migrate once. Never edit one that has shipped.

use tokio_postgres::Transaction;

use crate::StoreError;

/// The advisory lock key of migrations (any fixed number: "lambdad" in ASCII).
const MIGRATION_LOCK: i64 = 0x006c_616d_6264_6164;

/// Applied in order.
pub(crate) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE functions (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        revision_id TEXT NOT NULL,
        code_hex TEXT NOT NULL,
        code_size BIGINT NOT NULL,
        config TEXT NOT NULL,
        tags TEXT NOT NULL,
        layer_code TEXT NOT NULL DEFAULT '[]',
        last_version BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX functions_code ON functions(code_hex);
    CREATE TABLE layers (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        last_version BIGINT NOT NULL
    );
    CREATE TABLE layer_versions (
        name TEXT COLLATE \"C\" NOT NULL,
        version BIGINT NOT NULL,
        code_hex TEXT NOT NULL,
        policy_revision TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE INDEX layer_versions_code ON layer_versions(code_hex);
    CREATE TABLE versions (
        name TEXT COLLATE \"C\" NOT NULL,
        version BIGINT NOT NULL,
        code_hex TEXT NOT NULL,
        layer_code TEXT NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE INDEX versions_code ON versions(code_hex);
    CREATE TABLE aliases (
        name TEXT COLLATE \"C\" NOT NULL,
        alias TEXT COLLATE \"C\" NOT NULL,
        revision_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, alias)
    );
    CREATE TABLE concurrency (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        reserved BIGINT NOT NULL
    );
    CREATE TABLE provisioned (
        name TEXT COLLATE \"C\" NOT NULL,
        qualifier TEXT COLLATE \"C\" NOT NULL,
        requested BIGINT NOT NULL,
        last_modified TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE async_events (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        qualifier TEXT,
        payload BYTEA NOT NULL,
        received_ms BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        not_before_ms BIGINT NOT NULL,
        leased_until_ms BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX async_events_due ON async_events(not_before_ms);
    CREATE TABLE event_invoke_configs (
        name TEXT COLLATE \"C\" NOT NULL,
        qualifier TEXT COLLATE \"C\" NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE url_configs (
        name TEXT COLLATE \"C\" NOT NULL,
        qualifier TEXT COLLATE \"C\" NOT NULL,
        url_id TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE policies (
        name TEXT COLLATE \"C\" NOT NULL,
        qualifier TEXT COLLATE \"C\" NOT NULL,
        revision_id TEXT NOT NULL,
        statements TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE docs (
        kind TEXT COLLATE \"C\" NOT NULL,
        key TEXT COLLATE \"C\" NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE gateway_apis (
        api_id TEXT COLLATE \"C\" PRIMARY KEY,
        revision TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE buckets (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        region TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        notification TEXT
    );
    CREATE TABLE objects (
        bucket TEXT COLLATE \"C\" NOT NULL,
        key TEXT COLLATE \"C\" NOT NULL,
        blob TEXT NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        modified_ms BIGINT NOT NULL,
        meta TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    );
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        bucket TEXT COLLATE \"C\" NOT NULL,
        key TEXT COLLATE \"C\" NOT NULL,
        created_ms BIGINT NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE INDEX uploads_bucket ON uploads(bucket, key);
    CREATE TABLE parts (
        upload_id TEXT NOT NULL,
        number BIGINT NOT NULL,
        blob TEXT NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        modified_ms BIGINT NOT NULL,
        PRIMARY KEY (upload_id, number)
    );
    CREATE TABLE stream_checkpoints (
        mapping TEXT COLLATE \"C\" NOT NULL,
        shard TEXT COLLATE \"C\" NOT NULL,
        sequence TEXT,
        ended BOOLEAN NOT NULL,
        PRIMARY KEY (mapping, shard)
    );
    CREATE TABLE sqs_queues (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        region TEXT NOT NULL,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        modified_ms BIGINT NOT NULL
    );
    CREATE TABLE sqs_messages (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue TEXT COLLATE \"C\" NOT NULL,
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        meta TEXT NOT NULL,
        grp TEXT,
        dedup TEXT,
        sent_ms BIGINT NOT NULL,
        visible_ms BIGINT NOT NULL,
        receive_count BIGINT NOT NULL,
        first_receive_ms BIGINT,
        receipt TEXT,
        UNIQUE (queue, id)
    );
    CREATE INDEX sqs_messages_visible ON sqs_messages(queue, visible_ms);
    CREATE TABLE sqs_dedup (
        queue TEXT COLLATE \"C\" NOT NULL,
        dedup TEXT NOT NULL,
        id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sent_ms BIGINT NOT NULL,
        PRIMARY KEY (queue, dedup)
    );
    CREATE TABLE sns_topics (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        region TEXT NOT NULL,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE sns_subscriptions (
        arn TEXT COLLATE \"C\" PRIMARY KEY,
        topic TEXT COLLATE \"C\" NOT NULL,
        protocol TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        attributes TEXT NOT NULL,
        token TEXT,
        created_ms BIGINT NOT NULL
    );
    CREATE INDEX sns_subscriptions_topic ON sns_subscriptions(topic);
    CREATE TABLE sns_deliveries (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subscription TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        due_ms BIGINT NOT NULL
    );
    CREATE INDEX sns_deliveries_due ON sns_deliveries(due_ms);
    CREATE TABLE sns_dedup (
        topic TEXT COLLATE \"C\" NOT NULL,
        dedup TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sequence TEXT NOT NULL,
        sent_ms BIGINT NOT NULL,
        PRIMARY KEY (topic, dedup)
    );
",
    CLUSTER_MIGRATION,
];

/// Creates `schema` if given and absent, then applies the migrations not
/// yet applied, in `tx`, under the migration lock.
pub(crate) async fn migrate(tx: &Transaction<'_>, schema: Option<&str>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    if let Some(s) = schema {
        // The name was checked (lowercase letters, digits, `_`).
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
            .await?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS lambdad_schema (
            version BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let applied: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM lambdad_schema", &[])
        .await?
        .try_get(0)?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(StoreError::Unavailable(format!(
            "the database's schema is at version {applied}, newer than this lambdad's ({known})"
        )));
    }
    for (version, sql) in (1i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO lambdad_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    Ok(())
}

/// The schema of cluster mode (migration 2). Tables are named `cluster_*`
/// (`lambdad store export|import` copies none of them).
const CLUSTER_MIGRATION: &str = "
    CREATE TABLE cluster_code_blobs (
        hex TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        chunks BIGINT NOT NULL,
        touched_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE cluster_code_chunks (
        hex TEXT NOT NULL REFERENCES cluster_code_blobs(hex) ON DELETE CASCADE,
        idx BIGINT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (hex, idx)
    );
    CREATE TABLE cluster_nodes (
        node_id TEXT PRIMARY KEY,
        incarnation BIGINT NOT NULL,
        api_addr TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        applied_seq BIGINT NOT NULL DEFAULT 0,
        load TEXT NOT NULL DEFAULT '{}'
    );
    CREATE SEQUENCE cluster_change_seq;
    CREATE TABLE cluster_changes (
        seq BIGINT PRIMARY KEY,
        function TEXT COLLATE \"C\" NOT NULL,
        source TEXT NOT NULL,
        op TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX cluster_changes_function ON cluster_changes(function, seq);
    CREATE FUNCTION cluster_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        f TEXT;
        s BIGINT;
    BEGIN
        IF TG_OP = 'UPDATE' AND to_jsonb(OLD) - 'last_version' = to_jsonb(NEW) - 'last_version' THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'DELETE' THEN f := OLD.name; ELSE f := NEW.name; END IF;
        PERFORM pg_advisory_xact_lock(7813586321355301990);
        s := nextval('cluster_change_seq');
        INSERT INTO cluster_changes (seq, function, source, op) VALUES (s, f, TG_TABLE_NAME, TG_OP);
        PERFORM pg_notify('lambdad_changes', s::TEXT);
        RETURN NULL;
    END $$;
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON functions
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON versions
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON aliases
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON concurrency
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON provisioned
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON event_invoke_configs
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON url_configs
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
    CREATE TRIGGER cluster_change AFTER INSERT OR UPDATE OR DELETE ON policies
        FOR EACH ROW EXECUTE FUNCTION cluster_record_change();
";
