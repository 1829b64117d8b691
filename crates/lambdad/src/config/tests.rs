use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambdad_model::NetworkMode;

use super::sources::edit_distance;
use super::*;

/// `lambdad serve ARGS` with `vars` as its environment, run in `dir`.
fn resolve_in(
    dir: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> anyhow::Result<(Config, Vec<String>)> {
    let flags = ServeFlags::parse(args)?;
    let env = vars
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .chain([(OsString::from("HOME"), OsString::from("/root"))]);
    Config::resolve(&flags, env, dir)
}

fn resolve(args: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let (config, warnings) = resolve_in(dir.path(), args, vars)?;
    assert_eq!(warnings, Vec::<String>::new());
    Ok(config)
}

fn error(args: &[&str], vars: &[(&str, &str)]) -> String {
    format!("{:#}", resolve(args, vars).unwrap_err())
}

#[test]
fn defaults() {
    let c = resolve(&[], &[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
    assert_eq!(c.data_dir, PathBuf::from(".lambdad"));
    assert_eq!(c.region, "us-east-1");
    assert_eq!(c.account_id, "000000000000");
    assert_eq!(c.sandbox, SandboxChoice::Auto);
    assert_eq!(c.prestarted_sandboxes, 2);
    assert_eq!(c.network, NetworkMode::Host);
    assert_eq!(c.client_timeout, Duration::from_secs(30));
    assert_eq!(c.auth, AuthMode::None);
    assert_eq!(c.url_base, "http://localhost:9001");
    assert!(c.worker_threads >= 1);
}

#[test]
fn store_setting() {
    assert_eq!(resolve(&[], &[]).unwrap().store, StoreChoice::Sqlite);
    let url = "postgres://root@127.0.0.1:5432/test";
    assert_eq!(
        resolve(&["--store", url], &[]).unwrap().store,
        StoreChoice::Postgres(url.to_owned())
    );
    assert_eq!(
        resolve(&["--store", "sqlite"], &[("LAMBDAD_STORE", url)])
            .unwrap()
            .store,
        StoreChoice::Sqlite,
        "a flag beats the variable"
    );
    assert_eq!(
        resolve(&[], &[("LAMBDAD_STORE", url)]).unwrap().store,
        StoreChoice::Postgres(url.to_owned())
    );
    assert!(error(&["--store", "mysql://x"], &[]).contains("expected sqlite or a postgres:// URL"));
    assert!(
        error(&["--store", "postgres://h:notaport/db"], &[]).contains("invalid PostgreSQL URL")
    );
    // The URL may hold a password: Debug does not show it.
    let secret = StoreChoice::Postgres("postgres://u:hunter2@h/db".to_owned());
    assert!(!format!("{secret:?}").contains("hunter2"));
    assert_eq!(resolve(&[], &[]).unwrap().store_key_file, None);
    assert_eq!(
        resolve(&[], &[("LAMBDAD_STORE_KEY_FILE", "/etc/lambdad/store.key")])
            .unwrap()
            .store_key_file,
        Some(std::path::PathBuf::from("/etc/lambdad/store.key"))
    );
}

#[test]
fn s3_access_log_settings() {
    let c = resolve(&[], &[]).unwrap();
    assert_eq!(c.s3_log_flush_interval, Duration::from_secs(5));
    assert_eq!(c.s3_access_log_group, None);
    let c = resolve(
        &["--s3-access-log-group", "/lambdad/s3-access"],
        &[("LAMBDAD_S3_LOG_FLUSH_INTERVAL", "1s")],
    )
    .unwrap();
    assert_eq!(c.s3_log_flush_interval, Duration::from_secs(1));
    assert_eq!(c.s3_access_log_group.as_deref(), Some("/lambdad/s3-access"));
    assert!(
        error(&["--s3-access-log-group", "a b"], &[]).contains("not a CloudWatch Logs group name")
    );
    assert!(
        error(&["--s3-access-log-group", "a/../b"], &[])
            .contains("not a CloudWatch Logs group name")
    );
    assert!(error(&["--s3-log-flush-interval", "0s"], &[]).contains("more than 0"));
}

#[test]
fn thread_and_pool_sizes_are_bounded() {
    for args in [
        ["--worker-threads", "0"],
        ["--worker-threads", "257"],
        ["--prestarted-sandboxes", "65"],
    ] {
        assert!(resolve(&args, &[]).is_err(), "{args:?}");
    }
    let c = resolve(
        &["--worker-threads", "3", "--prestarted-sandboxes", "0"],
        &[],
    )
    .unwrap();
    assert_eq!((c.worker_threads, c.prestarted_sandboxes), (3, 0));
    let c = resolve(
        &[],
        &[
            ("LAMBDAD_WORKER_THREADS", "2"),
            ("LAMBDAD_PRESTARTED_SANDBOXES", "5"),
        ],
    )
    .unwrap();
    assert_eq!((c.worker_threads, c.prestarted_sandboxes), (2, 5));
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lambdad.toml"),
        "region = \"eu-west-1\"\nidle_timeout = \"30s\"\nconcurrency_limit = 500\n\
         fast_cgroup_migration = false\nprice_per_million_requests = 0.5\ncpu_quota = \"off\"\n\
         [interpreters]\n\"python3.12\" = \"/file/python3.12\"\n\"nodejs20.x\" = \"/file/node\"\n",
    )
    .unwrap();
    let run = |args: &[&str], vars: &[(&str, &str)]| {
        let (c, warnings) = resolve_in(dir.path(), args, vars).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        c
    };
    let env = [
        ("LAMBDAD_REGION", "ap-south-1"),
        ("LAMBDAD_IDLE_TIMEOUT", "45s"),
    ];
    let flags = [
        "--region",
        "us-west-2",
        "--interpreter",
        "nodejs20.x=/flag/node",
    ];

    let c = run(&flags, &env);
    assert_eq!(
        c.region, "us-west-2",
        "the flag beats the variable and the file"
    );
    assert_eq!(
        c.idle_timeout,
        Duration::from_secs(45),
        "the variable beats the file"
    );
    assert_eq!(c.concurrency_limit, 500, "the file beats the default");
    assert!(!c.fast_cgroup_migration);
    assert_eq!(c.cpu_quota, super::CpuQuota::Off);
    assert_eq!(c.prices.per_million_requests, 0.5);
    assert_eq!(c.listen.port(), 9001, "the default where no source says");
    // Interpreters add up: the file's, then the flags', which win for a runtime.
    assert_eq!(
        c.interpreters["python3.12"],
        PathBuf::from("/file/python3.12")
    );
    assert_eq!(c.interpreters["nodejs20.x"], PathBuf::from("/flag/node"));

    let c = run(&[], &env);
    assert_eq!(c.region, "ap-south-1", "the variable beats the file");
    assert_eq!(c.interpreters["nodejs20.x"], PathBuf::from("/file/node"));

    let c = run(&[], &[]);
    assert_eq!(c.region, "eu-west-1", "the file beats the default");
    assert_eq!(c.idle_timeout, Duration::from_secs(30));

    let empty = tempfile::tempdir().unwrap();
    let (c, _) = resolve_in(empty.path(), &[], &[]).unwrap();
    assert_eq!(c.region, "us-east-1");
    assert_eq!(c.idle_timeout, Duration::from_secs(600));
    assert!(c.interpreters.is_empty());

    // An empty variable counts as unset.
    let c = run(&[], &[("LAMBDAD_REGION", "")]);
    assert_eq!(c.region, "eu-west-1");
}

#[test]
fn the_file_is_named_by_flag_or_variable() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "region = \"eu-west-1\"\n").unwrap();
    std::fs::write(&b, "region = \"eu-west-2\"\n").unwrap();
    std::fs::write(dir.path().join("lambdad.toml"), "region = \"eu-west-3\"\n").unwrap();
    let region =
        |args: &[&str], vars: &[(&str, &str)]| resolve_in(dir.path(), args, vars).unwrap().0.region;
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    assert_eq!(region(&[], &[]), "eu-west-3");
    assert_eq!(region(&[], &[("LAMBDAD_CONFIG", a)]), "eu-west-1");
    assert_eq!(
        region(&["--config", b], &[("LAMBDAD_CONFIG", a)]),
        "eu-west-2"
    );
    // Relative to the directory it is resolved in.
    assert_eq!(region(&["--config", "b.toml"], &[]), "eu-west-2");
    let missing = format!(
        "{:#}",
        resolve_in(dir.path(), &["--config", "nope.toml"], &[]).unwrap_err()
    );
    assert!(missing.contains("nope.toml"), "{missing}");
}

