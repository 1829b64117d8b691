//! Validation of user input with AWS's exact error types and messages.
//!
//! Every function returns an [`AwsError`] whose message is verbatim what AWS
//! answers (texts recorded against AWS, see shared/docs/reference).

use std::collections::BTreeMap;

use crate::error::AwsError;

/// Longest bare function name.
pub const MAX_FUNCTION_NAME: usize = 64;
/// Longest function name parameter when given as an ARN.
pub const MAX_FUNCTION_ARN: usize = 140;
/// The environment variables limit (bytes of the JSON AWS measures).
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// The `FunctionName` pattern AWS reports in its ValidationException.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";

/// The `Role` pattern AWS reports in its ValidationException.
pub const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";

/// Runtimes AWS accepts for new functions, in the order AWS lists them.
pub const SUPPORTED_RUNTIMES: &[&str] = &[
    "nodejs20.x",
    "python3.14",
    "provided.al2023",
    "python3.12",
    "python3.13",
    "nodejs24.x",
    "nodejs22.x",
    "java25",
    "python3.10",
    "python3.11",
    "java21",
    "ruby3.3",
    "ruby3.4",
    "ruby3.2",
    "python3.8",
    "python3.9",
    "java17",
    "nodejs16.x",
    "dotnet10",
    "dotnet8",
    "java11",
    "dotnet6",
    "nodejs18.x",
    "provided.al2",
    "java8.al2",
];

/// Runtimes AWS still knows but refuses for creating or updating functions.
pub const DEPRECATED_RUNTIMES: &[&str] = &[
    "python2.7",
    "python3.6",
    "python3.7",
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "java8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet5.0",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
];

/// Environment variable names users may not set.
pub const RESERVED_ENV_VARS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// AWS's message for one invalid member: `1 validation error detected:
/// Value 'VALUE' at 'MEMBER' failed to satisfy constraint: CONSTRAINT`.
pub fn one_error(value: &str, member: &str, constraint: &str) -> String {
    format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    )
}

/// AWS's message for a required member that is missing: `1 validation
/// error detected: Value null at 'MEMBER' failed to satisfy constraint:
/// Member must not be null`.
pub fn null_error(member: &str) -> String {
    format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    )
}

/// AWS's message for a member whose value it does not repeat (a list):
/// `1 validation error detected: Value at 'MEMBER' failed to satisfy
/// constraint: CONSTRAINT`.
pub fn unvalued_error(member: &str, constraint: &str) -> String {
    format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"
    )
}

/// `ValidationException`: `value` of `member` is below `min`.
pub fn at_least(value: &str, member: &str, min: impl std::fmt::Display) -> AwsError {
    AwsError::validation(one_error(
        value,
        member,
        &format!("Member must have value greater than or equal to {min}"),
    ))
}

/// `ValidationException`: `value` of `member` is above `max`.
pub fn at_most(value: &str, member: &str, max: impl std::fmt::Display) -> AwsError {
    AwsError::validation(one_error(
        value,
        member,
        &format!("Member must have value less than or equal to {max}"),
    ))
}

/// Checks that `value` of `member` lies in `min..=max`.
pub fn in_range(value: i64, min: i64, max: i64, member: &str) -> Result<i64, AwsError> {
    if value < min {
        return Err(at_least(&value.to_string(), member, min));
    }
    if value > max {
        return Err(at_most(&value.to_string(), member, max));
    }
    Ok(value)
}

/// The `FunctionName` pattern of CreateFunction (no `.`, no `$LATEST.PUBLISHED`).
pub const FUNCTION_NAME_PATTERN_CREATE: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

/// The `Qualifier` pattern AWS reports in its ValidationException.
pub const QUALIFIER_PATTERN: &str = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+";

/// Longest `Qualifier`.
pub const MAX_QUALIFIER: usize = 128;

/// AWS's message for several invalid members: `N validation errors
/// detected: Value 'V' at 'M' failed to satisfy constraint: C; Value …`
/// (`one_error`'s text when there is one).
pub fn errors(list: &[(&str, &str, String)]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(value, member, constraint)| {
            format!("Value '{value}' at '{member}' failed to satisfy constraint: {constraint}")
        })
        .collect();
    let n = items.len();
    let noun = if n == 1 { "error" } else { "errors" };
    format!("{n} validation {noun} detected: {}", items.join("; "))
}

fn pattern(p: &str) -> String {
    format!("Member must satisfy regular expression pattern: {p}")
}

