//! Hostile input: a bounded property test sending random JSON (and random
//! path parameters) to every API operation. Whatever arrives, lambdad answers
//! with a 2xx or an AWS-shaped 4xx, never a 5xx, and keeps serving.

use serde_json::{Map, Value, json};

use crate::common::{TestServer, create_function, fixture_zip, invoke};

/// xorshift64*: deterministic, so a failure replays with the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Member names the API knows, so that random values reach the validators.
const MEMBERS: &[&str] = &[
    "FunctionName",
    "Runtime",
    "Role",
    "Handler",
    "Code",
    "ZipFile",
    "MemorySize",
    "Timeout",
    "Environment",
    "Variables",
    "Layers",
    "Publish",
    "Description",
    "Architectures",
    "EphemeralStorage",
    "Size",
    "LoggingConfig",
    "LogFormat",
    "Name",
    "FunctionVersion",
    "RoutingConfig",
    "AdditionalVersionWeights",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrentExecutions",
    "MaximumRetryAttempts",
    "MaximumEventAgeInSeconds",
    "DestinationConfig",
    "AuthType",
    "Cors",
    "AllowOrigins",
    "MaxAge",
    "InvokeMode",
    "StatementId",
    "Action",
    "Principal",
    "EventSourceArn",
    "BatchSize",
    "Entries",
    "Detail",
    "Source",
    "DetailType",
    "EventPattern",
    "ScheduleExpression",
    "Targets",
    "Rule",
    "Ids",
    "logGroupName",
    "logStreamName",
    "filterPattern",
    "limit",
    "startTime",
    "Content",
    "CompatibleRuntimes",
    "RevisionId",
    "Qualifier",
    "Tags",
    "TagKeys",
    "weird\u{0}key",
];

fn random_string(rng: &mut Rng) -> String {
    let pool = [
        "",
        "x",
        "victim",
        "$LATEST",
        "1",
        "-1",
        "arn:aws:lambda:us-east-1:000000000000:function:victim",
        "python3.12",
        "provided.al2023",
        "NONE",
        "AWS_IAM",
        "ENABLED",
        "rate(1 minute)",
        "cron(0 0 * * ? *)",
        "{\"a\":[1]}",
        "Zm9v",
        "../../etc/passwd",
        "%00",
        "é🦀",
        "\u{7f}",
        "lambda:InvokeFunction",
        "*",
        "arn:aws:sqs:us-east-1:000000000000:q",
    ];
    match rng.below(4) {
        0 => "y".repeat(rng.below(70_000)),
        _ => rng.pick(&pool).to_owned(),
    }
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!([0i64, -1, 1, 128, 10_240, i64::MAX, i64::MIN][rng.below(7)]),
        3 => json!([0.5f64, -1e308, 1e308, 3.25][rng.below(4)]),
        4 => json!(random_string(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(6) {
                m.insert(rng.pick(MEMBERS).to_owned(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/2015-03-31/functions"),
    ("GET", "/2015-03-31/functions/"),
    ("GET", "/2015-03-31/functions/{f}"),
    ("DELETE", "/2015-03-31/functions/{f}"),
    ("GET", "/2015-03-31/functions/{f}/configuration"),
    ("PUT", "/2015-03-31/functions/{f}/configuration"),
    ("PUT", "/2015-03-31/functions/{f}/code"),
    ("POST", "/2015-03-31/functions/{f}/invocations"),
    (
        "POST",
        "/2021-11-15/functions/{f}/response-streaming-invocations",
    ),
    ("GET", "/2015-03-31/functions/{f}/versions"),
    ("POST", "/2015-03-31/functions/{f}/versions"),
    ("GET", "/2015-03-31/functions/{f}/aliases"),
    ("POST", "/2015-03-31/functions/{f}/aliases"),
    ("PUT", "/2015-03-31/functions/{f}/aliases/{a}"),
    ("POST", "/2015-03-31/functions/{f}/policy"),
    ("DELETE", "/2015-03-31/functions/{f}/policy/{a}"),
    ("POST", "/2021-10-31/functions/{f}/url"),
    ("PUT", "/2021-10-31/functions/{f}/url"),
    ("PUT", "/2017-10-31/functions/{f}/concurrency"),
    ("PUT", "/2019-09-30/functions/{f}/provisioned-concurrency"),
    ("PUT", "/2019-09-25/functions/{f}/event-invoke-config"),
    ("POST", "/2019-09-25/functions/{f}/event-invoke-config"),
    ("POST", "/2017-03-31/tags/{f}"),
    ("POST", "/2018-10-31/layers/{a}/versions"),
    ("POST", "/2018-10-31/layers/{a}/versions/1/policy"),
    ("POST", "/2015-03-31/event-source-mappings"),
    ("PUT", "/2015-03-31/event-source-mappings/{a}"),
    ("POST", "/#Logs_20140328.FilterLogEvents"),
    ("POST", "/#Logs_20140328.GetLogEvents"),
    ("POST", "/#Logs_20140328.PutRetentionPolicy"),
    ("POST", "/#AWSEvents.PutRule"),
    ("POST", "/#AWSEvents.PutTargets"),
    ("POST", "/#AWSEvents.PutEvents"),
    ("POST", "/#AWSEvents.ListRules"),
];

#[tokio::test]
async fn random_json_never_breaks_the_api() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "victim", fixture_zip("echo")).await;
    let http = reqwest::Client::new();
    let base = server.endpoint();
    let mut rng = Rng(0x5eed_1a3b_dad0_0001);
    let names = [
        "victim",
        "nope",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Avictim",
        "a%2F..%2Fb",
        "%F0%9F%A6%80",
        "victim%3A%24LATEST",
    ];
    for &(method, route) in ROUTES {
        for _ in 0..24 {
            let f = names[rng.below(names.len())];
            let a = names[rng.below(names.len())];
            let (path, target) = match route.split_once('#') {
                Some((p, t)) => (p.to_owned(), Some(t)),
                None => (route.replace("{f}", f).replace("{a}", a), None),
            };
            let body = if rng.below(8) == 0 {
                b"{not json".to_vec()
            } else {
                random_value(&mut rng, 0).to_string().into_bytes()
            };
            let mut req = http
                .request(method.parse().unwrap(), format!("{base}{path}"))
                .body(body.clone());
            if let Some(t) = target {
                req = req
                    .header("x-amz-target", t)
                    .header("content-type", "application/x-amz-json-1.1");
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert!(
                status < 500,
                "{method} {path} with {} answered {status}: {text}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
            if status >= 400 {
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
                let message = v.get("message").or_else(|| v.get("Message"));
                assert!(message.is_some(), "{method} {path}: no message: {text}");
            }
        }
    }
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // (The storm may have deleted "victim": a new function still works.)
    create_function(&lambda, "survivor", fixture_zip("echo")).await;
    let r = invoke(&lambda, "survivor", json!({"still": "alive"})).await;
    assert_eq!((r.status, r.json), (200, json!({"still": "alive"})));
}