#[test]
fn network_and_client_timeout_come_from_the_environment() {
    let c = resolve(
        &[],
        &[
            ("LAMBDAD_NETWORK", "loopback"),
            ("LAMBDAD_CLIENT_TIMEOUT", "10s"),
        ],
    )
    .unwrap();
    assert_eq!(c.network, NetworkMode::Loopback);
    assert_eq!(c.client_timeout, Duration::from_secs(10));
    let e = error(&[], &[("LAMBDAD_NETWORK", "vpc")]);
    assert_eq!(
        e,
        "invalid value \"vpc\" of LAMBDAD_NETWORK: network must be host, loopback or none, not \"vpc\""
    );
}

#[test]
fn unknown_variables_warn_with_the_closest_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (c, warnings) = resolve_in(
        dir.path(),
        &[],
        &[
            ("LAMBDAD_IDLE_TIMOUT", "5m"),
            ("LAMBDAD_FOO", "1"),
            ("LAMBDAD_LOG", "debug"),
            ("LAMBDAD_INTERPRETER", "python3.12=/x"),
            ("NOT_LAMBDAD_X", "1"),
        ],
    )
    .unwrap();
    assert_eq!(c.idle_timeout, Duration::from_secs(600), "ignored");
    assert_eq!(
        warnings,
        [
            "unknown environment variable LAMBDAD_FOO ignored (the closest known setting is LAMBDAD_LOG)",
            "unknown environment variable LAMBDAD_IDLE_TIMOUT ignored (did you mean LAMBDAD_IDLE_TIMEOUT?)",
            "unknown environment variable LAMBDAD_INTERPRETER ignored (the closest known setting is LAMBDAD_STORE)",
        ]
    );
}