/// Validates the name given to CreateFunction: AWS's length and pattern
/// checks (ValidationException, both reported at once), then the bare
/// name's 64 characters (InvalidParameterValueException).
pub fn function_name_for_create(name: &str) -> Result<(), AwsError> {
    let mut errs = Vec::new();
    if name.len() > MAX_FUNCTION_ARN {
        errs.push((
            name,
            "functionName",
            format!("Member must have length less than or equal to {MAX_FUNCTION_ARN}"),
        ));
    }
    if !crate::arn::matches_function_name_pattern(name, true) {
        errs.push((name, "functionName", pattern(FUNCTION_NAME_PATTERN_CREATE)));
    }
    if !errs.is_empty() {
        return Err(AwsError::validation(errors(&errs)));
    }
    let bare = crate::arn::parse_function_ref(name).map_or_else(|| name.to_owned(), |r| r.name);
    if bare.len() > MAX_FUNCTION_NAME {
        return Err(AwsError::invalid_parameter(one_error(
            &bare,
            "functionName",
            "Member must have length less than or equal to 64",
        )));
    }
    Ok(())
}

/// Validates a `FunctionName` path/parameter value (name, partial or full
/// ARN, optional qualifier) of at most 140 characters.
pub fn function_name_param(name: &str) -> Result<(), AwsError> {
    function_ref_params(name, None, MAX_FUNCTION_ARN)
}

