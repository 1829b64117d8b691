//! `lambdad __sandbox-init`: the helper that turns a [`SandboxSpec`] into an
//! isolated process. It runs single-threaded, before any runtime exists.
//!
//! Protocol: the server starts the helper with the runtime's `cgroup.procs`
//! files as arguments, writes one line of JSON [`InitMessage`] to its stdin
//! and keeps stdin open as long as the environment lives; the helper's stdout
//! and stderr are the runtime's. The helper exits with the runtime's exit
//! code, or 128 + signal number.

use std::ffi::CString;
use std::fs;
use std::io::{BufRead, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{
    ForkResult, Gid, Uid, chdir, execve, fork, pivot_root, setgroups, sethostname, setresgid,
    setresuid,
};
use serde::{Deserialize, Serialize};

use crate::spec::SandboxSpec;

/// What the server sends the helper.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InitMessage {
    pub spec: SandboxSpec,
    /// Empty host directory the new root is mounted on (private to the mount namespace).
    pub root_dir: PathBuf,
}

/// Host directories visible read-only inside every sandbox.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];
/// Device nodes bound into the sandbox's /dev.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn fail(step: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("lambdad sandbox: {step}: {e}");
    std::process::exit(126)
}

/// Entry point of `lambdad __sandbox-init [CGROUP_PROCS...]`; never returns.
///
/// Everything that does not depend on the spec happens before it is read,
/// so that a helper started ahead of need (see `pool`) has done it by the
/// time a cold start sends the spec: the namespaces are unshared, the
/// runtime-to-be is forked and placed in the cgroups named by the arguments
/// (their limits are set before the spec is sent), and waits for the spec,
/// which the helper passes on to it.
pub fn init_main() -> ! {
    let cgroup_procs: Vec<PathBuf> = std::env::args_os().skip(2).map(PathBuf::from).collect();
    // The server writes the spec to our stdin and keeps it open for as long
    // as it lives (the lifeline, see `watch_lifeline`); the runtime's stdin
    // is /dev/null.
    let lifeline = nix::unistd::dup(std::io::stdin()).unwrap_or_else(|e| fail("dup stdin", e));
    if let Err(e) = nix::fcntl::fcntl(
        &lifeline,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    ) {
        fail("lifeline", e);
    }
    match fs::File::open("/dev/null") {
        Ok(null) => {
            if let Err(e) = nix::unistd::dup2_stdin(&null) {
                fail("redirecting stdin", e);
            }
        }
        Err(e) => fail("opening /dev/null", e),
    }
    let lifeline_fd = std::os::fd::AsRawFd::as_raw_fd(&lifeline);
    let (runtime_pid, spec) = watch_lifeline(lifeline);
    if let Err(e) = unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS,
    ) {
        fail("unshare", e);
    }
    let (spec_r, spec_w) = nix::unistd::pipe().unwrap_or_else(|e| fail("pipe", e));
    // SAFETY: besides this thread there is only the lifeline thread, waiting
    // for the runtime's pid before it reads anything and holding no lock, and
    // glibc's fork keeps malloc consistent: the child may run arbitrary code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(spec_w);
            // The lifeline is the helper's: a helper that dies must leave
            // the server's end of it without a reader.
            let _ = nix::unistd::close(lifeline_fd);
            // The helper (single-threaded) is our parent: if it dies, so do we.
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            run_child(&read_spec(spec_r))
        }
        Ok(ForkResult::Parent { child }) => {
            drop(spec_r);
            for procs in &cgroup_procs {
                if let Err(e) = fs::write(procs, child.as_raw().to_string()) {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    fail(&format!("joining cgroup {}", procs.display()), e);
                }
            }
            let _ = runtime_pid.send(child);
            // Only once the server has sent it (the lifeline thread ends the
            // helper if the server goes away first).
            if let Ok(line) = spec.recv() {
                let mut to_child = fs::File::from(spec_w);
                if let Err(e) = to_child.write_all(&line) {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    fail("passing the spec on", e);
                }
            }
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => std::process::exit(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => std::process::exit(128 + sig as i32),
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => fail("waiting for the runtime", e),
                }
            }
        }
        Err(e) => fail("fork", e),
    }
}