#[test]
fn bad_values_name_their_source() {
    assert_eq!(
        error(&[], &[("LAMBDAD_IDLE_TIMEOUT", "soon")]),
        "invalid value \"soon\" of LAMBDAD_IDLE_TIMEOUT: expected number at 0"
    );
    assert_eq!(
        error(&[], &[("LAMBDAD_SANDBOX", "docker")]),
        "invalid value \"docker\" of LAMBDAD_SANDBOX: expected one of auto, namespace, process"
    );
    assert_eq!(
        error(&[], &[("LAMBDAD_CONCURRENCY_LIMIT", "many")]),
        "invalid value \"many\" of LAMBDAD_CONCURRENCY_LIMIT: invalid digit found in string"
    );
    assert_eq!(
        error(&[], &[("LAMBDAD_ACCOUNT_ID", "12")]),
        "account id must be 12 digits, got \"12\""
    );
    assert!(ServeFlags::parse(["--idle-timeout", "soon"]).is_err());
}

fn file_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lambdad.toml"), text).unwrap();
    let e = resolve_in(dir.path(), &[], &[]).unwrap_err();
    let e = format!("{e:#}");
    let prefix = format!(
        "invalid configuration file {}: ",
        dir.path().join("lambdad.toml").display()
    );
    e.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{e}"))
        .to_owned()
}

#[test]
fn file_mistakes_are_errors_on_one_line() {
    assert_eq!(
        file_error("regoin = \"eu-west-1\"\n"),
        "unknown key \"regoin\" (did you mean region?)"
    );
    assert_eq!(
        file_error("config = \"other.toml\"\n"),
        "unknown key \"config\" (the closest known setting is account_id)"
    );
    assert_eq!(
        file_error("idle_timeout = 30\n"),
        "idle_timeout: time unit needed, for example 30sec or 30ms"
    );
    assert_eq!(
        file_error("region = [\"a\"]\n"),
        "region: expected a single value, not array"
    );
    assert_eq!(
        file_error("[interpreters]\n\"ruby3.3\" = \"/usr/bin/ruby\"\n"),
        "interpreters: ruby3.3 is not a managed runtime (python3.x or nodejsNN.x)"
    );
    let syntax = file_error("region = \n");
    assert!(syntax.starts_with("line 1, column 10: "), "{syntax}");
    assert!(!syntax.contains('\n'), "{syntax}");
}

