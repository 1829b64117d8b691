//! ARNs and function references: a `FunctionName` parameter may be a bare
//! name, `name:qualifier`, a partial ARN `ACCOUNT:function:name[:qualifier]`
//! or a full ARN `arn:aws:lambda:REGION:ACCOUNT:function:name[:qualifier]`.

/// A parsed `FunctionName` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// `$LATEST`, a version number or an alias, when the reference carried one.
    pub qualifier: Option<String>,
    /// Region named by a full ARN.
    pub region: Option<String>,
    /// Account named by a full or partial ARN.
    pub account: Option<String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn valid_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty()
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Parses a `FunctionName` parameter; `None` when it matches none of AWS's forms.
pub fn parse_function_ref(input: &str) -> Option<FunctionRef> {
    let parts: Vec<&str> = input.split(':').collect();
    let (region, account, rest): (Option<&str>, Option<&str>, &[&str]) = match parts.as_slice() {
        // `arn:aws:lambda:REGION:ACCOUNT:NAME` (no `function:`): AWS's
        // pattern reads the last part as the name, even `function`.
        ["arn", partition, "lambda", region, account, _] if partition.starts_with("aws") => {
            (Some(region), Some(account), &parts[5..])
        }
        [
            "arn",
            partition,
            "lambda",
            region,
            account,
            "function",
            rest @ ..,
        ] if partition.starts_with("aws") => (Some(region), Some(account), rest),
        [account, "function", rest @ ..] => (None, Some(account), rest),
        rest => (None, None, rest),
    };
    if account.is_some_and(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (name, qualifier) = match rest {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        _ => return None,
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return None;
    }
    Some(FunctionRef {
        name: name.to_owned(),
        qualifier: qualifier.map(str::to_owned),
        region: region.map(str::to_owned),
        account: account.map(str::to_owned),
    })
}

fn partition_ok(p: &str) -> bool {
    p.is_empty()
        || p.strip_prefix("aws")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
}

/// `-[a-z]+-\d` exactly.
fn region_tail_ok(t: &str) -> bool {
    let Some(t) = t.strip_prefix('-') else {
        return false;
    };
    let Some((word, digit)) = t.split_once('-') else {
        return false;
    };
    !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_lowercase())
        && digit.len() == 1
        && digit.bytes().all(|b| b.is_ascii_digit())
}

/// AWS's region pattern: `(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`.
fn region_ok(r: &str) -> bool {
    let bodies = [Some(r), r.strip_prefix("eusc-")];
    bodies.into_iter().flatten().any(|b| {
        if b.len() < 2 || !b.as_bytes()[..2].iter().all(u8::is_ascii_lowercase) {
            return false;
        }
        let t = &b[2..];
        let mut tails = vec![t];
        tails.extend(t.strip_prefix("-gov"));
        if let Some(iso) = t.strip_prefix("-iso") {
            tails.push(iso);
            if iso.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
                tails.push(&iso[1..]);
            }
        }
        tails.into_iter().any(region_tail_ok)
    })
}

/// Whether `input` matches AWS's whole `FunctionName` pattern, the one of
/// CreateFunction (`for_create`: no `.` in names, no `$LATEST.PUBLISHED`) or
/// the one of the other operations:
/// `(arn:(aws[a-zA-Z-]*)?:lambda:)?(REGION:)?(\d{12}:)?(function:)?(NAME)(:(QUALIFIER))?`.
pub fn matches_function_name_pattern(input: &str, for_create: bool) -> bool {
    let segs: Vec<&str> = input.split(':').collect();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (!for_create && b == b'.')
            })
    };
    let qualifier_ok = |q: &str| {
        q == "$LATEST"
            || (!for_create && q == "$LATEST.PUBLISHED")
            || (!q.is_empty()
                && q.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    };
    // Each optional prefix group is present or not: try every combination.
    (0u8..16).any(|groups| {
        let mut rest = segs.as_slice();
        if groups & 1 != 0 {
            match rest {
                ["arn", p, "lambda", tail @ ..] if partition_ok(p) => rest = tail,
                _ => return false,
            }
        }
        if groups & 2 != 0 {
            match rest {
                [r, tail @ ..] if region_ok(r) => rest = tail,
                _ => return false,
            }
        }
        if groups & 4 != 0 {
            match rest {
                [a, tail @ ..] if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => {
                    rest = tail
                }
                _ => return false,
            }
        }
        if groups & 8 != 0 {
            match rest {
                ["function", tail @ ..] => rest = tail,
                _ => return false,
            }
        }
        match rest {
            [n] => name_ok(n),
            [n, q] => name_ok(n) && qualifier_ok(q),
            _ => false,
        }
    })
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// AWS's pattern of the `Resource` of TagResource, UntagResource and ListTags.
pub const TAGGABLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)";

/// What a taggable ARN names (it matched [`TAGGABLE_PATTERN`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taggable {
    /// A function, perhaps qualified.
    Function {
        /// Its name.
        name: String,
        /// A version or alias.
        qualifier: Option<String>,
    },
    /// An event source mapping, by UUID.
    EventSourceMapping(String),
    /// A layer, a code signing configuration or a capacity provider.
    Other {
        /// `layer`, `code-signing-config` or `capacity-provider`.
        kind: &'static str,
    },
}