/// The spec, as the helper passes it on (all of it, then end of file).
fn read_spec(fd: OwnedFd) -> InitMessage {
    let mut input = Vec::new();
    if let Err(e) = fs::File::from(fd).read_to_end(&mut input) {
        fail("reading the spec", e);
    }
    serde_json::from_slice(&input).unwrap_or_else(|e| fail("parsing the spec", e))
}

/// Watches the server's end of our stdin. It first carries the spec (one
/// line), sent on the returned receiver; then, when it closes, the server is
/// gone (even by SIGKILL), and the runtime (with its PID namespace) is
/// killed, so that nothing of an environment outlives the server. The thread
/// reads nothing before the runtime's pid arrives on the returned sender,
/// once the runtime is forked. Started before the PID namespace is unshared
/// (no thread can be created after).
fn watch_lifeline(
    lifeline: OwnedFd,
) -> (
    std::sync::mpsc::Sender<nix::unistd::Pid>,
    std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let (spec_tx, spec_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("lifeline".into())
        .spawn(move || {
            let runtime = pid_rx.recv().ok();
            let mut input = std::io::BufReader::new(fs::File::from(lifeline));
            let mut line = Vec::new();
            if matches!(input.read_until(b'\n', &mut line), Ok(n) if n > 0) && line.ends_with(b"\n")
            {
                let _ = spec_tx.send(line);
                // Nothing more is ever written: any return means the server went away.
                let mut buf = [0u8; 64];
                while matches!(input.read(&mut buf), Ok(n) if n > 0) {}
            }
            if let Some(runtime) = runtime {
                let _ = nix::sys::signal::kill(runtime, nix::sys::signal::Signal::SIGKILL);
            }
            std::process::exit(137);
        });
    if let Err(e) = spawned {
        fail("starting the lifeline thread", e);
    }
    (pid_tx, spec_rx)
}

fn bind(source: &Path, target: &Path, writable: bool) -> Result<(), String> {
    let is_dir = source.is_dir();
    if is_dir {
        fs::create_dir_all(target).map_err(|e| format!("mkdir {}: {e}", target.display()))?;
    } else {
        if let Some(p) = target.parent() {
            fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        }
        fs::write(target, b"").map_err(|e| format!("create {}: {e}", target.display()))?;
    }
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("bind {} -> {}: {e}", source.display(), target.display()))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID;
    if !writable {
        flags |= MsFlags::MS_RDONLY;
    }
    if !target.starts_with("/dev") && !target.to_string_lossy().contains("/dev/") {
        flags |= MsFlags::MS_NODEV;
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(|e| format!("remount {}: {e}", target.display()))
}

/// What container runtimes hide of /proc: kernel memory, keyrings, timers,
/// and hardware inventories read as empty (files) or as empty read-only
/// directories; the kernel's tunables and triggers are read-only. /sys is
/// not mounted at all.
const PROC_MASKED: &[&str] = &[
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "acpi",
    "asound",
    "scsi",
];
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];

