//! The functions API through aws-sdk-lambda: lifecycle, defaults, states,
//! pagination, tags, code download, restart durability and hostile archives.

use std::collections::HashMap;

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, State};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::common::{TestServer, create_function, files_under, tiny_zip, zip_files};

#[tokio::test]
async fn lifecycle_defaults_and_states() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    let zip = tiny_zip();
    let created = create_function(&lambda, "life", zip.clone()).await;
    assert_eq!(created.state(), Some(&State::Pending));
    assert_eq!(
        created.state_reason_code().map(|c| c.as_str()),
        Some("Creating")
    );
    assert_eq!(created.timeout(), Some(3));
    assert_eq!(created.memory_size(), Some(128));
    assert_eq!(created.ephemeral_storage().unwrap().size(), 512);
    assert_eq!(created.architectures()[0].as_str(), "x86_64");
    assert_eq!(created.version(), Some("$LATEST"));
    assert_eq!(
        created.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:life")
    );
    let logging = created.logging_config().unwrap();
    assert_eq!(logging.log_format().unwrap().as_str(), "Text");
    assert_eq!(logging.log_group(), Some("/aws/lambda/life"));
    let expected_sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    assert_eq!(created.code_sha256(), Some(expected_sha.as_str()));
    assert_eq!(created.code_size(), zip.len() as i64);

    lambda
        .wait_until_function_active_v2()
        .function_name("life")
        .wait(std::time::Duration::from_secs(30))
        .await
        .expect("function becomes Active");

    let got = lambda
        .get_function()
        .function_name("life")
        .send()
        .await
        .unwrap();
    let conf = got.configuration().unwrap();
    assert_eq!(conf.state(), Some(&State::Active));
    assert_eq!(
        conf.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );
    let location = got.code().unwrap().location().unwrap();
    let downloaded = reqwest::get(location).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        downloaded.as_ref(),
        zip.as_slice(),
        "Code.Location serves the exact zip"
    );

    let rev1 = conf.revision_id().unwrap().to_owned();
    let updated = lambda
        .update_function_configuration()
        .function_name("life")
        .memory_size(256)
        .timeout(30)
        .description("d")
        .environment(Environment::builder().variables("APP_MODE", "1").build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.last_update_status().map(|s| s.as_str()),
        Some("InProgress")
    );
    assert_ne!(updated.revision_id(), Some(rev1.as_str()));
    lambda
        .wait_until_function_updated_v2()
        .function_name("life")
        .wait(std::time::Duration::from_secs(30))
        .await
        .expect("update completes");
    let conf = lambda
        .get_function_configuration()
        .function_name("life")
        .send()
        .await
        .unwrap();
    assert_eq!(conf.memory_size(), Some(256));
    assert_eq!(conf.timeout(), Some(30));
    assert_eq!(
        conf.environment().unwrap().variables().unwrap()["APP_MODE"],
        "1"
    );

    let stale = lambda
        .update_function_configuration()
        .function_name("life")
        .revision_id(rev1)
        .timeout(5)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(stale.is_precondition_failed_exception(), "{stale:?}");

    let zip2 = zip_files(&[("bootstrap", b"#!/bin/sh\necho v2\n", 0o755)]);
    let after = lambda
        .update_function_code()
        .function_name("life")
        .zip_file(Blob::new(zip2.clone()))
        .send()
        .await
        .unwrap();
    let sha2 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip2));
    assert_eq!(after.code_sha256(), Some(sha2.as_str()));

    let deleted = lambda
        .delete_function()
        .function_name("life")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status_code(), 204);
    let gone = lambda
        .get_function()
        .function_name("life")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found_exception());
    // The archives of deleted functions are collected.
    assert!(
        !files_under(&server.data_dir().join("code"))
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".zip"))
    );
}

