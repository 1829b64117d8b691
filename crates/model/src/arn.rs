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

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
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
    }
}
