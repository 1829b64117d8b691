//! Zygotes: an environment's program started before its environment is
//! known, then handed it.
//!
//! A zygote is an ordinary sandbox (`init`) whose program runs at once: in
//! the fresh PID, mount, IPC and UTS namespaces of its own helper, as the
//! uid its start names, without capabilities, under seccomp, with the
//! start's binds (the runtime's) and empty mount points where the
//! environment's own binds will go, and no /tmp yet. A managed runtime's
//! interpreter imports its bootstrap there and waits on fd 3. The handover
//! (a second line on the helper's stdin) names the environment: the helper,
//! which stayed root in a mount namespace of its own, mounts the
//! environment's /tmp and binds into the zygote's root through mount
//! propagation (the root is a slave of a tmpfs the helper keeps shared),
//! then writes `{"env": [[NAME, VALUE], ...], "cwd": DIR}` to the program's
//! fd 3 and closes it; the program replaces its environment with `env`,
//! changes to `cwd` and becomes the environment's runtime.
//!
//! A zygote serves exactly one environment: nothing (namespace, memory,
//! descriptor) is shared between two environments, as for a fresh start.
//! Only a spec that would have started the same program the same way fits
//! (`fits`): same argv, uid, gid, hostname, seccomp, no network namespace
//! or image root, the zygote's variables present with the same values and
//! its binds all there; the other binds go to the mount points it prepared.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use serde::{Deserialize, Serialize};

use super::{InitMessage, build_root, exec, fail, inside};
use crate::spec::{Bind, SandboxSpec};

/// The zygote's root, under the helper's private tmpfs on the roots directory.
const ROOT: &str = "root";
/// Where the helper prepares a read-only bind before it moves into the root.
const STAGE: &str = "stage";
/// The descriptor the zygote's program reads its handover from.
pub const HANDOVER_FD: i32 = 3;

/// How a zygote starts: its spec (the id is not used; the limits come at
/// the handover) and the mount points its handover binds into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZygoteStart {
    /// What the program starts with.
    pub spec: SandboxSpec,
    /// Absolute paths left empty until the handover binds the
    /// environment's own directories there (e.g. its code).
    pub late: Vec<PathBuf>,
}

/// What the helper is handed: the second line on its stdin.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Handover {
    /// Bound at their targets (each one of the start's mount points).
    pub binds: Vec<Bind>,
    /// Size of the private /tmp in bytes.
    pub tmp_bytes: u64,
    /// The program's complete environment from now on.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub cwd: PathBuf,
}

/// Whether `start` can start a zygote.
pub(crate) fn check_start(start: &ZygoteStart) -> Result<(), String> {
    let spec = &start.spec;
    if spec.rootfs.is_some() || spec.netns.is_some() {
        return Err("a zygote runs on the host's system directories and network".into());
    }
    if spec.argv.is_empty() {
        return Err("a zygote needs a program".into());
    }
    for point in &start.late {
        if !plain_absolute(point) || point == Path::new("/tmp") {
            return Err(format!("bad zygote mount point {}", point.display()));
        }
    }
    // What the zygote sees from the start must not be covered later.
    for b in &spec.binds {
        if start
            .late
            .iter()
            .chain([&PathBuf::from("/tmp")])
            .any(|p| b.target.starts_with(p) || p.starts_with(&b.target))
        {
            return Err(format!(
                "the zygote's bind {} overlaps a later one",
                b.target.display()
            ));
        }
    }
    Ok(())
}

