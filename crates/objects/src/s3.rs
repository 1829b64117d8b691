//! The `s3s::S3` implementation: buckets and objects (listing in
//! `list.rs`, multipart uploads in `multipart.rs`, what the operations
//! share in `request.rs`).

use lambdad_store::objects::{BucketDelete, BucketRecord, ObjectRecord};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::files::MAX_PUT;
use crate::meta::{Checksums, Meta};
use crate::request::{
    Caller, caller, check_conditions, etag, header_checksums, request_id, ts, validate_bucket_name,
    verify_digests, want,
};
use crate::{NO_SUCH_BUCKET, Objects, now_ms};

#[async_trait::async_trait]
impl S3 for Objects {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let input = req.input;
        validate_bucket_name(&input.bucket)?;
        let region = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|l| l.as_str().to_owned())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| self.config().region.clone());
        let record = BucketRecord {
            name: input.bucket.clone(),
            region,
            created_ms: now_ms(),
            notification: None,
        };
        match self.db(move |s| s.create_bucket(&record)).await {
            // Tags and logging a crash left from a deleted bucket of that name go.
            Ok(()) => {
                self.delete_tagging(&input.bucket).await?;
                self.delete_logging(&input.bucket).await?;
            }
            Err(_) if self.bucket(&input.bucket).await.is_ok() => {
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                ));
            }
            Err(e) => return Err(e),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.db(|s| s.list_buckets()).await?;
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        bucket_region: Some(b.region),
                        creation_date: Some(ts(b.created_ms)),
                        name: Some(b.name),
                    })
                    .collect(),
            ),
            owner: Some(self.owner()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = req.input.bucket.clone();
        match self.db(move |s| s.delete_bucket(&name)).await? {
            BucketDelete::Deleted => {
                self.delete_tagging(&req.input.bucket).await?;
                self.delete_logging(&req.input.bucket).await?;
                Ok(S3Response::new(DeleteBucketOutput {}))
            }
            BucketDelete::Missing => Err(S3Error::with_message(
                S3ErrorCode::NoSuchBucket,
                NO_SUCH_BUCKET,
            )),
            BucketDelete::NotEmpty => Err(S3Error::with_message(
                S3ErrorCode::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            )),
        }
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.bucket(&req.input.bucket).await?;
        // us-east-1 is reported as an empty LocationConstraint, as S3 does.
        let location = (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: location,
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let who = caller(&req);
        let input = req.input;
        let bucket = self.bucket(&input.bucket).await?;
        if input.content_length.is_some_and(|l| l as u64 > MAX_PUT) {
            return Err(S3Error::with_message(
                S3ErrorCode::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        let claimed = header_checksums(
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        );
        let body = input.body.unwrap_or_else(|| {
            StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        });
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
        let meta = Meta {
            content_type: input.content_type,
            content_encoding: input.content_encoding,
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            user: input.metadata.unwrap_or_default().into_iter().collect(),
            checksums: w.checksums.clone(),
            parts: None,
        };
        let tag = hex::encode(w.md5);
        let events = self.events_for(
            &bucket,
            "ObjectCreated:Put",
            &input.key,
            Some((w.size, &tag)),
            &who,
        );
        self.commit(
            ObjectRecord {
                bucket: input.bucket,
                key: input.key,
                blob: w.blob,
                size: w.size,
                etag: tag.clone(),
                modified_ms: now_ms(),
                meta: meta.to_json(),
            },
            events,
        )
        .await?;
        let c = w.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&tag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let o = self.object(&input.bucket, &input.key).await?;
        check_conditions(
            &o,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let (start, end, content_range) = match &input.range {
            None => (0, o.size, None),
            Some(r) => {
                let range = r.check(o.size).map_err(|_| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidRange,
                        "The requested range is not satisfiable",
                    )
                })?;
                let cr = format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    o.size
                );
                (range.start, range.end, Some(cr))
            }
        };
        let body = self.files().read(&o.blob, start, end).await?;
        let meta = Meta::parse(&o.meta);
        let whole = content_range.is_none();
        let c = if whole && input.checksum_mode.is_some() {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        let out = GetObjectOutput {
            body: Some(body),
            accept_ranges: Some("bytes".into()),
            content_length: Some(i64::try_from(end - start).unwrap_or(i64::MAX)),
            content_range,
            content_type: meta.content_type,
            content_encoding: meta.content_encoding,
            content_disposition: meta.content_disposition,
            content_language: meta.content_language,
            cache_control: meta.cache_control,
            e_tag: Some(etag(&o.etag)),
            last_modified: Some(ts(o.modified_ms)),
            metadata: (!meta.user.is_empty()).then(|| meta.user.into_iter().collect()),
            parts_count: meta.parts.map(|p| p as i32),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        };
        Ok(if whole {
            S3Response::new(out)
        } else {
            S3Response::with_status(out, http::StatusCode::PARTIAL_CONTENT)
        })
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let o = self.object(&input.bucket, &input.key).await?;
        check_conditions(
            &o,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let meta = Meta::parse(&o.meta);
        let c = if input.checksum_mode.is_some() {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
            content_type: meta.content_type,
            content_encoding: meta.content_encoding,
            content_disposition: meta.content_disposition,
            content_language: meta.content_language,
            cache_control: meta.cache_control,
            e_tag: Some(etag(&o.etag)),
            last_modified: Some(ts(o.modified_ms)),
            metadata: (!meta.user.is_empty()).then(|| meta.user.into_iter().collect()),
            parts_count: meta.parts.map(|p| p as i32),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let who = caller(&req);
        let bucket = self.bucket(&req.input.bucket).await?;
        self.remove_object(&bucket, &req.input.key, &who).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let who = caller(&req);
        let bucket = self.bucket(&req.input.bucket).await?;
        let quiet = req.input.delete.quiet.unwrap_or(false);
        if req.input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for id in req.input.delete.objects {
            match self.remove_object(&bucket, &id.key, &who).await {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(id.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(id.key),
                    message: e.message().map(str::to_owned),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let who = caller(&req);
        let input = req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        let src = self.object(src_bucket, src_key).await?;
        check_conditions(
            &src,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|e| {
            if *e.code() == S3ErrorCode::NotModified {
                S3Error::with_message(
                    S3ErrorCode::PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold",
                )
            } else {
                e
            }
        })?;
        let bucket = self.bucket(&input.bucket).await?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE");
        if !replace && **src_bucket == *input.bucket && **src_key == *input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut meta = Meta::parse(&src.meta);
        if replace {
            meta = Meta {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                user: input.metadata.unwrap_or_default().into_iter().collect(),
                checksums: meta.checksums,
                parts: meta.parts,
            };
        }
        let blob = self.files().copy(&src.blob).await?;
        let modified = now_ms();
        let events = self.events_for(
            &bucket,
            "ObjectCreated:Copy",
            &input.key,
            Some((src.size, &src.etag)),
            &who,
        );
        self.commit(
            ObjectRecord {
                bucket: input.bucket,
                key: input.key,
                blob,
                size: src.size,
                etag: src.etag.clone(),
                modified_ms: modified,
                meta: meta.to_json(),
            },
            events,
        )
        .await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&src.etag)),
                last_modified: Some(ts(modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_v2(req.input).await.map(S3Response::new)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_v1(req.input).await.map(S3Response::new)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req.input).await.map(S3Response::new)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.upload_part_impl(req.input).await.map(S3Response::new)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let who = caller(&req);
        self.complete_upload(req.input, &who)
            .await
            .map(S3Response::new)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req.input).await.map(S3Response::new)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_parts_impl(req.input).await.map(S3Response::new)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.list_uploads_impl(req.input).await.map(S3Response::new)
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let id = request_id(&req);
        self.put_notification(req.input, id)
            .await
            .map(S3Response::new)
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        self.get_notification(req.input).await.map(S3Response::new)
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.put_tagging(req.input).await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.get_tagging(&req.input.bucket)
            .await
            .map(S3Response::new)
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.bucket(&req.input.bucket).await?;
        self.delete_tagging(&req.input.bucket).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    async fn put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        self.put_logging(req.input).await?;
        Ok(S3Response::new(PutBucketLoggingOutput {}))
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        Ok(S3Response::new(self.get_logging(&req.input.bucket).await?))
    }
}

impl Objects {
    pub(crate) fn owner(&self) -> Owner {
        Owner {
            display_name: Some("lambdad".into()),
            id: Some(self.config().account_id.clone()),
        }
    }

    async fn remove_object(&self, bucket: &BucketRecord, key: &str, who: &Caller) -> S3Result<()> {
        let events = self.events_for(bucket, "ObjectRemoved:Delete", key, None, who);
        let (b, k) = (bucket.name.clone(), key.to_owned());
        if let Some(old) = self.db(move |s| s.delete_object(&b, &k, &events)).await? {
            self.files().remove([old.blob]).await;
        }
        Ok(())
    }
}
