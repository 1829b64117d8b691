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

#[test]
fn prestarted_helpers_run_environments_under_the_spec_limits() {
    let Some((_dir, b, task)) = with_a_prestarted_helper() else {
        return;
    };
    // The memory limit comes with the spec, after the helper's cgroups were made.
    let hog = "grep memory /proc/self/cgroup; x=a; while true; do x=\"$x$x\"; done";
    let mut sb = b.spawn(&spec("hog", hog, &task, 32)).unwrap();
    let mut out = String::new();
    sb.take_stdout().unwrap().read_to_string(&mut out).unwrap();
    let exit = sb.wait().unwrap();
    assert!(
        out.trim_end().ends_with("/pool-1"),
        "the prestarted cgroup: {out}"
    );
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert!(exit.oom_killed, "{exit:?}");
    drop(sb);
    // The pool starts a replacement, which runs the next environment.
    wait_prestarted(&b, 1);
    let (out, err, exit) = run(
        &b,
        &spec("next", "grep memory /proc/self/cgroup; id -u", &task, 64),
    );
    assert_eq!(exit.code, Some(0), "stdout {out} stderr {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("/pool-2"), "{out}");
    assert_eq!(lines[1], "993");
    // Dropping the backend ends the helper that waits again and leaves no cgroup.
    wait_prestarted(&b, 1);
    drop(b);
    let path = lines[0].splitn(3, ':').nth(2).unwrap();
    let instance = Path::new("/sys/fs/cgroup/memory")
        .join(path.trim_start_matches('/'))
        .parent()
        .unwrap()
        .to_owned();
    assert!(!instance.exists(), "{} is left", instance.display());
}

/// The pids of processes whose memory cgroup is `suffix` (a path's end).
fn in_cgroup(suffix: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| {
                c.lines()
                    .any(|l| l.contains(":memory:") && l.ends_with(suffix))
            })
        })
        .collect()
}

#[test]
fn a_dead_prestarted_helper_is_replaced_by_a_new_one() {
    let Some((dir, b, task)) = with_a_prestarted_helper() else {
        return;
    };
    // The server's cgroup subtree is named by a hash of its roots directory.
    let roots = dir.path().join("roots").canonicalize().unwrap();
    let instance = roots
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    // The helper is in the pool from its start; its child joins the cgroup soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let found = in_cgroup(&format!("/{instance:016x}/pool-1"));
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
    let (out, err, exit) = run(
        &b,
        &spec("after-death", "grep memory /proc/self/cgroup", &task, 64),
    );
    assert_eq!(exit.code, Some(0), "stdout {out} stderr {err}");
    assert!(
        out.trim_end().ends_with("/after-death"),
        "a new helper: {out}"
    );
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