/// Validates `FunctionName` (at most `max_len` characters: 170 for
/// GetFunction and Invoke, 140 elsewhere) and the `Qualifier` parameter
/// together, as AWS reports them: every failed constraint in one message.
pub fn function_ref_params(
    name: &str,
    qualifier: Option<&str>,
    max_len: usize,
) -> Result<(), AwsError> {
    let mut errs = Vec::new();
    if let Some(q) = qualifier {
        if q.len() > MAX_QUALIFIER {
            errs.push((
                q,
                "qualifier",
                format!("Member must have length less than or equal to {MAX_QUALIFIER}"),
            ));
        }
        let q_ok = q == "$LATEST"
            || q == "$LATEST.PUBLISHED"
            || (!q.is_empty()
                && q.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$'));
        if !q_ok {
            errs.push((q, "qualifier", pattern(QUALIFIER_PATTERN)));
        }
    }
    if !crate::arn::matches_function_name_pattern(name, false) {
        errs.push((name, "functionName", pattern(FUNCTION_NAME_PATTERN)));
    } else if name.len() > max_len {
        errs.push((
            name,
            "functionName",
            format!("Member must have length less than or equal to {max_len}"),
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(AwsError::validation(errors(&errs)))
    }
}

/// Validates an execution role ARN.
pub fn role(role: &str) -> Result<(), AwsError> {
    let ok = (|| {
        let rest = role.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        if !(partition.starts_with("aws")
            && partition[3..]
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-'))
        {
            return None;
        }
        let rest = rest.strip_prefix("iam::")?;
        let (account, rest) = rest.split_once(':')?;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let rest = rest.strip_prefix("role")?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        (!rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b)))
        .then_some(())
    })()
    .is_some();
    if ok {
        Ok(())
    } else {
        Err(AwsError::validation(one_error(
            role,
            "role",
            &format!("Member must satisfy regular expression pattern: {ROLE_PATTERN}"),
        )))
    }
}

/// Validates a runtime identifier.
pub fn runtime(runtime: &str) -> Result<(), AwsError> {
    if SUPPORTED_RUNTIMES.contains(&runtime) {
        return Ok(());
    }
    if DEPRECATED_RUNTIMES.contains(&runtime) {
        return Err(AwsError::invalid_parameter(format!(
            "The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    Err(AwsError::invalid_parameter(format!(
        "Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
        SUPPORTED_RUNTIMES.join(", ")
    )))
}

/// Validates a handler string (≤128, no whitespace).
pub fn handler(handler: &str) -> Result<(), AwsError> {
    if handler.len() > 128 {
        return Err(AwsError::validation(one_error(
            handler,
            "handler",
            "Member must have length less than or equal to 128",
        )));
    }
    if handler.is_empty() || handler.chars().any(char::is_whitespace) {
        return Err(AwsError::validation(one_error(
            handler,
            "handler",
            r"Member must satisfy regular expression pattern: [^\s]+",
        )));
    }
    Ok(())
}

/// Validates MemorySize (128–10240 MB).
pub fn memory_size(mb: i64) -> Result<u32, AwsError> {
    range(mb, 128, 10240, "memorySize")
}

/// Validates Timeout (1–900 s).
pub fn timeout(secs: i64) -> Result<u32, AwsError> {
    range(secs, 1, 900, "timeout")
}

/// Validates EphemeralStorage.Size (512–10240 MB).
pub fn ephemeral_storage(mb: i64) -> Result<u32, AwsError> {
    range(mb, 512, 10240, "ephemeralStorage.size")
}

fn range(value: i64, min: i64, max: i64, member: &str) -> Result<u32, AwsError> {
    let value = in_range(value, min, max, member)?;
    u32::try_from(value).map_err(|_| AwsError::invalid_parameter("value out of range"))
}

/// Validates Description (≤256 characters).
pub fn description(text: &str) -> Result<(), AwsError> {
    if text.chars().count() > 256 {
        return Err(AwsError::validation(one_error(
            text,
            "description",
            "Member must have length less than or equal to 256",
        )));
    }
    Ok(())
}

/// Validates Architectures (exactly one of `x86_64`, `arm64`).
pub fn architectures(arch: &[String]) -> Result<String, AwsError> {
    let listed = format!("[{}]", arch.join(", "));
    if arch.len() != 1 {
        return Err(AwsError::validation(one_error(
            &listed,
            "architectures",
            "Member must have length less than or equal to 1",
        )));
    }
    match arch[0].as_str() {
        a @ ("x86_64" | "arm64") => Ok(a.to_owned()),
        _ => Err(AwsError::validation(one_error(
            &listed,
            "architectures",
            "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
        ))),
    }
}

/// Validates environment variables: names, reserved keys, and the 4 KB limit
/// measured on the JSON serialisation as AWS does.
pub fn environment(vars: &BTreeMap<String, String>) -> Result<(), AwsError> {
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_VARS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(AwsError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    for key in vars.keys() {
        let mut chars = key.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || key.len() < 2 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
            ));
        }
    }
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > MAX_ENVIRONMENT_BYTES {
        return Err(AwsError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(())
}

/// Validates a LoggingConfig request and fills AWS's defaults.
pub fn logging_format(format: &str) -> Result<(), AwsError> {
    match format {
        "Text" | "JSON" => Ok(()),
        other => Err(AwsError::validation(one_error(
            other,
            "loggingConfig.logFormat",
            "Member must satisfy enum value set: [JSON, Text]",
        ))),
    }
}

/// AWS's limit on the tags of one function.
pub const MAX_TAGS: usize = 50;

/// Validates a tag map (≤[`MAX_TAGS`] tags, key 1–128 chars, value ≤256 chars).
pub fn tags(tags: &BTreeMap<String, String>, existing: usize) -> Result<(), AwsError> {
    if tags.is_empty() {
        return Err(AwsError::invalid_parameter(
            "An error occurred and the request cannot be processed.",
        ));
    }
    if tags.len() + existing > MAX_TAGS {
        return Err(AwsError::invalid_parameter(
            "Number of tags exceeds resource tag limit.",
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(AwsError::invalid_parameter(
                "An error occurred and the request cannot be processed.",
            ));
        }
        if k == crate::NetworkMode::TAG && crate::NetworkMode::parse(v).is_none() {
            return Err(AwsError::invalid_parameter(format!(
                "The value of tag {k} must be host, loopback or none."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn names() {
        assert!(function_name_for_create("my-fn_1").is_ok());
        let long = "a".repeat(65);
        let err = function_name_for_create(&long).unwrap_err();
        assert_eq!(err.code, Code::InvalidParameterValue);
        assert!(
            err.message
                .ends_with("Member must have length less than or equal to 64")
        );
        let err = function_name_for_create("bad name!").unwrap_err();
        assert_eq!(err.code, Code::Validation);
    }

    #[test]
    fn roles() {
        assert!(role("arn:aws:iam::123456789012:role/lambda-role").is_ok());
        assert!(role("arn:aws:iam::123456789012:role/path/to/r").is_ok());
        let err = role("r1").unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: {ROLE_PATTERN}"
            )
        );
    }

    #[test]
    fn runtimes() {
        assert!(runtime("provided.al2023").is_ok());
        assert!(
            runtime("python3.7")
                .unwrap_err()
                .message
                .starts_with("The runtime parameter of python3.7")
        );
        assert!(
            runtime("cobol")
                .unwrap_err()
                .message
                .starts_with("Value cobol at 'runtime'")
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(memory_size(128).unwrap(), 128);
        assert!(memory_size(127).is_err());
        assert!(memory_size(10241).is_err());
        assert!(timeout(0).is_err());
        assert!(timeout(901).is_err());
        assert!(ephemeral_storage(511).is_err());
    }

    #[test]
    fn environments() {
        let mut vars = BTreeMap::new();
        vars.insert("AWS_REGION".to_owned(), "x".to_owned());
        assert!(
            environment(&vars)
                .unwrap_err()
                .message
                .ends_with("Reserved keys used in this request: AWS_REGION")
        );
        let mut big = BTreeMap::new();
        big.insert("LARGE_VAR".to_owned(), "x".repeat(MAX_ENVIRONMENT_BYTES));
        assert!(
            environment(&big)
                .unwrap_err()
                .message
                .contains("exceeded the 4KB limit. String measured: {\"LARGE_VAR\":\"xxx")
        );
    }
}
