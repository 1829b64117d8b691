//! Isolation, observed from inside by a probe function built with
//! lambda_runtime, in the namespace sandbox (the default on a root host).

use serde_json::{Value, json};

use crate::common::{
    TestServer, create_function, files_under, fixture_zip, host_alone, invoke, zip_files,
};

/// Whether the tests run as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Asserts that the server runs the namespace sandbox. It needs root: without
/// it the test fails (it never passes by skipping).
pub(crate) fn require_namespace_sandbox(server: &TestServer) {
    assert!(
        is_root(),
        "this test needs the namespace sandbox, which needs root: run the tests as root (CI does; .ci/run requires it)"
    );
    assert!(
        server.log().contains("backend=\"namespace\""),
        "as root the namespace sandbox must be used; log:\n{}",
        server.log()
    );
}

pub(crate) async fn probe(lambda: &aws_sdk_lambda::Client, name: &str, event: Value) -> Value {
    let r = invoke(lambda, name, event.clone()).await;
    assert_eq!(r.function_error, None, "probe {event} failed: {}", r.json);
    r.json
}

pub(crate) fn errno(v: &Value) -> i64 {
    v["errno"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an OS error, saw {v}"))
}

#[tokio::test]
async fn probes_see_only_their_own_world() {
    let server = TestServer::start().await;
    require_namespace_sandbox(&server);
    let lambda = server.lambda().await;
    create_function(&lambda, "probe-a", fixture_zip("probe")).await;
    create_function(&lambda, "probe-b", fixture_zip("probe")).await;
    let secret = zip_files(&[
        ("bootstrap", b"#!/bin/sh\n", 0o755),
        ("secret.txt", b"other function's secret", 0o644),
    ]);
    create_function(&lambda, "victim", secret).await;

    // Another function's code is not reachable through any host path.
    let victim_dir = files_under(&server.data_dir().join("code"))
        .into_iter()
        .find(|p| p.ends_with("secret.txt"))
        .map(|p| server.data_dir().join("code").join(p))
        .expect("victim's code is on the host");
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "read", "path": victim_dir.to_str().unwrap()}),
    )
    .await;
    assert_eq!(errno(&v), 2, "ENOENT for {}: {v}", victim_dir.display());
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "ls", "path": server.data_dir().to_str().unwrap()}),
    )
    .await;
    assert_eq!(errno(&v), 2, "the data dir is invisible: {v}");
    let v = probe(&lambda, "probe-a", json!({"op": "ls", "path": "/root"})).await;
    assert_eq!(errno(&v), 2, "/root is invisible: {v}");
    let v = probe(&lambda, "probe-a", json!({"op": "ls", "path": "/var/task"})).await;
    assert_eq!(
        v["ok"],
        json!(["bootstrap"]),
        "its own code is at /var/task: {v}"
    );

    // Its own code is read-only; /tmp is writable and private.
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "write", "path": "/var/task/bootstrap"}),
    )
    .await;
    assert_eq!(errno(&v), 30, "EROFS: {v}");
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "write", "path": "/tmp/shared"}),
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let v = probe(
        &lambda,
        "probe-b",
        json!({"op": "read", "path": "/tmp/shared"}),
    )
    .await;
    assert_eq!(errno(&v), 2, "/tmp is not shared between functions: {v}");
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "read", "path": "/tmp/shared"}),
    )
    .await;
    assert_eq!(v["ok"], "probe", "{v}");

    // Unprivileged, in its own PID namespace, unable to reach the host's processes.
    let v = probe(&lambda, "probe-a", json!({"op": "whoami"})).await;
    let uid_a = v["ok"]["uid"].as_u64().unwrap();
    assert!(
        (20_000..60_000).contains(&uid_a),
        "an unprivileged uid of its own: {v}"
    );
    let v = probe(&lambda, "probe-b", json!({"op": "whoami"})).await;
    let uid_b = v["ok"]["uid"].as_u64().unwrap();
    assert_ne!(uid_a, uid_b, "each environment has its own uid");
    let v = probe(&lambda, "probe-a", json!({"op": "whoami"})).await;
    assert_eq!(
        v["ok"]["pid"], 1,
        "the runtime is PID 1 of its own namespace: {v}"
    );
    let v = probe(&lambda, "probe-a", json!({"op": "ps"})).await;
    let pids: Vec<i64> = v["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(pids, vec![1], "only itself is visible: {v}");
    let server_pid = std::process::id(); // any host pid outside the sandbox
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "kill", "pid": server_pid, "sig": 9}),
    )
    .await;
    assert_eq!(
        errno(&v),
        3,
        "ESRCH: host processes cannot be signalled: {v}"
    );
    // /proc is masked as container runtimes mask it; /sys is absent.
    for file in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        let v = probe(&lambda, "probe-a", json!({"op": "read", "path": file})).await;
        assert!(v["ok"] == "" || errno(&v) == 2, "{file} reads empty: {v}");
    }
    let v = probe(
        &lambda,
        "probe-a",
        json!({"op": "ls", "path": "/proc/acpi"}),
    )
    .await;
    assert!(
        v["ok"] == json!([]) || errno(&v) == 2,
        "/proc/acpi is empty: {v}"
    );
    for file in [
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/overcommit_memory",
    ] {
        let v = probe(&lambda, "probe-a", json!({"op": "write", "path": file})).await;
        assert_eq!(errno(&v), 30, "EROFS: {file} is read-only: {v}");
    }
    let v = probe(&lambda, "probe-a", json!({"op": "ls", "path": "/sys"})).await;
    assert_eq!(errno(&v), 2, "ENOENT: no /sys: {v}");
    let v = probe(&lambda, "probe-a", json!({"op": "mount"})).await;
    assert_eq!(errno(&v), 1, "EPERM: {v}");
    let v = probe(&lambda, "probe-a", json!({"op": "ptrace", "pid": 1})).await;
    assert_eq!(errno(&v), 1, "EPERM: {v}");
    let v = probe(&lambda, "probe-a", json!({"op": "raw_socket"})).await;
    assert_eq!(errno(&v), 1, "EPERM: no raw sockets: {v}");
    // The seccomp filter's verdicts, each on a call that would otherwise
    // fail differently (or succeed): calls outside the allowlist fail with
    // ENOSYS, host-changing ones with EPERM.
    for (nr, args, expected) in [
        (libc::SYS_getppid, json!([]), None),
        (libc::SYS_io_uring_setup, json!([1, 0]), Some(38)),
        (libc::SYS_setns, json!([-1, 0]), Some(1)),
        (libc::SYS_bpf, json!([0, 0, 0]), Some(1)),
        (libc::SYS_unshare, json!([libc::CLONE_NEWUSER]), Some(1)),
        (1000, json!([]), Some(38)),
        (0x4000_0000 + libc::SYS_getppid, json!([]), Some(38)),
    ] {
        let v = probe(
            &lambda,
            "probe-a",
            json!({"op": "syscall", "nr": nr, "args": args}),
        )
        .await;
        match expected {
            Some(e) => assert_eq!(errno(&v), e, "syscall {nr}: {v}"),
            None => assert!(v["ok"].is_i64(), "syscall {nr}: {v}"),
        }
    }
    let v = probe(&lambda, "probe-a", json!({"op": "caps"})).await;
    let status: Vec<&str> = v["ok"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        let line = status.iter().find(|l| l.starts_with(set)).unwrap();
        assert!(
            line.ends_with("0000000000000000"),
            "no capabilities: {line}"
        );
    }
    assert!(status.contains(&"NoNewPrivs:\t1"), "{status:?}");
    assert!(
        status.contains(&"Seccomp:\t2"),
        "a seccomp filter: {status:?}"
    );
}