fn plain_absolute(p: &Path) -> bool {
    p.is_absolute()
        && p.components().count() > 1
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// The handover that makes the zygote `start` the environment `spec`, or
/// why it does not fit.
pub(crate) fn fits(start: &ZygoteStart, spec: &SandboxSpec) -> Result<Handover, String> {
    let z = &start.spec;
    if spec.argv != z.argv {
        return Err("another program".into());
    }
    if (spec.uid, spec.gid) != (z.uid, z.gid) {
        return Err("another user".into());
    }
    if spec.hostname != z.hostname || spec.deny_listen != z.deny_listen {
        return Err("another hostname or seccomp filter".into());
    }
    if spec.rootfs.is_some() || spec.netns.is_some() {
        return Err("an image root or a network namespace".into());
    }
    if let Some((k, _)) = z.env.iter().find(|kv| !spec.env.contains(kv)) {
        return Err(format!("the zygote's {k} differs"));
    }
    if let Some(b) = z.binds.iter().find(|b| !spec.binds.contains(b)) {
        return Err(format!("no bind at {}", b.target.display()));
    }
    let binds: Vec<Bind> = spec
        .binds
        .iter()
        .filter(|b| !z.binds.contains(b))
        .cloned()
        .collect();
    for (i, b) in binds.iter().enumerate() {
        if !start.late.contains(&b.target) || binds[..i].iter().any(|o| o.target == b.target) {
            return Err(format!("no mount point at {}", b.target.display()));
        }
        if !b.source.is_dir() {
            return Err(format!("{} is not a directory", b.source.display()));
        }
    }
    Ok(Handover {
        binds,
        tmp_bytes: spec.tmp_bytes,
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
    })
}

/// The roots directory of a zygote's first line, `None` for other sandboxes.
pub(crate) fn root_of(line: &[u8]) -> Option<PathBuf> {
    let msg: InitMessage = serde_json::from_slice(line).ok()?;
    msg.zygote.map(|_| msg.root_dir)
}

fn mnt(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(source, target, fstype, flags, data)
        .map_err(|e| format!("mount {}: {e}", target.display()))
}

/// In the helper, before its child reads the spec: a private tmpfs on the
/// roots directory holding the zygote's root (a tmpfs the helper keeps
/// shared, so that what it mounts there later reaches the child's copy)
/// and a staging mount point.
pub(crate) fn prepare(root_dir: &Path) -> Result<(), String> {
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    mnt(
        Some(Path::new("tmpfs")),
        root_dir,
        Some("tmpfs"),
        nodev,
        Some("size=16k,mode=0700"),
    )?;
    let (root, stage) = (root_dir.join(ROOT), root_dir.join(STAGE));
    for dir in [&root, &stage] {
        fs::create_dir(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    mnt(
        Some(Path::new("tmpfs")),
        &root,
        Some("tmpfs"),
        nodev,
        Some("size=4m,mode=0755"),
    )?;
    mnt(None, &root, None, MsFlags::MS_SHARED, None)
}

/// The zygote's side of the helper's fork: a mount namespace of its own
/// whose root receives the helper's later mounts, the root built without
/// the environment's binds, then the program, with `handover` as its fd 3.
pub(crate) fn run_child(msg: &InitMessage, handover: OwnedFd) -> ! {
    let root = msg.root_dir.join(ROOT);
    let late = msg.zygote.as_deref().unwrap_or_default();
    if let Err(e) = unshare(CloneFlags::CLONE_NEWNS) {
        fail("unshare", e);
    }
    if let Err(e) = mnt(None, &root, None, MsFlags::MS_SLAVE, None) {
        fail("making the zygote's root a slave", e);
    }
    if let Err(e) = build_root(&msg.spec, &root, Some(late)) {
        fail("building the root", e);
    }
    // The handover pipe becomes fd 3, left open across exec.
    let fd = handover.as_raw_fd();
    let placed = if fd == HANDOVER_FD {
        nix::fcntl::fcntl(
            &handover,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map(|_| ())
    } else {
        nix::fcntl::fcntl(&handover, nix::fcntl::FcntlArg::F_DUPFD(HANDOVER_FD)).and_then(|new| {
            if new == HANDOVER_FD {
                Ok(())
            } else {
                Err(nix::errno::Errno::EBADF)
            }
        })
    };
    if let Err(e) = placed {
        fail("placing the handover pipe", e);
    }
    // (`handover` stays open: exec replaces this image, and a copy at
    // another fd closes then, being close-on-exec.)
    exec(&msg.spec)
}

/// In the helper, at the handover: the environment's /tmp and binds
/// mounted into the zygote's root, then its environment and working
/// directory written to the program.
pub(crate) fn hand_over(root_dir: &Path, line: &[u8], program: OwnedFd) -> Result<(), String> {
    let h: Handover = serde_json::from_slice(line).map_err(|e| format!("parsing: {e}"))?;
    let (root, stage) = (root_dir.join(ROOT), root_dir.join(STAGE));
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let opts = format!("size={},mode=1777", h.tmp_bytes.max(4096));
    mnt(
        Some(Path::new("tmpfs")),
        &inside(&root, Path::new("/tmp")),
        Some("tmpfs"),
        nodev,
        Some(&opts),
    )?;
    for b in &h.binds {
        if !plain_absolute(&b.target) {
            return Err(format!("bad bind target {}", b.target.display()));
        }
        // Bound and made read-only where nothing propagates, then bound into
        // the root: the copy the child receives keeps the flags.
        mnt(
            Some(&b.source),
            &stage,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | nodev;
        if !b.writable {
            flags |= MsFlags::MS_RDONLY;
        }
        mnt(None, &stage, None, flags, None)?;
        mnt(
            Some(&stage),
            &inside(&root, &b.target),
            None,
            MsFlags::MS_BIND,
            None,
        )?;
        umount2(&stage, MntFlags::MNT_DETACH).map_err(|e| format!("umount stage: {e}"))?;
    }
    let message = serde_json::json!({ "env": h.env, "cwd": h.cwd });
    let mut out = fs::File::from(program);
    out.write_all(message.to_string().as_bytes())
        .map_err(|e| format!("writing to the program: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Limits;

    fn spec(binds: Vec<Bind>, env: &[(&str, &str)]) -> SandboxSpec {
        SandboxSpec {
            id: "z".into(),
            argv: vec![
                "/usr/bin/python3".into(),
                "/var/runtime/bootstrap.py".into(),
            ],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: "/var/task".into(),
            rootfs: None,
            binds,
            tmp_bytes: 1 << 20,
            limits: Limits {
                memory_bytes: 1 << 27,
                pids_max: 1024,
                cpu_weight: 7,
                cpu_quota_millis: 0,
            },
            uid: 20_001,
            gid: 990,
            hostname: "lambda".into(),
            netns: None,
            deny_listen: false,
        }
    }

    fn bind(source: &str, target: &str) -> Bind {
        Bind {
            source: source.into(),
            target: target.into(),
            writable: false,
        }
    }

    #[test]
    fn a_spec_fits_its_zygote_only_when_it_would_start_the_same_program() {
        let runtime = bind("/usr/lib", "/var/runtime");
        let start = ZygoteStart {
            spec: spec(vec![runtime.clone()], &[("PATH", "/usr/bin")]),
            late: vec!["/var/task".into(), "/opt".into()],
        };
        check_start(&start).unwrap();
        let task = bind("/usr/share", "/var/task");
        let env = [("PATH", "/usr/bin"), ("_HANDLER", "app.handler")];
        let full = spec(vec![task.clone(), runtime.clone()], &env);
        let h = fits(&start, &full).unwrap();
        assert_eq!(h.binds, vec![task.clone()]);
        assert_eq!(h.env, full.env);
        assert_eq!(h.cwd, Path::new("/var/task"));

        let mut other = full.clone();
        other.uid = 20_002;
        assert!(fits(&start, &other).is_err());
        let changed = spec(vec![task.clone(), runtime.clone()], &[("PATH", "/bin")]);
        assert!(fits(&start, &changed).is_err(), "a zygote variable changed");
        let missing = spec(vec![task.clone()], &env);
        assert!(
            fits(&start, &missing).is_err(),
            "the runtime's bind is missing"
        );
        let stray = spec(vec![bind("/usr/share", "/srv"), runtime.clone()], &env);
        assert!(fits(&start, &stray).is_err(), "no mount point at /srv");
        let mut argv = full.clone();
        argv.argv.push("-X".into());
        assert!(fits(&start, &argv).is_err());
        let mut net = full;
        net.netns = Some("/proc/self/ns/net".into());
        assert!(fits(&start, &net).is_err());
    }

    #[test]
    fn a_zygote_bind_may_not_be_covered_later() {
        let start = |target: &str, late: &str| ZygoteStart {
            spec: spec(vec![bind("/usr", target)], &[]),
            late: vec![late.into()],
        };
        assert!(check_start(&start("/var/runtime", "/var/task")).is_ok());
        assert!(check_start(&start("/opt/python", "/opt")).is_err());
        assert!(check_start(&start("/tmp/python", "/var/task")).is_err());
        assert!(check_start(&start("/var/runtime", "/var/../etc")).is_err());
        assert!(check_start(&start("/var/runtime", "/")).is_err());
    }
}
