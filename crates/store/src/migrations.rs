//! The SQLite schema, as an append-only list of migrations: the database's
//! `user_version` counts those applied. Never edit one that has shipped.

/// Applied in order, each in its own transaction.
pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE functions (
        name TEXT PRIMARY KEY,
        revision_id TEXT NOT NULL,
        code_hex TEXT NOT NULL,
        code_size INTEGER NOT NULL,
        config TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX functions_code ON functions(code_hex);",
    "ALTER TABLE functions ADD COLUMN layer_code TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE layers (
        name TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL
    );
    CREATE TABLE layer_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        code_hex TEXT NOT NULL,
        policy_revision TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE INDEX layer_versions_code ON layer_versions(code_hex);",
    "ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        code_hex TEXT NOT NULL,
        layer_code TEXT NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE INDEX versions_code ON versions(code_hex);
    CREATE TABLE aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        revision_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, alias)
    );",
    "CREATE TABLE concurrency (
        name TEXT PRIMARY KEY,
        reserved INTEGER NOT NULL
    );",
    "CREATE TABLE provisioned (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        requested INTEGER NOT NULL,
        last_modified TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );",
    "CREATE TABLE async_events (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        qualifier TEXT,
        payload BLOB NOT NULL,
        received_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before_ms INTEGER NOT NULL,
        leased_until_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX async_events_due ON async_events(not_before_ms);
    CREATE TABLE event_invoke_configs (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );",
    "CREATE TABLE url_configs (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        url_id TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE policies (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        revision_id TEXT NOT NULL,
        statements TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );",
    "CREATE TABLE docs (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );",
    "CREATE TABLE gateway_apis (
        api_id TEXT PRIMARY KEY,
        revision TEXT NOT NULL,
        body TEXT NOT NULL
    );",
    "CREATE TABLE buckets (
        name TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        notification TEXT
    );
    CREATE TABLE objects (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified_ms INTEGER NOT NULL,
        meta TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    );
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE INDEX uploads_bucket ON uploads(bucket, key);
    CREATE TABLE parts (
        upload_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified_ms INTEGER NOT NULL,
        PRIMARY KEY (upload_id, number)
    );",
    "CREATE TABLE stream_checkpoints (
        mapping TEXT NOT NULL,
        shard TEXT NOT NULL,
        sequence TEXT,
        ended INTEGER NOT NULL,
        PRIMARY KEY (mapping, shard)
    );",
    "CREATE TABLE sqs_queues (
        name TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL
    );
    CREATE TABLE sqs_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        meta TEXT NOT NULL,
        grp TEXT,
        dedup TEXT,
        sent_ms INTEGER NOT NULL,
        visible_ms INTEGER NOT NULL,
        receive_count INTEGER NOT NULL,
        first_receive_ms INTEGER,
        receipt TEXT,
        UNIQUE (queue, id)
    );
    CREATE INDEX sqs_messages_visible ON sqs_messages(queue, visible_ms);
    CREATE TABLE sqs_dedup (
        queue TEXT NOT NULL,
        dedup TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sent_ms INTEGER NOT NULL,
        PRIMARY KEY (queue, dedup)
    );",
    "CREATE TABLE sns_topics (
        name TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE sns_subscriptions (
        arn TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        protocol TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        attributes TEXT NOT NULL,
        token TEXT,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX sns_subscriptions_topic ON sns_subscriptions(topic);
    CREATE TABLE sns_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        due_ms INTEGER NOT NULL
    );
    CREATE INDEX sns_deliveries_due ON sns_deliveries(due_ms);",
    "CREATE TABLE sns_dedup (
        topic TEXT NOT NULL,
        dedup TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sequence TEXT NOT NULL,
        sent_ms INTEGER NOT NULL,
        PRIMARY KEY (topic, dedup)
    );",
];