#[tokio::test]
async fn fork_bombs_and_memory_hogs_are_contained() {
    let server = TestServer::start().await;
    require_namespace_sandbox(&server);
    let lambda = server.lambda().await;
    create_function(&lambda, "bomb", fixture_zip("probe")).await;
    create_function(&lambda, "bystander", fixture_zip("behave")).await;
    // Enough memory that the pids limit, not the memory limit, is what stops the bomb.
    lambda
        .update_function_configuration()
        .function_name("bomb")
        .memory_size(2048)
        .timeout(60)
        .send()
        .await
        .unwrap();
    let v = probe(&lambda, "bomb", json!({"op": "forkbomb", "n": 3000})).await;
    let started = v["ok"]["started"].as_u64().unwrap();
    assert!(started < 1024, "the pids limit stopped the bomb: {v}");
    assert!(v["ok"]["failed"].is_string(), "{v}");

    lambda
        .update_function_configuration()
        .function_name("bomb")
        .memory_size(128)
        .timeout(30)
        .send()
        .await
        .unwrap();
    let r = invoke(&lambda, "bomb", json!({"op": "alloc", "mb": 1024})).await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"), "{}", r.json);
    assert_eq!(r.json["errorType"], "Runtime.OutOfMemory", "{}", r.json);
    assert!(
        r.json["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: signal: killed"),
        "{}",
        r.json
    );

    // The server and other functions carry on; the hog's function recovers in a new environment.
    let r = invoke(&lambda, "bystander", json!({"op": "echo", "still": "here"})).await;
    assert_eq!(r.json, json!({"op": "echo", "still": "here"}));
    let v = probe(&lambda, "bomb", json!({"op": "whoami"})).await;
    assert!(v["ok"]["uid"].as_u64().is_some_and(|u| u >= 20_000), "{v}");

    // /tmp is capped at the function's EphemeralStorage: filling it ends in
    // ENOSPC. (Its pages count against the memory limit, hence 1 GB here.)
    create_function(&lambda, "tmpfill", fixture_zip("probe")).await;
    lambda
        .update_function_configuration()
        .function_name("tmpfill")
        .memory_size(1024)
        .send()
        .await
        .unwrap();
    let v = probe(&lambda, "tmpfill", json!({"op": "fill_tmp"})).await;
    assert_eq!(v["errno"], 28, "ENOSPC: {v}");
    let written = v["written"].as_u64().unwrap();
    assert!(written <= 512 << 20, "no more than 512 MB: {v}");
}