#[test]
fn names_derive_from_the_flags() {
    for s in settings() {
        match (&s.flag, &s.var, &s.key) {
            (Some(flag), Some(var), key) => {
                let stem = flag.replace('-', "_");
                assert_eq!(*var, format!("LAMBDAD_{}", stem.to_ascii_uppercase()));
                assert!(
                    key.is_none() || key.as_deref() == Some(stem.as_str()),
                    "{s:?}"
                );
            }
            (Some(flag), None, Some(key)) => {
                assert!(s.repeatable && key.starts_with(flag.as_str()), "{s:?}")
            }
            (None, Some(var), None) => assert_eq!(var, "LAMBDAD_LOG"),
            _ => panic!("{s:?}"),
        }
    }
}

#[test]
fn edit_distances() {
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("IDLE_TIMOUT", "IDLE_TIMEOUT"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}

/// The README's configuration table: (flag, variable, toml key) per row.
fn readme_table() -> BTreeSet<(Option<String>, Option<String>, Option<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Configuration\n"))
        .expect("README.md has a Configuration section");
    let first_code = |cell: &str| cell.split('`').nth(1).map(str::to_owned);
    let mut rows = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with('|')).skip(2) {
        let line = line.replace("\\|", "/");
        let cells: Vec<&str> = line.split('|').collect();
        assert!(cells.len() >= 5, "a row of four cells: {line}");
        let flag = first_code(cells[1]).map(|c| {
            let c = c
                .strip_prefix("--")
                .unwrap_or_else(|| panic!("a flag: {line}"));
            c.split(' ').next().unwrap().to_owned()
        });
        let key = first_code(cells[3]).map(|k| k.trim_matches(['[', ']']).to_owned());
        assert!(
            rows.insert((flag, first_code(cells[2]), key)),
            "a duplicate row: {line}"
        );
    }
    rows
}

#[test]
fn the_readme_table_lists_every_setting() {
    let documented = readme_table();
    let known: BTreeSet<_> = settings()
        .into_iter()
        .map(|s| (s.flag, s.var, s.key))
        .collect();
    let undocumented: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "settings missing from README.md: {undocumented:?}; README rows lambdad does not know: {unknown:?}"
    );
}

#[test]
fn brokers_and_secrets_add_up_from_file_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lambdad.toml"),
        "[brokers]\nmain = \"amqp://127.0.0.1:5672\"\nother = \"amqp://10.0.0.1:5672\"\n\
         [secrets]\n\"arn:aws:secretsmanager:us-east-1:000000000000:secret:mq\" = \"guest:guest\"\n",
    )
    .unwrap();
    let (c, _) = resolve_in(
        dir.path(),
        &["--broker", "other=amqp://u:p@127.0.0.1:5673"],
        &[],
    )
    .unwrap();
    assert_eq!(c.brokers.urls["main"], "amqp://127.0.0.1:5672");
    assert_eq!(c.brokers.urls["other"], "amqp://u:p@127.0.0.1:5673");
    assert_eq!(
        c.brokers.secrets["arn:aws:secretsmanager:us-east-1:000000000000:secret:mq"],
        ("guest".to_owned(), "guest".to_owned())
    );
    assert!(
        error(&["--broker", "main=http://x"], &[]).contains("is not an amqp:// URL"),
        "{}",
        error(&["--broker", "main=http://x"], &[])
    );
    assert!(error(&["--broker", "a b=amqp://x"], &[]).contains("is not a broker name"));
    assert!(error(&["--secret", "arn:aws:s3:::b=u:p"], &[]).contains("not a Secrets Manager"));
    assert_eq!(
        file_error("[brokers]\nmain = \"nope\"\n"),
        "brokers: \"nope\" is not an amqp:// URL"
    );
}
