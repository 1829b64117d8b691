//! The API's request parsing: the first byte picks what the rest is fed to,
//! as the handlers do with a request body or parameter. Nothing may panic,
//! and what parses must behave (a pattern can be matched, a policy evaluated).
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use lambdad_model::function::{
    CreateFunctionRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use lambdad_model::{arn, eventpattern, iam, logfilter, policy, schedule, url, validate};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn create(body: &[u8]) {
    let Ok(req) = serde_json::from_slice::<CreateFunctionRequest>(body) else {
        return;
    };
    if let Some(n) = &req.function_name {
        let _ = validate::function_name_for_create(n);
        let _ = arn::parse_function_ref(n);
    }
    if let Some(r) = &req.role {
        let _ = validate::role(r);
    }
    if let Some(r) = &req.runtime {
        let _ = validate::runtime(r);
    }
    if let Some(h) = &req.handler {
        let _ = validate::handler(h);
    }
    if let Some(d) = &req.description {
        let _ = validate::description(d);
    }
    let _ = req.memory_size.map(validate::memory_size);
    let _ = req.timeout.map(validate::timeout);
    let _ = req
        .ephemeral_storage
        .map(|e| validate::ephemeral_storage(e.size));
    if let Some(a) = &req.architectures {
        let _ = validate::architectures(a);
    }
    if let Some(e) = &req.environment {
        let _ = validate::environment(&e.variables);
    }
    if let Some(t) = &req.tags {
        let _ = validate::tags(t, 0);
    }
    if let Some(f) = req
        .logging_config
        .as_ref()
        .and_then(|l| l.log_format.as_deref())
    {
        let _ = validate::logging_format(f);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 10 {
        0 => create(rest),
        1 => {
            let _ = serde_json::from_slice::<UpdateFunctionConfigurationRequest>(rest);
            let _ = serde_json::from_slice::<UpdateFunctionCodeRequest>(rest);
        }
        2 => {
            if let Ok(req) = serde_json::from_slice::<policy::PermissionRequest>(rest) {
                if let Ok((_, statement)) =
                    policy::statement(&req, "arn:aws:lambda:us-east-1:000000000000:function:f")
                {
                    let _ = policy::allows_public_url(&[statement]);
                }
            }
        }
        3 => {
            if let Ok(cors) = serde_json::from_slice::<url::Cors>(rest) {
                if cors.validate().is_ok() {
                    let _ = cors.preflight_headers("http://example.com", "POST");
                    let _ = cors.response_headers("http://example.com");
                }
            }
        }
        4 => {
            let _ = arn::parse_function_ref(&text);
            let _ = validate::function_name_param(&text);
        }
        5 => {
            // An EventBridge pattern, then an event it is matched against.
            let (pattern, event) = text.split_once('\u{0}').unwrap_or((&text, "{}"));
            if let Ok(p) = eventpattern::EventPattern::parse(pattern) {
                if let Ok(event) = serde_json::from_str::<Value>(event) {
                    let _ = p.matches(&event);
                }
            }
        }
        6 => {
            // A CloudWatch Logs filter pattern, then a log line.
            let (pattern, line) = text.split_once('\u{0}').unwrap_or((&text, ""));
            if let Ok(p) = logfilter::FilterPattern::parse(pattern) {
                let _ = p.matches(line);
            }
        }
        7 => {
            if let Ok(s) = schedule::Schedule::parse(&text, Duration::from_secs(1)) {
                let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
                let _ = s.next_after(now, now);
            }
        }
        8 => {
            // An IAM policy document, then an action and a resource.
            let mut parts = text.splitn(3, '\u{0}');
            let doc = parts.next().unwrap_or("");
            let action = parts.next().unwrap_or("lambda:InvokeFunction");
            let resource = parts
                .next()
                .unwrap_or("arn:aws:lambda:us-east-1:0:function:f");
            if let Ok(p) = iam::Policy::parse(doc) {
                let _ = p.evaluate(action, resource);
            }
        }
        _ => {
            if let Ok(tags) = serde_json::from_slice::<BTreeMap<String, String>>(rest) {
                let _ = validate::tags(&tags, 0);
            }
        }
    }
});