/// A taggable resource's ARN with its region and account, when it matches
/// [`TAGGABLE_PATTERN`] as a whole.
pub fn parse_taggable(arn: &str) -> Option<(Taggable, String, String)> {
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let hex_groups = |s: &str| {
        let groups: Vec<&str> = s.split('-').collect();
        groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let ["arn", partition, "lambda", region, account, rest @ ..] = parts.as_slice() else {
        return None;
    };
    if !partition.starts_with("aws")
        || !partition_ok(partition)
        || !region_ok(region)
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let what = match rest {
        ["function", name] if word(name) => Taggable::Function {
            name: (*name).to_owned(),
            qualifier: None,
        },
        ["function", name, q] if word(name) && (*q == "$LATEST" || word(q)) => Taggable::Function {
            name: (*name).to_owned(),
            qualifier: Some((*q).to_owned()),
        },
        ["layer", name] if word(name) => Taggable::Other { kind: "layer" },
        ["code-signing-config", id]
            if id.strip_prefix("csc-").is_some_and(|s| {
                s.len() == 17
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            }) =>
        {
            Taggable::Other {
                kind: "code-signing-config",
            }
        }
        ["event-source-mapping", uuid] if hex_groups(uuid) => {
            Taggable::EventSourceMapping((*uuid).to_owned())
        }
        ["capacity-provider", name] if word(name) => Taggable::Other {
            kind: "capacity-provider",
        },
        _ => return None,
    };
    Some((what, (*region).to_owned(), (*account).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let r = parse_function_ref("f").unwrap();
        assert_eq!((r.name.as_str(), r.qualifier), ("f", None));
        let r = parse_function_ref("f:$LATEST").unwrap();
        assert_eq!(r.qualifier.as_deref(), Some("$LATEST"));
        let r = parse_function_ref("123456789012:function:f:live").unwrap();
        assert_eq!(r.account.as_deref(), Some("123456789012"));
        assert_eq!(r.qualifier.as_deref(), Some("live"));
        let r = parse_function_ref("arn:aws:lambda:eu-west-1:123456789012:function:f").unwrap();
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert!(parse_function_ref("invalid:function:name").is_none());
        assert!(parse_function_ref("a b").is_none());
        assert!(parse_function_ref("").is_none());
        let r = parse_function_ref("arn:aws:lambda:us-east-1:123456789012:function").unwrap();
        assert_eq!((r.name.as_str(), r.qualifier), ("function", None));
    }

    /// The cases of LocalStack's AWS-validated test_function_name_and_qualifier_validation.
    #[test]
    fn aws_pattern() {
        for ok in [
            "f",
            "my.function",
            "f:$LATEST",
            "f:live",
            "123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:f:1",
            "arn:aws:lambda:us-gov-west-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
        ] {
            assert!(matches_function_name_pattern(ok, false), "{ok}");
        }
        for bad in [
            "*",
            "my-function!",
            "invalid-account:function:my-function",
            "arn:aws:lambda:invalid-region:123456789012:function:my-function",
            "arn:aws:ec2:us-east-1:123456789012:instance:i-1234567890abcdef0",
            "arn:aws:lambda:us-east-1:123456789012:function:my-function:1:2",
            "function:my-function:$LATEST:extra",
            "arn:aws:lambda::123456789012:function:my-function",
            "arn:aws:lambda:us-east-1::function:my-function",
            "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATES",
        ] {
            assert!(!matches_function_name_pattern(bad, false), "{bad}");
        }
        assert!(matches_function_name_pattern("f:$LATEST.PUBLISHED", false));
        assert!(!matches_function_name_pattern("f:$LATEST.PUBLISHED", true));
        assert!(!matches_function_name_pattern("my.function", true));
        assert!(!matches_function_name_pattern("f:$latest", true));
    }
    #[test]
    fn taggable_arns_as_aws_matches_them() {
        let esm = "arn:aws:lambda:us-east-1:111111111111:event-source-mapping:0b1c2d3e-aaaa-4bbb-8ccc-0123456789ab";
        assert_eq!(
            parse_taggable(esm).map(|t| t.0),
            Some(Taggable::EventSourceMapping(
                "0b1c2d3e-aaaa-4bbb-8ccc-0123456789ab".into()
            ))
        );
        assert!(parse_taggable(&format!("{esm}:alias")).is_none());
        let f = "arn:aws:lambda:eu-west-1:111111111111:function:fn-1";
        assert!(matches!(
            parse_taggable(&format!("{f}:live")),
            Some((
                Taggable::Function {
                    qualifier: Some(_),
                    ..
                },
                _,
                _
            ))
        ));
        assert!(matches!(
            parse_taggable("arn:aws:lambda:us-east-1:111111111111:capacity-provider:p"),
            Some((
                Taggable::Other {
                    kind: "capacity-provider"
                },
                _,
                _
            ))
        ));
        for bad in [
            "arn:aws:lambda:us-east-1:111111111111:foobar:x",
            "arn:aws:lambda:us-east-1:11111111111:function:f",
            "arn:aws:s3:us-east-1:111111111111:function:f",
            "fn",
            "arn:aws:lambda:useast1:111111111111:function:f",
            "arn:aws:lambda:us-east-1:111111111111:function:f.g",
        ] {
            assert!(parse_taggable(bad).is_none(), "{bad}");
        }
    }
}
