//! Error cases on the wire: status, `x-amzn-ErrorType` and the exact message
//! AWS returns (shared/docs/reference/aws-error-catalog.txt).

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{ROLE, TestServer, tiny_zip};

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    status: u16,
    error_type: &'static str,
    message: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn create_body(name: &str, extra: Value) -> Value {
    let mut body = json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": ROLE,
        "Code": {"ZipFile": b64(&tiny_zip())},
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body
}

fn create(
    what: &'static str,
    name: &str,
    extra: Value,
    status: u16,
    error_type: &'static str,
    message: impl Into<String>,
) -> Case {
    Case {
        what,
        method: "POST",
        path: "/2015-03-31/functions".into(),
        body: Some(create_body(name, extra)),
        status,
        error_type,
        message: message.into(),
    }
}

fn validation(value: &str, member: &str, constraint: &str) -> String {
    format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    )
}

async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> reqwest::Response {
    let mut req = client.request(method.parse().unwrap(), format!("{endpoint}{path}"));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    req.send().await.unwrap()
}

async fn check(client: &reqwest::Client, endpoint: &str, case: &Case, raw: Option<Vec<u8>>) {
    let body = raw.or_else(|| case.body.as_ref().map(|b| serde_json::to_vec(b).unwrap()));
    let resp = send(client, endpoint, case.method, &case.path, body).await;
    let status = resp.status().as_u16();
    let error_type = resp
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(
        resp.headers().contains_key("x-amzn-RequestId"),
        "{}: no request id",
        case.what
    );
    let body: Value = resp.json().await.unwrap();
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert_eq!(
        (status, error_type.as_deref(), message),
        (case.status, Some(case.error_type), case.message.as_str()),
        "{}: body {body}",
        case.what
    );
    assert_eq!(body["Type"], "User", "{}", case.what);
}

