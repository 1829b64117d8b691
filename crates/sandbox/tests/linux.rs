//! The namespace backend on this host: each test runs a shell script inside
//! a sandbox and asserts what the script saw. Needs root (CI has it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambdad_sandbox::{Backend, Bind, Limits, NamespaceBackend, SandboxSpec};

fn backend(dir: &Path) -> Option<NamespaceBackend> {
    backend_with(dir, 0)
}

fn backend_with(dir: &Path, prestarted: usize) -> Option<NamespaceBackend> {
    // Fails, never skips: CI runs as root (.ci/run requires it).
    assert!(
        nix::unistd::geteuid().is_root(),
        "namespace sandboxes need root: run the tests as root"
    );
    Some(
        NamespaceBackend::new(
            Path::new(env!("CARGO_BIN_EXE_sandbox-test-helper")),
            &dir.join("roots"),
            prestarted,
        )
        .unwrap(),
    )
}

fn spec(id: &str, script: &str, task: &Path, memory_mb: u64) -> SandboxSpec {
    SandboxSpec {
        id: id.to_owned(),
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/var/task".into(),
        rootfs: None,
        binds: vec![Bind {
            source: task.to_owned(),
            target: "/var/task".into(),
            writable: false,
        }],
        tmp_bytes: 8 << 20,
        limits: Limits {
            memory_bytes: memory_mb << 20,
            pids_max: 32,
            cpu_weight: 100,
            cpu_quota_millis: 0,
        },
        uid: 993,
        gid: 990,
        hostname: "sandbox".into(),
        netns: None,
        deny_listen: false,
    }
}

fn run(
    backend: &NamespaceBackend,
    spec: &SandboxSpec,
) -> (String, String, lambdad_sandbox::ExitInfo) {
    let mut sb = backend.spawn(spec).unwrap();
    let mut out = String::new();
    let mut err = String::new();
    sb.take_stdout().unwrap().read_to_string(&mut out).unwrap();
    sb.take_stderr().unwrap().read_to_string(&mut err).unwrap();
    let exit = sb.wait().unwrap();
    (out, err, exit)
}

#[test]
fn the_sandbox_sees_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let Some(b) = backend(dir.path()) else { return };
    let task = dir.path().join("task");
    std::fs::create_dir(&task).unwrap();
    std::fs::write(task.join("code.txt"), "mine").unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let script = format!(
        "id -u; hostname; cat /var/task/code.txt; echo; ls /proc | grep -c '^[0-9]'; \
         cat {} 2>&1 | head -1; ls /root 2>&1 | head -1; touch /var/task/x 2>&1; echo tmp > /tmp/t && cat /tmp/t; \
         kill -9 1 2>&1; echo alive",
        secret.display()
    );
    let (out, err, exit) = run(&b, &spec("see-self", &script, &task, 64));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(exit.code, Some(0), "stdout {out} stderr {err}");
    assert_eq!(lines[0], "993", "runs as the unprivileged uid");
    assert_eq!(lines[1], "sandbox");
    assert_eq!(lines[2], "mine");
    let procs: u32 = lines[3].parse().unwrap();
    assert!(
        procs <= 4,
        "only the sandbox's own processes are visible, saw {procs}"
    );
    assert!(
        lines[4].contains("No such file"),
        "host temp files are invisible: {}",
        lines[4]
    );
    assert!(
        lines[5].contains("No such file") || lines[5].contains("Permission denied"),
        "{}",
        lines[5]
    );
    assert!(
        lines[6].contains("Read-only file system"),
        "/var/task is read-only: {}",
        lines[6]
    );
    assert_eq!(lines[7], "tmp");
    assert!(!task.join("x").exists());
}

#[test]
fn a_bind_under_tmp_stays_visible_beside_the_private_tmp() {
    // An interpreter installed under /tmp is bound at its own path: the
    // private /tmp must not hide it, and nothing else of the host's /tmp shows.
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let Some(b) = backend(dir.path()) else { return };
    let task = dir.path().join("task");
    let prefix = dir.path().join("prefix");
    std::fs::create_dir(&task).unwrap();
    std::fs::create_dir(&prefix).unwrap();
    std::fs::write(prefix.join("interp"), "bound").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "host secret").unwrap();
    let mut s = spec(
        "bind-under-tmp",
        &format!(
            "cat {}/interp; echo; cat {}/secret.txt 2>&1 | head -1; echo tmp > /tmp/t && cat /tmp/t",
            prefix.display(),
            dir.path().display()
        ),
        &task,
        64,
    );
    s.binds.push(Bind {
        source: prefix.clone(),
        target: prefix.clone(),
        writable: false,
    });
    let (out, err, exit) = run(&b, &s);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(exit.code, Some(0), "stdout {out} stderr {err}");
    assert_eq!(lines[0], "bound", "the bind under /tmp is visible");
    assert!(
        lines[1].contains("No such file"),
        "the rest of the host's /tmp is not: {}",
        lines[1]
    );
    assert_eq!(lines[2], "tmp", "the private /tmp is writable");
}

