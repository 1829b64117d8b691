//! Synchronous Invoke of real `lambda_runtime` functions in real sandboxes,
//! through aws-sdk-lambda.

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, InvocationType};
use serde_json::json;

use crate::common::{TestServer, create_function, fixture_zip, invoke};

#[tokio::test]
async fn echo_error_panic_and_logs() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "behave", fixture_zip("behave")).await;

    let r = invoke(&lambda, "behave", json!({"op": "echo", "n": [1, 2, 3]})).await;
    assert_eq!((r.status, r.function_error.as_deref()), (200, None));
    assert_eq!(r.json, json!({"op": "echo", "n": [1, 2, 3]}));
    assert_eq!(r.executed_version.as_deref(), Some("$LATEST"));
    assert!(r.log.starts_with("START RequestId: "), "{}", r.log);
    assert!(r.log.contains("\nEND RequestId: "), "{}", r.log);
    let report = r
        .log
        .lines()
        .find(|l| l.starts_with("REPORT RequestId: "))
        .expect("REPORT line");
    for field in [
        "\tDuration: ",
        " ms\tBilled Duration: ",
        "\tMemory Size: 128 MB\tMax Memory Used: ",
        "\tInit Duration: ",
    ] {
        assert!(report.contains(field), "{report}");
    }

    let r = invoke(
        &lambda,
        "behave",
        json!({"op": "print", "text": "hello from the function"}),
    )
    .await;
    assert!(r.log.contains("\nhello from the function\n"), "{}", r.log);
    assert!(
        r.log.contains("\nstderr: hello from the function\n"),
        "{}",
        r.log
    );
    let report = r.log.lines().find(|l| l.starts_with("REPORT")).unwrap();
    assert!(
        !report.contains("Init Duration"),
        "a warm invoke has no init: {report}"
    );

    let r = invoke(
        &lambda,
        "behave",
        json!({"op": "error", "message": "bad input"}),
    )
    .await;
    assert_eq!(
        (r.status, r.function_error.as_deref()),
        (200, Some("Unhandled"))
    );
    assert_eq!(
        r.json["errorMessage"], "handled failure: bad input",
        "{}",
        r.json
    );
    assert!(r.json["errorType"].is_string(), "{}", r.json);

    let r = invoke(&lambda, "behave", json!({"op": "panic"})).await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert!(
        r.json.to_string().contains("the handler panicked"),
        "{}",
        r.json
    );

    // The environment survived handled errors and panics: still warm.
    let r = invoke(&lambda, "behave", json!({"op": "counter"})).await;
    assert_eq!(r.json["count"], 1);
}

#[tokio::test]
async fn request_ids_context_and_environment() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "ctx", fixture_zip("behave")).await;
    lambda
        .update_function_configuration()
        .function_name("ctx")
        .environment(Environment::builder().variables("MY_SETTING", "on").build())
        .memory_size(256)
        .send()
        .await
        .unwrap();
    let out = lambda
        .invoke()
        .function_name("ctx")
        .payload(Blob::new(br#"{"op":"env"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let request_id = out.request_id().map(str::to_owned);
    let v: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        v["request_id"].as_str(),
        request_id.as_deref(),
        "x-amzn-RequestId is the id the function sees"
    );
    assert_eq!(
        v["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:ctx"
    );
    assert_eq!(v["cwd"], "/var/task");
    let env = &v["env"];
    assert_eq!(env["MY_SETTING"], "on");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "ctx");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/ctx");
    assert_eq!(env["LAMBDA_TASK_ROOT"], "/var/task");
    assert_eq!(env["LAMBDA_RUNTIME_DIR"], "/var/runtime");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let stream = env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().unwrap();
    let (date, rest) = stream.split_at(11);
    assert_eq!(date.len(), 11, "{stream}");
    assert!(
        rest.starts_with("[$LATEST]") && rest.len() == 9 + 32,
        "{stream}"
    );
    assert!(
        env.get("AWS_EXECUTION_ENV").is_none(),
        "absent for custom runtimes"
    );
    // The log stream is kept on disk under the data dir.
    let file = server
        .data_dir()
        .join("logs/aws/lambda/ctx")
        .join(format!("{stream}.log"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("START RequestId: {}", request_id.unwrap())),
        "{text}"
    );
}