#[tokio::test]
async fn error_types_and_messages_match_aws() {
    let server = TestServer::start().await;
    let ep = server.endpoint();
    let client = reqwest::Client::new();
    let arn = |n: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{n}");
    let resp = send(
        &client,
        &ep,
        "POST",
        "/2015-03-31/functions",
        Some(serde_json::to_vec(&create_body("exists", json!({}))).unwrap()),
    )
    .await;
    assert_eq!(resp.status(), 201);
    // The active function's RevisionId (AWS regenerates it after the Pending answer).
    let resp = send(
        &client,
        &ep,
        "GET",
        "/2015-03-31/functions/exists/configuration",
        None,
    )
    .await;
    let existing: Value = resp.json().await.unwrap();
    let revision = existing["RevisionId"].as_str().unwrap().to_owned();

    let long = "a".repeat(65);
    let big_env = "x".repeat(4100);
    let runtimes = lambdad_runtime_list();
    let tags51: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = vec![
        Case { what: "get missing", method: "GET", path: "/2015-03-31/functions/nope".into(), body: None, status: 404, error_type: "ResourceNotFoundException", message: format!("Function not found: {}", arn("nope")) },
        Case { what: "get configuration missing", method: "GET", path: "/2015-03-31/functions/nope/configuration".into(), body: None, status: 404, error_type: "ResourceNotFoundException", message: format!("Function not found: {}", arn("nope")) },
        Case { what: "delete missing", method: "DELETE", path: "/2015-03-31/functions/nope".into(), body: None, status: 404, error_type: "ResourceNotFoundException", message: format!("Function not found: {}", arn("nope")) },
        Case { what: "missing version", method: "GET", path: "/2015-03-31/functions/exists?Qualifier=1221".into(), body: None, status: 404, error_type: "ResourceNotFoundException", message: format!("Function not found: {}:1221", arn("exists")) },
        Case { what: "update config missing", method: "PUT", path: "/2015-03-31/functions/nope/configuration".into(), body: Some(json!({"Timeout": 5})), status: 404, error_type: "ResourceNotFoundException", message: format!("Function not found: {}", arn("nope")) },
        create("duplicate", "exists", json!({}), 409, "ResourceConflictException", "Function already exist: exists"),
        create("name too long", &long, json!({}), 400, "InvalidParameterValueException", validation(&long, "functionName", "Member must have length less than or equal to 64")),
        create("name pattern", "bad name!", json!({}), 400, "ValidationException", validation("bad name!", "functionName", &format!("Member must satisfy regular expression pattern: {}", create_pattern()))),
        create("memory low", "m1", json!({"MemorySize": 127}), 400, "ValidationException", validation("127", "memorySize", "Member must have value greater than or equal to 128")),
        create("memory high", "m2", json!({"MemorySize": 10241}), 400, "ValidationException", validation("10241", "memorySize", "Member must have value less than or equal to 10240")),
        create("timeout low", "t1", json!({"Timeout": 0}), 400, "ValidationException", validation("0", "timeout", "Member must have value greater than or equal to 1")),
        create("timeout high", "t2", json!({"Timeout": 901}), 400, "ValidationException", validation("901", "timeout", "Member must have value less than or equal to 900")),
        create("ephemeral low", "e1", json!({"EphemeralStorage": {"Size": 511}}), 400, "ValidationException", validation("511", "ephemeralStorage.size", "Member must have value greater than or equal to 512")),
        create("ephemeral high", "e2", json!({"EphemeralStorage": {"Size": 10241}}), 400, "ValidationException", validation("10241", "ephemeralStorage.size", "Member must have value less than or equal to 10240")),
        create("role", "r", json!({"Role": "r1"}), 400, "ValidationException", validation("r1", "role", r"Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")),
        create("deprecated runtime", "rt1", json!({"Runtime": "python3.7"}), 400, "InvalidParameterValueException", "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."),
        create("unknown runtime", "rt2", json!({"Runtime": "non-existent-runtime"}), 400, "InvalidParameterValueException", format!("Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{runtimes}] or be a valid ARN")),
        create("missing handler", "h", json!({"Handler": null}), 400, "InvalidParameterValueException", "Runtime and Handler are mandatory parameters for functions created with deployment packages."),
        create("env too big", "env1", json!({"Environment": {"Variables": {"LARGE_VAR": big_env}}}), 400, "InvalidParameterValueException", format!("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {{\"LARGE_VAR\":\"{big_env}\"}}")),
        create("reserved env", "env2", json!({"Environment": {"Variables": {"AWS_REGION": "x"}}}), 400, "InvalidParameterValueException", "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION"),
        create("not a zip", "nz", json!({"Code": {"ZipFile": b64(b"this is not a zip")}}), 400, "InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again."),
        Case { what: "stale revision", method: "PUT", path: "/2015-03-31/functions/exists/configuration".into(), body: Some(json!({"Timeout": 5, "RevisionId": "00000000-0000-0000-0000-000000000000"})), status: 412, error_type: "PreconditionFailedException", message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into() },
        Case { what: "tag qualified arn", method: "POST", path: format!("/2017-03-31/tags/{}", urlenc(&format!("{}:1", arn("exists")))), body: Some(json!({"Tags": {"a": "b"}})), status: 400, error_type: "InvalidParameterValueException", message: "Tags on function aliases and versions are not supported. Please specify a function ARN.".into() },
        Case { what: "tag empty", method: "POST", path: format!("/2017-03-31/tags/{}", urlenc(&arn("exists"))), body: Some(json!({"Tags": {}})), status: 400, error_type: "InvalidParameterValueException", message: "An error occurred and the request cannot be processed.".into() },
        Case { what: "too many tags", method: "POST", path: format!("/2017-03-31/tags/{}", urlenc(&arn("exists"))), body: Some(json!({"Tags": tags51})), status: 400, error_type: "InvalidParameterValueException", message: "Number of tags exceeds resource tag limit.".into() },
        Case { what: "untag without keys", method: "DELETE", path: format!("/2017-03-31/tags/{}", urlenc(&arn("exists"))), body: None, status: 400, error_type: "ValidationException", message: "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null".into() },
        Case { what: "tag missing function", method: "GET", path: format!("/2017-03-31/tags/{}", urlenc(&arn("ghost"))), body: None, status: 404, error_type: "ResourceNotFoundException", message: format!("Function not found: {}", arn("ghost")) },
        Case { what: "delete $LATEST", method: "DELETE", path: "/2015-03-31/functions/exists?Qualifier=%24LATEST".into(), body: None, status: 400, error_type: "InvalidParameterValueException", message: "$LATEST version cannot be deleted without deleting the function.".into() },
        Case { what: "qualifier mismatch", method: "GET", path: "/2015-03-31/functions/exists%3A1?Qualifier=2".into(), body: None, status: 400, error_type: "InvalidParameterValueException", message: "The derived qualifier from the function name does not match the specified qualifier.".into() },
        Case { what: "bad function name param", method: "GET", path: "/2015-03-31/functions/invalid%3Afunction%3Aname".into(), body: None, status: 400, error_type: "ValidationException", message: validation("invalid:function:name", "functionName", &format!("Member must satisfy regular expression pattern: {}", lambdad_model_pattern())) },
        Case { what: "other region", method: "GET", path: format!("/2015-03-31/functions/{}", urlenc("arn:aws:lambda:ap-southeast-1:000000000000:function:exists")), body: None, status: 404, error_type: "ResourceNotFoundException", message: "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')".into() },
    ];
    assert!(cases.len() >= 25);
    for case in &cases {
        check(&client, &ep, case, None).await;
    }

    // Size limits, sent raw.
    let huge = vec![b' '; 70_167_212];
    let case = Case {
        what: "request too large",
        method: "POST",
        path: "/2015-03-31/functions".into(),
        body: None,
        status: 413,
        error_type: "RequestEntityTooLargeException",
        message: "Request must be smaller than 70167211 bytes for the CreateFunction operation"
            .into(),
    };
    check(&client, &ep, &case, Some(huge)).await;
    let zipped = create_body(
        "z",
        json!({"Code": {"ZipFile": b64(&vec![0u8; 52_428_801])}}),
    );
    let case = Case {
        what: "zipped too large",
        method: "POST",
        path: "/2015-03-31/functions".into(),
        body: Some(zipped),
        status: 413,
        error_type: "RequestEntityTooLargeException",
        message: "Zipped size must be smaller than 52428800 bytes".into(),
    };
    check(&client, &ep, &case, None).await;

    // The stale-revision case above must not have changed anything.
    let resp = send(
        &client,
        &ep,
        "GET",
        "/2015-03-31/functions/exists/configuration",
        None,
    )
    .await;
    let conf: Value = resp.json().await.unwrap();
    assert_eq!(conf["RevisionId"], revision);
    assert_eq!(conf["Timeout"], 3);

    // Malformed JSON and unknown operations get AWS-shaped errors too.
    let resp = send(
        &client,
        &ep,
        "POST",
        "/2015-03-31/functions",
        Some(b"{not json".to_vec()),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["x-amzn-ErrorType"],
        "InvalidRequestContentException"
    );
    // Two path segments are also a built-in SQS queue's URL, which takes
    // only Query-protocol forms: anything else there is still unknown.
    for method in ["GET", "POST"] {
        let resp = send(
            &client,
            &ep,
            method,
            "/2099-01-01/nothing",
            Some(b"{}".to_vec()),
        )
        .await;
        assert_eq!(resp.status(), 404, "{method}");
        assert_eq!(
            resp.headers()["x-amzn-ErrorType"],
            "UnknownOperationException"
        );
    }
}

fn urlenc(s: &str) -> String {
    s.replace(':', "%3A").replace('$', "%24")
}

fn lambdad_model_pattern() -> &'static str {
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
}

/// CreateFunction's pattern (AWS: no `.` in names, no `$LATEST.PUBLISHED`).
fn create_pattern() -> &'static str {
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
}

fn lambdad_runtime_list() -> &'static str {
    "nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2"
}