#[test]
fn memory_hog_is_killed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let Some(b) = backend(dir.path()) else { return };
    let task = dir.path().join("task");
    std::fs::create_dir(&task).unwrap();
    // Holds ever more memory in the shell's own heap.
    let script = "x=a; while true; do x=\"$x$x\"; done";
    let mut sb = b.spawn(&spec("hog", script, &task, 32)).unwrap();
    let exit = sb.wait().unwrap();
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert!(exit.oom_killed, "{exit:?}");
    assert!(
        sb.max_memory_bytes() >= 30 << 20,
        "{}",
        sb.max_memory_bytes()
    );
}

/// Waits until `b` has `n` helpers started ahead of need.
fn wait_prestarted(b: &NamespaceBackend, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.prestarted_ready() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "no helper was prestarted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A backend with one helper started ahead of need, ready, and a task dir.
fn with_a_prestarted_helper() -> Option<(tempfile::TempDir, NamespaceBackend, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let b = backend_with(dir.path(), 1)?;
    let task = dir.path().join("task");
    std::fs::create_dir(&task).unwrap();
    wait_prestarted(&b, 1);
    Some((dir, b, task))
}

/// The cgroup (relative to its hierarchy's root) that `/proc/self/cgroup`
/// output `out` names for the memory controller: the v2 line (`0::PATH`)
/// where the backend uses v2, else the v1 memory hierarchy's line.
fn memory_cgroup<'a>(b: &NamespaceBackend, out: &'a str) -> &'a str {
    out.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
        .find(|(_, controllers, _)| {
            if b.cgroup_v2() {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == "memory")
            }
        })
        .map(|(_, _, path)| path)
        .unwrap_or_else(|| panic!("no memory cgroup in {out}"))
}

/// Asserts that the environment that printed `out` ran in the memory cgroup
/// the backend gives environment `id`.
fn assert_ran_in(b: &NamespaceBackend, out: &str, id: &str) {
    let dir = b.cgroup_dir(id, "memory").expect("a memory cgroup");
    let path = memory_cgroup(b, out);
    assert!(
        dir.ends_with(path.trim_start_matches('/')) && path.ends_with(&format!("/{id}")),
        "ran in {path}, not in {}",
        dir.display()
    );
}

#[test]
fn prestarted_helpers_run_environments_under_the_spec_limits() {
    let Some((_dir, b, task)) = with_a_prestarted_helper() else {
        return;
    };
    // The memory limit comes with the spec, after the helper's cgroups were made.
    let hog = "cat /proc/self/cgroup; x=a; while true; do x=\"$x$x\"; done";
    let mut sb = b.spawn(&spec("hog", hog, &task, 32)).unwrap();
    let mut out = String::new();
    sb.take_stdout().unwrap().read_to_string(&mut out).unwrap();
    let exit = sb.wait().unwrap();
    assert_ran_in(&b, &out, "pool-1");
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert!(exit.oom_killed, "{exit:?}");
    drop(sb);
    // The pool starts a replacement, which runs the next environment.
    wait_prestarted(&b, 1);
    let (out, err, exit) = run(&b, &spec("next", "cat /proc/self/cgroup; id -u", &task, 64));
    assert_eq!(exit.code, Some(0), "stdout {out} stderr {err}");
    assert_ran_in(&b, &out, "pool-2");
    assert_eq!(out.lines().last(), Some("993"), "{out}");
    // Dropping the backend ends the helper that waits again and leaves no
    // cgroup, in any hierarchy.
    wait_prestarted(&b, 1);
    let instances: Vec<PathBuf> = b
        .cgroup_dirs("pool-3")
        .iter()
        .map(|d| d.parent().unwrap().to_owned())
        .collect();
    assert!(!instances.is_empty());
    assert!(instances.iter().all(|d| d.exists()), "{instances:?}");
    drop(b);
    for instance in instances {
        assert!(!instance.exists(), "{} is left", instance.display());
    }
}

/// The pids of processes in environment `id`'s memory cgroup.
fn in_cgroup(b: &NamespaceBackend, id: &str) -> Vec<i32> {
    let dir = b.cgroup_dir(id, "memory").expect("a memory cgroup");
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_dead_prestarted_helper_is_replaced_by_a_new_one() {
    let Some((_dir, b, task)) = with_a_prestarted_helper() else {
        return;
    };
    // The helper is in the pool from its start; its child joins the cgroup soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let found = in_cgroup(&b, "pool-1");
        if !found.is_empty() {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no child waits in the pool cgroup"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", waiting[0])).unwrap();
    let helper: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Dead (a zombie until the backend reaps it), its child with it.
    let dead = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    };
    while !(dead(helper) && dead(waiting[0])) {
        assert!(std::time::Instant::now() < deadline, "the helper lives on");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (out, err, exit) = run(&b, &spec("after-death", "cat /proc/self/cgroup", &task, 64));
    assert_eq!(exit.code, Some(0), "stdout {out} stderr {err}");
    // A new helper, in a cgroup of the environment's own.
    assert_ran_in(&b, &out, "after-death");
}

