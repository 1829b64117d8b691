//! Multipart uploads (parts are files of their own until completion
//! concatenates them; the object's ETag is S3's `MD5-OF-MD5S-N`).

use lambdad_store::objects::{ObjectRecord, ObjectWrite, PartRecord, UploadRecord};
use s3s::crypto::Checksum as _;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::files::MAX_PUT;
use crate::meta::{Checksums, Meta};
use crate::request::{Caller, etag, ts, verify_digests, want};
use crate::{Objects, now_ms};

/// The smallest part but the last (5 MiB, as S3).
const MIN_PART: u64 = 5 * 1024 * 1024;

fn no_such_upload() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

fn invalid_part() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidPart,
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    )
}

impl Objects {
    async fn upload(&self, bucket: &str, key: &str, id: &str) -> S3Result<UploadRecord> {
        self.bucket(bucket).await?;
        let i = id.to_owned();
        match self.db(move |s| s.get_upload(&i)).await? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(no_such_upload()),
        }
    }

    pub(crate) async fn create_upload(
        &self,
        input: CreateMultipartUploadInput,
    ) -> S3Result<CreateMultipartUploadOutput> {
        self.bucket(&input.bucket).await?;
        let meta = Meta {
            content_type: input.content_type,
            content_encoding: input.content_encoding,
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            user: input.metadata.unwrap_or_default().into_iter().collect(),
            checksums: Checksums::default(),
            parts: None,
        };
        let record = UploadRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            created_ms: now_ms(),
            meta: meta.to_json(),
        };
        let id = record.id.clone();
        self.db(move |s| s.create_upload(&record)).await?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        })
    }

    pub(crate) async fn upload_part_impl(
        &self,
        input: UploadPartInput,
    ) -> S3Result<UploadPartOutput> {
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        self.upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let claimed = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
            crc64nvme: input.checksum_crc64nvme,
        };
        let body = input.body.ok_or_else(|| {
            s3_error!(IncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header")
        })?;
        let w = self
            .files()
            .write(
                body,
                MAX_PUT,
                want(&claimed, input.checksum_algorithm.as_ref()),
            )
            .await?;
        if let Err(e) = verify_digests(&w.md5, input.content_md5.as_deref(), &w.checksums, &claimed)
        {
            self.files().remove([w.blob]).await;
            return Err(e);
        }
        let tag = hex::encode(w.md5);
        let part = PartRecord {
            upload_id: input.upload_id,
            number: input.part_number as u32,
            blob: w.blob.clone(),
            size: w.size,
            etag: tag.clone(),
            modified_ms: now_ms(),
        };
        match self.db(move |s| s.put_part(&part)).await {
            Ok(ObjectWrite::Written { replaced }) => self.files().remove(replaced).await,
            Ok(ObjectWrite::Missing) => {
                self.files().remove([w.blob]).await;
                return Err(no_such_upload());
            }
            Err(e) => {
                self.files().remove([w.blob]).await;
                return Err(e);
            }
        }
        let c = w.checksums;
        Ok(UploadPartOutput {
            e_tag: Some(etag(&tag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        })
    }

    pub(crate) async fn complete_upload(
        &self,
        input: CompleteMultipartUploadInput,
        who: &Caller,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let upload = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let bucket = self.bucket(&input.bucket).await?;
        let id = upload.id.clone();
        let stored = self.db(move |s| s.list_parts(&id)).await?;
        let asked = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let mut chosen = Vec::with_capacity(asked.len());
        let mut last = 0;
        for p in &asked {
            let n = p.part_number.unwrap_or(0);
            if n <= last {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number.",
                ));
            }
            last = n;
            let Some(found) = stored.iter().find(|s| i64::from(s.number) == i64::from(n)) else {
                return Err(invalid_part());
            };
            if let Some(e) = &p.e_tag
                && e.value().trim_matches('"') != found.etag
            {
                return Err(invalid_part());
            }
            chosen.push(found.clone());
        }
        for p in &chosen[..chosen.len() - 1] {
            if p.size < MIN_PART {
                return Err(S3Error::with_message(
                    S3ErrorCode::EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size",
                ));
            }
        }
        let mut md5s = s3s::crypto::Md5::new();
        for p in &chosen {
            let raw = hex::decode(&p.etag).map_err(|_| invalid_part())?;
            md5s.update(&raw);
        }
        let tag = format!("{}-{}", hex::encode(md5s.finalize()), chosen.len());
        let blobs: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
        let (blob, size) = self.files().concat(&blobs).await?;
        let mut meta = Meta::parse(&upload.meta);
        meta.parts = Some(chosen.len() as u32);
        let events = self.events_for(
            &bucket,
            "ObjectCreated:CompleteMultipartUpload",
            &input.key,
            Some((size, &tag)),
            who,
        );
        let record = ObjectRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob: blob.clone(),
            size,
            etag: tag.clone(),
            modified_ms: now_ms(),
            meta: meta.to_json(),
        };
        let id = upload.id.clone();
        match self
            .db(move |s| s.complete_upload(&id, &record, &events))
            .await
        {
            Ok(ObjectWrite::Written { replaced }) => self.files().remove(replaced).await,
            Ok(ObjectWrite::Missing) => {
                self.files().remove([blob]).await;
                return Err(no_such_upload());
            }
            Err(e) => {
                self.files().remove([blob]).await;
                return Err(e);
            }
        }
        self.files()
            .remove(stored.into_iter().map(|p| p.blob))
            .await;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&tag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        })
    }

    pub(crate) async fn abort_upload(
        &self,
        input: AbortMultipartUploadInput,
    ) -> S3Result<AbortMultipartUploadOutput> {
        self.upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let id = input.upload_id.clone();
        let parts = self
            .db(move |s| s.delete_upload(&id))
            .await?
            .ok_or_else(no_such_upload)?;
        self.files().remove(parts.into_iter().map(|p| p.blob)).await;
        Ok(AbortMultipartUploadOutput::default())
    }

    pub(crate) async fn list_parts_impl(&self, input: ListPartsInput) -> S3Result<ListPartsOutput> {
        self.upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let id = input.upload_id.clone();
        let marker = input
            .part_number_marker
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let all: Vec<PartRecord> = self
            .db(move |s| s.list_parts(&id))
            .await?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = all.len() > max;
        let parts: Vec<PartRecord> = all.into_iter().take(max).collect();
        let next = parts.last().map(|p| p.number as i32);
        Ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            next_part_number_marker: next,
            part_number_marker: input.part_number_marker,
            owner: Some(self.owner()),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| Part {
                        e_tag: Some(etag(&p.etag)),
                        last_modified: Some(ts(p.modified_ms)),
                        part_number: Some(p.number as i32),
                        size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        })
    }

    pub(crate) async fn list_uploads_impl(
        &self,
        input: ListMultipartUploadsInput,
    ) -> S3Result<ListMultipartUploadsOutput> {
        self.bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self.db(move |s| s.list_uploads(&b)).await?;
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            is_truncated: Some(false),
            max_uploads: Some(1000),
            prefix: input.prefix,
            uploads: Some(
                uploads
                    .into_iter()
                    .filter(|u| u.key.starts_with(&prefix))
                    .map(|u| MultipartUpload {
                        initiated: Some(ts(u.created_ms)),
                        key: Some(u.key),
                        upload_id: Some(u.id),
                        owner: Some(self.owner()),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        })
    }
}
