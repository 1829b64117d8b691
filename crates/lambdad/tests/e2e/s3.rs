//! The built-in S3 store through aws-sdk-s3 (the Rust SDK), unmodified but
//! for the endpoint and path-style addressing: buckets, objects with the
//! SDK's default checksums, ranges, multipart uploads, listing with the
//! paginator, batch deletes, and S3's errors as the SDK's typed errors.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use crate::common::TestServer;

async fn s3(server: &TestServer) -> Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .load()
        .await;
    let conf = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn the_rust_sdk_works_unmodified() {
    let server = TestServer::start().await;
    let s3 = s3(&server).await;
    s3.create_bucket().bucket("rusty").send().await.unwrap();
    let names: Vec<_> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["rusty"]);

    // A small object with metadata; the SDK's default checksum is checked on the way back.
    let put = s3
        .put_object()
        .bucket("rusty")
        .key("dir/hello.txt")
        .content_type("text/plain")
        .metadata("owner", "crab")
        .body(ByteStream::from_static(b"hello from the Rust SDK"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("rusty")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), put.e_tag());
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("crab")
    );
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"hello from the Rust SDK");
    let part = s3
        .get_object()
        .bucket("rusty")
        .key("dir/hello.txt")
        .range("bytes=6-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 6-9/23"));
    assert_eq!(
        &part.body.collect().await.unwrap().into_bytes()[..],
        b"from"
    );

    // A multipart upload of two parts (5 MiB, the minimum, and a tail).
    let parts: [Vec<u8>; 2] = [vec![b'a'; 5 << 20], vec![b'b'; 1000]];
    let upload = s3
        .create_multipart_upload()
        .bucket("rusty")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = s3
            .upload_part()
            .bucket("rusty")
            .key("big.bin")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_owned))
                .build(),
        );
    }
    let complete = s3
        .complete_multipart_upload()
        .bucket("rusty")
        .key("big.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(complete.e_tag().unwrap().ends_with("-2\""), "{complete:?}");
    let head = s3
        .head_object()
        .bucket("rusty")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some((5 << 20) + 1000));

    // Listing page by page with the SDK's paginator.
    for i in 0..5 {
        s3.put_object()
            .bucket("rusty")
            .key(format!("many/{i}"))
            .body(ByteStream::from(vec![b'x'; i]))
            .send()
            .await
            .unwrap();
    }
    let pages: Vec<_> = s3
        .list_objects_v2()
        .bucket("rusty")
        .prefix("many/")
        .max_keys(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let keys: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.contents().iter().filter_map(|o| o.key()).collect())
        .collect();
    assert_eq!(
        keys,
        [
            vec!["many/0", "many/1"],
            vec!["many/2", "many/3"],
            vec!["many/4"]
        ]
    );

    // A batch delete, then S3's errors as the SDK's typed errors.
    let objects: Vec<_> = (0..5)
        .map(|i| {
            ObjectIdentifier::builder()
                .key(format!("many/{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let deleted = s3
        .delete_objects()
        .bucket("rusty")
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted().len(), 5);
    let missing = s3
        .get_object()
        .bucket("rusty")
        .key("many/0")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_no_such_key(), "{missing:?}");
    assert_eq!(missing.message(), Some("The specified key does not exist."));
    let no_bucket = s3
        .list_objects_v2()
        .bucket("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_bucket.is_no_such_bucket(), "{no_bucket:?}");
    let not_empty = s3
        .delete_bucket()
        .bucket("rusty")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(not_empty.code(), Some("BucketNotEmpty"));
}