/// Starts `spec` (whose script prints `/proc/self/cgroup` and then `end`)
/// and returns the environment with the name of the cgroup it runs in.
fn spawn_and_name_cgroup(
    b: &NamespaceBackend,
    spec: &SandboxSpec,
) -> (lambdad_sandbox::Sandbox, String) {
    use std::io::BufRead;
    let mut sb = b.spawn(spec).unwrap();
    let mut lines = std::io::BufReader::new(sb.take_stdout().unwrap()).lines();
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "end" {
            break;
        }
        out.push_str(&line);
        out.push('\n');
    }
    let name = memory_cgroup(b, &out)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    (sb, name)
}

#[test]
fn environments_get_the_cpu_weight_and_quota_of_their_spec() {
    // Limits are written when a cgroup is made for the environment, and
    // when a helper started ahead of need (its cgroup made without limits)
    // is handed the environment: one environment of each.
    let cold_dir = tempfile::tempdir().unwrap();
    let Some(cold) = backend(cold_dir.path()) else {
        return;
    };
    let task = cold_dir.path().join("task");
    std::fs::create_dir(&task).unwrap();
    let Some((_pool_dir, pooled, _)) = with_a_prestarted_helper() else {
        return;
    };
    for (b, id, weight, expect_name) in [
        (&cold, "weighted", 250u64, "weighted"),
        (&pooled, "light", 50, "pool-1"),
    ] {
        let mut s = spec(
            id,
            "cat /proc/self/cgroup; echo end; exec sleep 30",
            &task,
            64,
        );
        s.limits.cpu_weight = weight;
        // Weight 250 comes with 2.5 CPUs, 50 with half a CPU.
        s.limits.cpu_quota_millis = weight * 10;
        let (mut sb, name) = spawn_and_name_cgroup(b, &s);
        assert_eq!(name, expect_name);
        let cpu = b.cgroup_dir(&name, "cpu").expect("a cpu controller");
        // cgroup v2 takes the weight as is (1-10000, default 100); v1's
        // cpu.shares are 1024 for weight 100.
        let (file, expected) = if b.cgroup_v2() {
            ("cpu.weight", weight)
        } else {
            ("cpu.shares", weight * 1024 / 100)
        };
        let value = std::fs::read_to_string(cpu.join(file)).unwrap();
        assert_eq!(
            value.trim().parse::<u64>().unwrap(),
            expected,
            "{}/{file}",
            cpu.display()
        );
        // The CFS quota per 100 ms period: v2 `cpu.max` is "QUOTA PERIOD".
        let quota_us = weight * 10 * 100;
        if b.cgroup_v2() {
            let max = std::fs::read_to_string(cpu.join("cpu.max")).unwrap();
            assert_eq!(max.trim(), format!("{quota_us} 100000"));
        } else {
            let read = |f: &str| {
                std::fs::read_to_string(cpu.join(f))
                    .unwrap()
                    .trim()
                    .to_owned()
            };
            assert_eq!(read("cpu.cfs_period_us"), "100000");
            assert_eq!(read("cpu.cfs_quota_us"), quota_us.to_string());
        }
        sb.kill();
        sb.wait().unwrap();
    }
}

#[test]
fn fork_bomb_is_contained_by_the_pids_limit() {
    let dir = tempfile::tempdir().unwrap();
    let Some(b) = backend(dir.path()) else { return };
    let task = dir.path().join("task");
    std::fs::create_dir(&task).unwrap();
    let script = "n=0; while [ $n -lt 100 ]; do sleep 5 & if [ $? -ne 0 ]; then break; fi; n=$((n+1)); done; echo started $(ls /proc | grep -c '^[0-9]')";
    let (out, err, _) = run(&b, &spec("bomb", script, &task, 64));
    let count: u32 = out.trim().rsplit(' ').next().unwrap().parse().unwrap_or(0);
    assert!(count <= 32, "at most pids.max processes: {out} {err}");
    assert!(
        err.contains("fork")
            || err.contains("Resource temporarily unavailable")
            || err.contains("retry"),
        "{err}"
    );
}

#[test]
fn freeze_stops_and_thaw_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(b) = backend(dir.path()) else { return };
    let task = dir.path().join("task");
    std::fs::create_dir(&task).unwrap();
    let mut sb = b
        .spawn(&spec(
            "freeze",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; done",
            &task,
            64,
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The shell is the only process in the environment's memory cgroup; its CPU
    // time (utime + stime in /proc/PID/stat) must not move while frozen.
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", sb.pid())).unwrap();
    let shell: u32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let cpu = || -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{shell}/stat")).unwrap();
        let f: Vec<u64> = s
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        f[0] + f[1]
    };
    sb.freeze().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let a = cpu();
    std::thread::sleep(Duration::from_millis(300));
    let b1 = cpu();
    assert_eq!(a, b1, "no CPU time while frozen");
    sb.thaw().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let c = cpu();
    assert!(c > b1, "runs again after thaw ({b1} -> {c})");
    sb.kill();
    let exit = sb.wait().unwrap();
    assert!(exit.signal.is_some() || exit.code.is_some());
}