#[tokio::test]
async fn list_paginates_without_trailing_marker() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    for i in 0..7 {
        create_function(&lambda, &format!("page-{i}"), tiny_zip()).await;
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = lambda
            .list_functions()
            .max_items(3)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(
            page.functions().iter().all(|f| f.state().is_none()),
            "list items carry no state"
        );
        names.extend(
            page.functions()
                .iter()
                .map(|f| f.function_name().unwrap().to_owned()),
        );
        match page.next_marker() {
            Some(m) => marker = Some(m.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7).map(|i| format!("page-{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn tags_and_account_settings() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    let created = create_function(&lambda, "tagged", tiny_zip()).await;
    let arn = created.function_arn().unwrap();
    lambda
        .tag_resource()
        .resource(arn)
        .tags("team", "core")
        .tags("env", "dev")
        .send()
        .await
        .unwrap();
    lambda
        .untag_resource()
        .resource(arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = lambda.list_tags().resource(arn).send().await.unwrap();
    assert_eq!(
        tags.tags().unwrap(),
        &HashMap::from([("team".to_owned(), "core".to_owned())])
    );
    let got = lambda
        .get_function()
        .function_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tags().unwrap()["team"], "core");
    let settings = lambda.get_account_settings().send().await.unwrap();
    let usage = settings.account_usage().unwrap();
    assert_eq!(usage.function_count(), 1);
    assert_eq!(usage.total_code_size(), created.code_size());
    assert_eq!(
        settings.account_limit().unwrap().code_size_zipped(),
        52_428_800
    );
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let mut server = TestServer::start().await;
    let lambda = server.lambda().await;
    let zip_a = tiny_zip();
    let zip_b = zip_files(&[
        ("bootstrap", b"#!/bin/sh\necho b\n", 0o755),
        ("data/x.txt", b"x", 0o644),
    ]);
    let a = create_function(&lambda, "keep-a", zip_a.clone()).await;
    let b = create_function(&lambda, "keep-b", zip_b.clone()).await;
    lambda
        .tag_resource()
        .resource(a.function_arn().unwrap())
        .tags("k", "v")
        .send()
        .await
        .unwrap();
    let before = lambda
        .get_function_configuration()
        .function_name("keep-a")
        .send()
        .await
        .unwrap();
    lambda
        .put_function_concurrency()
        .function_name("keep-b")
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();

    server.restart().await;

    let lambda = server.lambda().await;
    let after = lambda
        .get_function_configuration()
        .function_name("keep-a")
        .send()
        .await
        .unwrap();
    assert_eq!(after.revision_id(), before.revision_id());
    assert_eq!(after.code_sha256(), a.code_sha256());
    let tags = lambda
        .list_tags()
        .resource(a.function_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap()["k"], "v");
    for (name, zip, out) in [("keep-a", &zip_a, &a), ("keep-b", &zip_b, &b)] {
        let got = lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.configuration().unwrap().code_sha256(),
            out.code_sha256()
        );
        let bytes = reqwest::get(got.code().unwrap().location().unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.as_ref(), zip.as_slice());
    }
    let listed = lambda.list_functions().send().await.unwrap();
    assert_eq!(listed.functions().len(), 2);
    let reserved = lambda
        .get_function_concurrency()
        .function_name("keep-b")
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.reserved_concurrent_executions(), Some(7));
    let settings = lambda.get_account_settings().send().await.unwrap();
    assert_eq!(
        settings
            .account_limit()
            .unwrap()
            .unreserved_concurrent_executions(),
        Some(993)
    );
}

#[tokio::test]
async fn hostile_archives_are_refused_and_write_nothing() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "baseline", tiny_zip()).await;
    let before = files_under(&server.data_dir());
    let outside = server.data_dir().parent().unwrap().to_path_buf();
    let outside_before = files_under(&outside);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "slip-dotdot",
            zip_files(&[("ok.txt", b"1", 0o644), ("../../evil.txt", b"pwned", 0o644)]),
            "would be extracted outside the code directory",
        ),
        (
            "slip-abs",
            zip_files(&[("/tmp/lambdad-evil.txt", b"pwned", 0o644)]),
            "would be extracted outside the code directory",
        ),
        (
            "slip-link",
            zip_link("escape", "../../../../etc"),
            "would be extracted outside the code directory",
        ),
        (
            "bomb",
            zip_bomb(),
            "Unzipped size must be smaller than 262144000 bytes",
        ),
    ];
    for (name, zip, message) in cases {
        let err = lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(crate::common::ROLE)
            .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(
            err.is_invalid_parameter_value_exception(),
            "{name}: {err:?}"
        );
        assert!(
            err.meta().message().unwrap().contains(message),
            "{name}: {:?}",
            err.meta().message()
        );
    }
    assert_eq!(
        files_under(&server.data_dir())
            .into_iter()
            .filter(|p| !p.starts_with("meta.db-wal") && !p.starts_with("meta.db-shm"))
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .filter(|p| !p.starts_with("meta.db-wal") && !p.starts_with("meta.db-shm"))
            .collect::<Vec<_>>(),
        "nothing new in the data dir"
    );
    assert_eq!(
        files_under(&outside),
        outside_before,
        "nothing written next to the data dir"
    );
    assert!(!std::path::Path::new("/tmp/lambdad-evil.txt").exists());
    let listed = lambda.list_functions().send().await.unwrap();
    assert_eq!(listed.functions().len(), 1);
}

fn zip_link(name: &str, target: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.add_symlink(name, target, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.start_file(
        format!("{name}/passwd"),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(b"x").unwrap();
    w.finish().unwrap().into_inner()
}

/// 300 MB of zeros compressed to a few hundred KB.
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("zeros.bin", opts).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..300 {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap().into_inner()
}