fn mask_proc(proc_dir: &Path) -> Result<(), String> {
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for name in PROC_MASKED {
        let target = proc_dir.join(name);
        let Ok(meta) = fs::symlink_metadata(&target) else {
            continue;
        };
        let masked = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                ro,
                Some("size=0k,mode=0555"),
            )
        } else {
            mount(
                Some("/dev/null"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        masked.map_err(|e| format!("mask /proc/{name}: {e}"))?;
    }
    for name in PROC_READ_ONLY {
        let target = proc_dir.join(name);
        if fs::symlink_metadata(&target).is_err() {
            continue;
        }
        mount(
            Some(&target),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .and_then(|()| {
            mount(
                None::<&str>,
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro,
                None::<&str>,
            )
        })
        .map_err(|e| format!("read-only /proc/{name}: {e}"))?;
    }
    Ok(())
}

fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn build_root(msg: &InitMessage) -> Result<(), String> {
    let spec = &msg.spec;
    let root = &msg.root_dir;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))?;
    if let Some(rootfs) = &spec.rootfs {
        // An image's root, read-only from the start: nothing is created in
        // it (its mount points exist), as other environments share it.
        bind(rootfs, root, false)?;
    } else {
        mount(
            Some("tmpfs"),
            root,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("size=4m,mode=0755"),
        )
        .map_err(|e| format!("mount root tmpfs on {}: {e}", root.display()))?;
    }
    for dir in SYSTEM_DIRS.iter().filter(|_| spec.rootfs.is_none()) {
        let host = Path::new(dir);
        let target = inside(root, host);
        match fs::symlink_metadata(host) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(host).map_err(|e| format!("readlink {dir}: {e}"))?;
                symlink(&link, &target).map_err(|e| format!("symlink {dir}: {e}"))?;
            }
            Ok(m) if m.is_dir() => bind(host, &target, false)?,
            _ => {}
        }
    }
    // The private /tmp comes before the binds, so that a bind whose path
    // is under /tmp (an interpreter installed there) stays visible.
    let tmp = inside(root, Path::new("/tmp"));
    fs::create_dir_all(&tmp).map_err(|e| format!("mkdir /tmp: {e}"))?;
    let opts = format!("size={},mode=1777", spec.tmp_bytes.max(4096));
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(|e| format!("mount /tmp: {e}"))?;
    for b in &spec.binds {
        bind(&b.source, &inside(root, &b.target), b.writable)?;
    }
    let proc_dir = inside(root, Path::new("/proc"));
    fs::create_dir_all(&proc_dir).map_err(|e| format!("mkdir /proc: {e}"))?;
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mount /proc: {e}"))?;
    mask_proc(&proc_dir)?;
    let dev = inside(root, Path::new("/dev"));
    fs::create_dir_all(&dev).map_err(|e| format!("mkdir /dev: {e}"))?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=64k,mode=0755"),
    )
    .map_err(|e| format!("mount /dev: {e}"))?;
    for d in DEVICES {
        let host = Path::new("/dev").join(d);
        if host.exists() {
            bind(&host, &dev.join(d), true)?;
        }
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name)).map_err(|e| format!("symlink /dev/{name}: {e}"))?;
    }
    if spec.rootfs.is_some() {
        // No directory for the old root in a shared, read-only image: the
        // old root is stacked under the new one and detached from there.
        chdir(root).map_err(|e| format!("chdir {}: {e}", root.display()))?;
        pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("umount old root: {e}"))?;
        chdir("/").map_err(|e| format!("chdir /: {e}"))?;
        return Ok(());
    }
    let old = root.join(".oldroot");
    fs::create_dir_all(&old).map_err(|e| format!("mkdir .oldroot: {e}"))?;
    pivot_root(root, &old).map_err(|e| format!("pivot_root: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    umount2("/.oldroot", MntFlags::MNT_DETACH).map_err(|e| format!("umount old root: {e}"))?;
    fs::remove_dir("/.oldroot").map_err(|e| format!("rmdir old root: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("remount / read-only: {e}"))?;
    Ok(())
}

fn drop_privileges(spec: &SandboxSpec) -> Result<(), String> {
    sethostname(&spec.hostname).map_err(|e| format!("sethostname: {e}"))?;
    let gid = Gid::from_raw(spec.gid);
    let uid = Uid::from_raw(spec.uid);
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
    // Leaving uid 0 for a non-zero uid clears every capability set.
    setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    crate::seccomp::install(spec.deny_listen).map_err(|e| format!("seccomp: {e}"))
}

fn cstring(s: &str, what: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| fail(what, "contains a NUL byte"))
}

fn run_child(msg: &InitMessage) -> ! {
    if let Some(path) = &msg.spec.netns {
        let joined = fs::File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|ns| setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string()));
        if let Err(e) = joined {
            fail(
                &format!("joining the network namespace {}", path.display()),
                e,
            );
        }
    }
    if let Err(e) = build_root(msg) {
        fail("building the root", e);
    }
    if let Err(e) = drop_privileges(&msg.spec) {
        fail("dropping privileges", e);
    }
    let spec = &msg.spec;
    if let Err(e) = chdir(&spec.cwd) {
        fail(&format!("chdir {}", spec.cwd.display()), e);
    }
    let Some(program) = spec.argv.first() else {
        fail("exec", "empty argv")
    };
    let argv: Vec<CString> = spec.argv.iter().map(|a| cstring(a, "argv")).collect();
    let env: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}"), "environment"))
        .collect();
    let err = execve(&cstring(program, "argv"), &argv, &env).unwrap_err();
    fail(&format!("exec {program}"), err)
}
