//! The sources of settings beside the command line, read through the flags'
//! own definitions: a `LAMBDAD_*` variable or a `lambdad.toml` key becomes
//! the command line `--flag=value` and is parsed by clap like a flag, one
//! setting at a time (so that an error names its source). Names come from
//! the flags: `--idle-timeout` is `LAMBDAD_IDLE_TIMEOUT` and `idle_timeout`.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, bail};
use clap::error::{ContextKind, ContextValue};
use clap::{ArgAction, ArgMatches, Args, Command};

use super::settings::{FILE_FLAG, ServeArgs};

/// Variables lambdad reads that are no flag of `serve`: the tracing filter.
pub const OTHER_VARS: &[&str] = &["LAMBDAD_LOG"];

/// One setting, as each source names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Setting {
    /// The flag's long name (`idle-timeout`), if it has one.
    pub flag: Option<String>,
    /// Its variable (`LAMBDAD_IDLE_TIMEOUT`), if one sets it.
    pub var: Option<String>,
    /// Its key in `lambdad.toml` (`idle_timeout`), if the file sets it.
    pub key: Option<String>,
    /// Whether the flag may be given more than once (a table in the file).
    pub repeatable: bool,
}

/// The `serve` flags as a clap command.
pub fn command() -> Command {
    ServeArgs::augment_args(Command::new("serve"))
}

/// Every setting lambdad knows. A repeatable flag has no variable, and its
/// key is its field's name (`--interpreter`: `[interpreters]`).
pub fn settings() -> Vec<Setting> {
    let cmd = command();
    let mut out: Vec<Setting> = cmd
        .get_arguments()
        .filter(|a| matches!(a.get_action(), ArgAction::Set | ArgAction::Append))
        .filter_map(|a| {
            let long = a.get_long()?;
            let id = a.get_id().as_str();
            let repeatable = matches!(a.get_action(), ArgAction::Append);
            Some(Setting {
                flag: Some(long.to_owned()),
                var: (!repeatable)
                    .then(|| format!("LAMBDAD_{}", long.replace('-', "_").to_ascii_uppercase())),
                key: (id != FILE_FLAG).then(|| id.to_owned()),
                repeatable,
            })
        })
        .collect();
    out.extend(OTHER_VARS.iter().map(|v| Setting {
        flag: None,
        var: Some((*v).to_owned()),
        key: None,
        repeatable: false,
    }));
    out
}

/// Parses `values` as occurrences of `--flag`; the error is why a value is wrong.
fn parse(cmd: &mut Command, flag: &str, values: &[OsString]) -> Result<ArgMatches, String> {
    let mut argv = vec![OsString::from("serve")];
    for v in values {
        let mut arg = OsString::from(format!("--{flag}="));
        arg.push(v);
        argv.push(arg);
    }
    cmd.try_get_matches_from_mut(argv).map_err(|e| reason(&e))
}

/// The gist of a clap error, on one line.
fn reason(e: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(e) {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("expected one of {}", valid.join(", "));
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The settings that `LAMBDAD_*` variables give, one match each, and a
/// warning for each unknown `LAMBDAD_*` variable. Empty variables are unset.
pub fn from_env(
    settings: &[Setting],
    env: impl IntoIterator<Item = (OsString, OsString)>,
) -> anyhow::Result<(Vec<ArgMatches>, Vec<String>)> {
    let mut cmd = command();
    let mut vars: Vec<(String, OsString)> = env
        .into_iter()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
        .filter(|(k, _)| k.starts_with("LAMBDAD_"))
        .collect();
    vars.sort();
    let (mut layers, mut warnings) = (Vec::new(), Vec::new());
    for (var, value) in vars {
        let Some(setting) = settings
            .iter()
            .find(|s| s.var.as_deref() == Some(var.as_str()))
        else {
            let known = settings.iter().filter_map(|s| s.var.as_deref());
            warnings.push(format!(
                "unknown environment variable {var} ignored ({})",
                suggest(&var, "LAMBDAD_", known)
            ));
            continue;
        };
        let Some(flag) = &setting.flag else {
            continue; // Read elsewhere (LAMBDAD_LOG).
        };
        if value.is_empty() {
            continue;
        }
        let m = parse(&mut cmd, flag, std::slice::from_ref(&value))
            .map_err(|why| anyhow::anyhow!("invalid value {value:?} of {var}: {why}"))?;
        layers.push(m);
    }
    Ok((layers, warnings))
}

/// The settings of a configuration file, one match per key. Unknown keys are errors.
pub fn from_file(settings: &[Setting], path: &Path) -> anyhow::Result<Vec<ArgMatches>> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", toml_error(&text, &e)))
        .with_context(|| format!("invalid configuration file {name}"))?;
    let mut cmd = command();
    let mut layers = Vec::new();
    for (key, value) in &table {
        let Some(setting) = settings.iter().find(|s| s.key.as_deref() == Some(key)) else {
            let known = settings.iter().filter_map(|s| s.key.as_deref());
            bail!(
                "invalid configuration file {name}: unknown key {key:?} ({})",
                suggest(key, "", known)
            );
        };
        let flag = setting.flag.as_deref().unwrap_or_default();
        let values = toml_values(value, setting.repeatable)
            .and_then(|v| parse(&mut cmd, flag, &v))
            .map_err(|why| anyhow::anyhow!("invalid configuration file {name}: {key}: {why}"))?;
        layers.push(values);
    }
    Ok(layers)
}

/// A TOML value as the flag values it stands for: a repeatable flag's
/// table entries are `KEY=VALUE` each.
fn toml_values(value: &toml::Value, repeatable: bool) -> Result<Vec<OsString>, String> {
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            Err(format!("expected a single value, not {}", v.type_str()))
        }
    };
    let values = match value {
        toml::Value::Table(t) if repeatable => t
            .iter()
            .map(|(k, v)| scalar(v).map(|v| format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?,
        toml::Value::Array(a) if repeatable => a.iter().map(scalar).collect::<Result<_, _>>()?,
        v => vec![scalar(v)?],
    };
    Ok(values.into_iter().map(OsString::from).collect())
}

/// A TOML syntax error on one line: where, and what.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return e.message().trim().to_owned();
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    let message = e.message().trim().replace('\n', "; ");
    format!("line {line}, column {column}: {message}")
}

/// "did you mean X?" for the known name closest to `name` (`prefix` aside).
fn suggest<'a>(name: &str, prefix: &str, known: impl Iterator<Item = &'a str>) -> String {
    let strip = |s: &'a str| s.strip_prefix(prefix).unwrap_or(s);
    let stem = name.strip_prefix(prefix).unwrap_or(name);
    let best = known.min_by_key(|k| (edit_distance(stem, strip(k)), *k));
    match best {
        Some(k) if edit_distance(stem, strip(k)) <= stem.len().max(3) / 3 => {
            format!("did you mean {k}?")
        }
        Some(k) => format!("the closest known setting is {k}"),
        None => "no setting is known".to_owned(),
    }
}

/// Levenshtein distance (insertions, deletions, substitutions), by bytes.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