#[tokio::test]
async fn warm_reuse_keeps_globals_and_tmp() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "warm", fixture_zip("behave")).await;
    let mut env_ids = Vec::new();
    for expected in 1..=3 {
        let r = invoke(&lambda, "warm", json!({"op": "counter"})).await;
        assert_eq!(r.json["count"], expected, "{}", r.json);
        assert_eq!(r.json["tmp_lines"], expected, "{}", r.json);
        env_ids.push(r.json["env_id"].clone());
    }
    assert!(
        env_ids.windows(2).all(|w| w[0] == w[1]),
        "one environment served all: {env_ids:?}"
    );
    // A configuration change retires the environment: the next invoke is a cold start.
    lambda
        .update_function_configuration()
        .function_name("warm")
        .timeout(10)
        .send()
        .await
        .unwrap();
    let r = invoke(&lambda, "warm", json!({"op": "counter"})).await;
    assert_eq!(r.json["count"], 1, "{}", r.json);
    assert!(r.log.contains("Init Duration"), "{}", r.log);
}

#[tokio::test]
async fn timeout_crash_and_init_failure() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "slow", fixture_zip("behave")).await;
    lambda
        .update_function_configuration()
        .function_name("slow")
        .timeout(1)
        .send()
        .await
        .unwrap();
    let out = lambda
        .invoke()
        .function_name("slow")
        .payload(Blob::new(br#"{"op":"sleep","ms":3000}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let id = out.request_id().unwrap().to_owned();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let v: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        v,
        json!({"errorType": "Sandbox.Timedout", "errorMessage": format!("RequestId: {id} Error: Task timed out after 1.00 seconds")})
    );
    // The environment was replaced and works.
    let r = invoke(&lambda, "slow", json!({"op": "echo"})).await;
    assert_eq!(r.function_error, None);
    assert!(r.log.contains("Init Duration"), "{}", r.log);

    let r = invoke(&lambda, "slow", json!({"op": "exit", "code": 7})).await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(r.json["errorType"], "Runtime.ExitError");
    assert!(
        r.json["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Error: Runtime exited with error: exit status 7"),
        "{}",
        r.json
    );

    create_function(&lambda, "badinit", fixture_zip("behave")).await;
    lambda
        .update_function_configuration()
        .function_name("badinit")
        .environment(Environment::builder().variables("FAIL_INIT", "1").build())
        .send()
        .await
        .unwrap();
    let r = invoke(&lambda, "badinit", json!({})).await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(r.json["errorType"], "Runtime.ExitError");
    assert!(
        r.json["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("exit status 3"),
        "{}",
        r.json
    );
    assert!(r.log.contains("init failed on purpose"), "{}", r.log);

    // A runtime that reports its init error through the Runtime API.
    let script = b"#!/bin/sh\ncurl -s -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError' \
        -d '{\"errorMessage\":\"cannot import\",\"errorType\":\"Runtime.ImportModuleError\"}' \
        http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error\nexit 1\n";
    create_function(
        &lambda,
        "initerr",
        crate::common::zip_files(&[("bootstrap", script, 0o755)]),
    )
    .await;
    let r = invoke(&lambda, "initerr", json!({})).await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        r.json,
        json!({"errorMessage": "cannot import", "errorType": "Runtime.ImportModuleError"})
    );
}

#[tokio::test]
async fn payload_limits_dry_run_and_big_responses() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "limits", fixture_zip("behave")).await;
    let big = format!(
        "{{\"op\":\"echo\",\"pad\":\"{}\"}}",
        "x".repeat(7 * 1024 * 1024)
    );
    let err = lambda
        .invoke()
        .function_name("limits")
        .payload(Blob::new(big.into_bytes()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.meta().code(),
        Some("RequestEntityTooLargeException"),
        "{err:?}"
    );
    assert_eq!(
        err.meta().message(),
        Some("Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    );

    let dry = lambda
        .invoke()
        .function_name("limits")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status_code(), 204);

    let r = invoke(
        &lambda,
        "limits",
        json!({"op": "big", "bytes": 5 * 1024 * 1024}),
    )
    .await;
    assert_eq!(r.function_error, None);
    assert_eq!(r.json.as_str().unwrap().len(), 5 * 1024 * 1024);
    let r = invoke(
        &lambda,
        "limits",
        json!({"op": "big", "bytes": 7 * 1024 * 1024}),
    )
    .await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        r.json["errorType"], "Function.ResponseSizeTooLarge",
        "{}",
        r.json
    );

    let missing = lambda
        .invoke()
        .function_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_resource_not_found_exception());
}

#[tokio::test]
async fn parallel_invocations_use_separate_environments() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "par", fixture_zip("behave")).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let lambda = lambda.clone();
        tasks.push(tokio::spawn(async move {
            invoke(&lambda, "par", json!({"op": "sleep", "ms": 1500})).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.function_error, None, "{}", r.json);
        ids.insert(r.json["env_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        ids.len(),
        8,
        "8 concurrent invocations ran in 8 environments"
    );
}
