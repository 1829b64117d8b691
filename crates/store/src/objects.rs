//! The metadata of the built-in object store (`lambdad-objects`): buckets,
//! objects, multipart uploads and their parts. The bytes live in files the
//! objects crate owns; a record names its file by `blob` id.
//!
//! Writing an object's record and queueing its notification events
//! (`async_events` rows) is one transaction, so an acknowledged PUT always
//! produces its events.

use crate::{AsyncEvent, StoreError};

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecord {
    /// The bucket's name.
    pub name: String,
    /// Its region (`LocationConstraint`, or the default region).
    pub region: String,
    /// When it was created (epoch ms).
    pub created_ms: i64,
    /// Its notification configuration (a JSON document the objects crate owns), if any.
    pub notification: Option<String>,
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The id of the file holding its bytes.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// When it was written (epoch ms).
    pub modified_ms: i64,
    /// The rest (content type, user metadata, checksums: JSON the objects crate owns).
    pub meta: String,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// The upload id.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key the object will have.
    pub key: String,
    /// When it was created (epoch ms).
    pub created_ms: i64,
    /// The object's metadata to be (JSON the objects crate owns).
    pub meta: String,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// The upload id.
    pub upload_id: String,
    /// The part number (1–10000).
    pub number: u32,
    /// The id of the file holding its bytes.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag (the MD5 in hex).
    pub etag: String,
    /// When it was written (epoch ms).
    pub modified_ms: i64,
}

/// What writing an object's record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectWrite {
    /// Written; the blob of the object it replaced, if any (now unreferenced).
    Written {
        /// The replaced object's blob.
        replaced: Option<String>,
    },
    /// The bucket (or, for a multipart completion, the upload) does not exist.
    Missing,
}

/// What deleting a bucket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketDelete {
    /// Deleted.
    Deleted,
    /// No such bucket.
    Missing,
    /// It still holds objects or uploads.
    NotEmpty,
}

/// The object store's metadata operations, part of every [`crate::Store`].
pub trait ObjectStore {
    /// Creates a bucket; `AlreadyExists` when the name is taken.
    fn create_bucket(&self, bucket: &BucketRecord) -> Result<(), StoreError>;
    /// A bucket by name.
    fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError>;
    /// Every bucket, by name.
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError>;
    /// Deletes an empty bucket.
    fn delete_bucket(&self, name: &str) -> Result<BucketDelete, StoreError>;
    /// Sets (or with `None` removes) a bucket's notification configuration; false when no such bucket.
    fn set_bucket_notification(
        &self,
        name: &str,
        notification: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Writes an object's record (replacing one of the same key) and queues
    /// `events`, in one durable transaction.
    fn put_object(
        &self,
        object: &ObjectRecord,
        events: &[AsyncEvent],
    ) -> Result<ObjectWrite, StoreError>;
    /// An object's record.
    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError>;
    /// Deletes an object's record and, if there was one, queues `events` in
    /// the same transaction; the deleted record.
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events: &[AsyncEvent],
    ) -> Result<Option<ObjectRecord>, StoreError>;
    /// Up to `limit` objects of a bucket whose keys start with `prefix` and
    /// sort (bytewise) after `after`, in key order.
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StoreError>;
    /// Starts a multipart upload.
    fn create_upload(&self, upload: &UploadRecord) -> Result<(), StoreError>;
    /// A multipart upload.
    fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError>;
    /// The multipart uploads of a bucket, by key then creation.
    fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadRecord>, StoreError>;
    /// Records a part (replacing one of the same number): the replaced
    /// part's blob; `Missing` when the upload does not exist.
    fn put_part(&self, part: &PartRecord) -> Result<ObjectWrite, StoreError>;
    /// The parts of an upload, by number.
    fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, StoreError>;
    /// Completes an upload: writes the object's record, removes the upload
    /// and its parts' records and queues `events`, in one transaction.
    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        events: &[AsyncEvent],
    ) -> Result<ObjectWrite, StoreError>;
    /// Removes an upload and its parts' records: the parts removed (None when no such upload).
    fn delete_upload(&self, upload_id: &str) -> Result<Option<Vec<PartRecord>>, StoreError>;
    /// Every blob an object or a part names (to remove files a crash left unreferenced).
    fn blobs_in_use(&self) -> Result<std::collections::HashSet<String>, StoreError>;
}
