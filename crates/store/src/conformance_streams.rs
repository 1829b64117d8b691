//! The conformance check of stream checkpoints (listed in
//! the conformance CHECKS list).

use crate::{Store, StreamCheckpoint};

fn cp(mapping: &str, shard: &str, sequence: Option<&str>, ended: bool) -> StreamCheckpoint {
    StreamCheckpoint {
        mapping: mapping.to_owned(),
        shard: shard.to_owned(),
        sequence: sequence.map(str::to_owned),
        ended,
    }
}

/// Checkpoints are kept per mapping and shard, replaced, listed by shard
/// and forgotten per mapping.
pub(crate) fn stream_checkpoints(store: &dyn Store) {
    assert!(store.stream_checkpoints("m1").unwrap().is_empty());
    store
        .put_stream_checkpoint(&cp("m1", "shardId-000000000001", Some("5"), false))
        .unwrap();
    store
        .put_stream_checkpoint(&cp("m1", "shardId-000000000000", None, false))
        .unwrap();
    store
        .put_stream_checkpoint(&cp("m2", "shardId-000000000000", Some("9"), false))
        .unwrap();
    store
        .put_stream_checkpoint(&cp("m1", "shardId-000000000000", Some("12"), true))
        .unwrap();
    assert_eq!(
        store.stream_checkpoints("m1").unwrap(),
        [
            cp("m1", "shardId-000000000000", Some("12"), true),
            cp("m1", "shardId-000000000001", Some("5"), false),
        ]
    );
    assert_eq!(store.delete_stream_checkpoints("m1").unwrap(), 2);
    assert!(store.stream_checkpoints("m1").unwrap().is_empty());
    assert_eq!(
        store.stream_checkpoints("m2").unwrap(),
        [cp("m2", "shardId-000000000000", Some("9"), false)]
    );
}