/// The sandbox helpers (one per environment) of the server process `server`.
fn helpers_of(server: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(server) && cmdline.windows(14).any(|w| w == b"__sandbox-init") {
            found.push(pid);
        }
    }
    found
}

#[tokio::test]
async fn environments_do_not_outlive_a_killed_server() {
    let mut server = TestServer::start().await;
    require_namespace_sandbox(&server);
    let lambda = server.lambda().await;
    create_function(&lambda, "orphan", fixture_zip("probe")).await;
    probe(&lambda, "orphan", json!({"op": "whoami"})).await;
    // One environment, one helper whose child runs the function; the others
    // were started ahead of need: their child waits for a spec, unexecuted.
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    };
    let runs_function = |pid: u32| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        cmdline.starts_with(b"/var/task/bootstrap")
    };
    let helpers = helpers_of(server.pid());
    let busy: Vec<u32> = helpers
        .iter()
        .copied()
        .filter(|&h| children(h).into_iter().any(runs_function))
        .collect();
    assert_eq!(busy.len(), 1, "one environment, one helper: {helpers:?}");
    let runtimes = children(busy[0]);
    assert_eq!(runtimes.len(), 1, "the helper's child is the runtime");
    let waiting: Vec<u32> = helpers.iter().flat_map(|&h| children(h)).collect();
    assert!(waiting.len() > 1, "helpers wait ready: {helpers:?}");
    server.kill9();
    // Each helper sees its lifeline close (and kills its runtime) and exits.
    let gone = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(helpers.iter().chain(&waiting).all(|&p| gone(p)) && gone(runtimes[0])) {
        assert!(
            std::time::Instant::now() < deadline,
            "the environment outlived the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The cgroup2 (or first cgroup) mount's superblock options.
fn cgroup_super_options() -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|l| l.contains(" - cgroup2 "))
        .or_else(|| mountinfo.lines().find(|l| l.contains(" - cgroup ")))
        .expect("a cgroup mount")
        .to_owned();
    line.rsplit(' ').next().unwrap().to_owned()
}

/// lambdad turns on the kernel's host-wide `favordynmods` cgroup option at
/// start, so that moving a new environment into its cgroups does not wait for
/// an RCU grace period; `--fast-cgroup-migration false` leaves it alone.
#[tokio::test]
async fn the_cgroup_hierarchy_favors_dynamic_migrations() {
    assert!(
        is_root(),
        "changing the cgroup hierarchy's options needs root: run the tests as root (CI does)"
    );
    // Host-wide: no other test's server may run (and turn the option on) meanwhile.
    let _alone = host_alone();
    let has = || {
        cgroup_super_options()
            .split(',')
            .any(|o| o == "favordynmods")
    };
    lambdad_sandbox::favor_dynamic_migrations(false).unwrap();
    assert!(!has(), "turned off: {}", cgroup_super_options());
    let off = TestServer::start_with(&["--fast-cgroup-migration", "false"]).await;
    require_namespace_sandbox(&off);
    assert!(!has(), "left alone: {}", cgroup_super_options());
    let server = TestServer::start().await;
    require_namespace_sandbox(&server);
    assert!(has(), "turned on: {}", cgroup_super_options());
    // A cold start still works with it.
    let lambda = server.lambda().await;
    create_function(&lambda, "fast-migration", fixture_zip("echo")).await;
    let r = invoke(&lambda, "fast-migration", json!({"x": 1})).await;
    assert_eq!(r.json, json!({"x": 1}));
}
