//! One cgroup per environment, on cgroup v2 when its controllers are enabled
//! and on the v1 hierarchies (memory, cpu, pids, freezer) otherwise. Where v2
//! is mounted without controllers (hybrid hosts), its `cgroup.freeze` is
//! still used for freezing: it costs ~20 µs against ~2 ms for the v1 freezer.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::SandboxError;
use crate::spec::{CPU_PERIOD_US, Limits};

const ROOT: &str = "/sys/fs/cgroup";
const PARENT: &str = "lambdad";

fn err(path: &Path) -> impl FnOnce(io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Cgroup {
        path: path.display().to_string(),
        source,
    }
}

fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    fs::write(path, value).map_err(err(path))
}

/// The cgroup layout this host offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Unified hierarchy at this mount with memory, pids and cpu enabled.
    V2(PathBuf),
    /// v1 controllers, plus a controller-less v2 mount usable for freezing.
    V1 {
        /// v2 mount (for `cgroup.freeze`), when present.
        unified: Option<PathBuf>,
    },
}

impl Layout {
    /// Detects the layout from the mounts under /sys/fs/cgroup.
    pub fn detect() -> Result<Self, SandboxError> {
        let root = Path::new(ROOT);
        let v2_controllers = |p: &Path| {
            fs::read_to_string(p.join("cgroup.controllers"))
                .map(|c| {
                    ["memory", "pids", "cpu"]
                        .iter()
                        .all(|w| c.split_whitespace().any(|x| x == *w))
                })
                .unwrap_or(false)
        };
        if v2_controllers(root) {
            return Ok(Layout::V2(root.to_owned()));
        }
        let unified = root.join("unified");
        if v2_controllers(&unified) {
            return Ok(Layout::V2(unified));
        }
        for c in ["memory", "pids", "cpu"] {
            if !root.join(c).join("cgroup.procs").exists() {
                return Err(SandboxError::Unavailable(format!(
                    "no cgroup v2 with memory/pids/cpu and no cgroup v1 {c} controller under {ROOT}"
                )));
            }
        }
        let unified = unified
            .join("cgroup.procs")
            .exists()
            .then_some(unified)
            .or_else(|| root.join("cgroup.procs").exists().then(|| root.to_owned()));
        Ok(Layout::V1 { unified })
    }

    /// Directories of environment `id` of server instance `instance`, one per hierarchy used.
    pub fn dirs(&self, instance: &str, id: &str) -> Vec<PathBuf> {
        match self {
            Layout::V2(root) => vec![root.join(PARENT).join(instance).join(id)],
            Layout::V1 { unified } => {
                let mut v: Vec<PathBuf> = ["memory", "pids", "cpu", "freezer"]
                    .iter()
                    .map(|c| Path::new(ROOT).join(c).join(PARENT).join(instance).join(id))
                    .filter(|p| p.ancestors().nth(3).is_some_and(Path::exists))
                    .collect();
                if let Some(u) = unified {
                    v.push(u.join(PARENT).join(instance).join(id));
                }
                v
            }
        }
    }

    /// The directory of environment `id` holding `controller`'s files
    /// (`memory`, `pids`, `cpu`, `freezer`): its v2 cgroup, or the v1
    /// hierarchy's; `None` for a v1 controller this host lacks.
    pub fn controller_dir(&self, instance: &str, id: &str, controller: &str) -> Option<PathBuf> {
        match self {
            Layout::V2(root) => Some(root.join(PARENT).join(instance).join(id)),
            Layout::V1 { .. } => self.dirs(instance, id).into_iter().find(|d| {
                d.ancestors()
                    .nth(3)
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == controller)
            }),
        }
    }

    /// Creates the parent cgroups of `instance` and removes its environments
    /// left by a crash (other instances on the same host are left alone).
    pub fn prepare(&self, instance: &str) -> Result<(), SandboxError> {
        if let Layout::V2(root) = self {
            let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +pids +cpu");
        }
        for dir in self.dirs(instance, "x") {
            let parent = dir.parent().expect("a cgroup dir has a parent");
            fs::create_dir_all(parent).map_err(err(parent))?;
            if let Layout::V2(_) = self {
                for p in [parent.parent().expect("lambdad/"), parent] {
                    let _ = fs::write(p.join("cgroup.subtree_control"), "+memory +pids +cpu");
                }
            }
            for stale in fs::read_dir(parent).map_err(err(parent))?.flatten() {
                if stale.file_type().is_ok_and(|t| t.is_dir()) {
                    let cg = Cgroup {
                        dirs: vec![stale.path()],
                        layout: self.clone(),
                        peak: std::sync::OnceLock::new(),
                    };
                    cg.kill_all();
                    cg.remove();
                }
            }
        }
        Ok(())
    }

    /// Removes the (empty) parent cgroups of `instance`.
    pub fn remove_instance(&self, instance: &str) {
        for dir in self.dirs(instance, "x") {
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }

    /// Creates the cgroup of environment `id`, with `limits` when given.
    pub fn create(
        &self,
        instance: &str,
        id: &str,
        limits: Option<&Limits>,
    ) -> Result<Cgroup, SandboxError> {
        let cg = Cgroup {
            dirs: self.dirs(instance, id),
            layout: self.clone(),
            peak: std::sync::OnceLock::new(),
        };
        for dir in &cg.dirs {
            fs::create_dir_all(dir).map_err(err(dir))?;
        }
        let result = limits.map_or(Ok(()), |l| cg.apply(l));
        if result.is_err() {
            cg.remove();
        }
        result.map(|()| cg)
    }
}

/// Turns on the kernel's `favordynmods` option for this host's cgroup
/// hierarchies (one remount of the cgroup2 mount, or of a v1 one without
/// it, keeping every other option). Without it, the first migration into a
/// cgroup after a quiet moment waits for an RCU grace period (6–18 ms here),
/// the largest part of a cold start; with it, forks and exits take a slightly
/// slower lock. The option is host-wide. `on: false` turns it off again.
/// Returns whether the option changed (false when it already was so).
pub fn favor_dynamic_migrations(on: bool) -> Result<bool, SandboxError> {
    let path = Path::new("/proc/self/mountinfo");
    let mountinfo = fs::read_to_string(path).map_err(err(path))?;
    let mounts: Vec<MountInfo> = mountinfo.lines().filter_map(MountInfo::parse).collect();
    let Some(m) = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2")
        .or_else(|| mounts.iter().find(|m| m.fstype == "cgroup"))
    else {
        return Err(SandboxError::Unavailable("no cgroup mount".into()));
    };
    if m.super_options.split(',').any(|o| o == "favordynmods") == on {
        return Ok(false);
    }
    use nix::mount::MsFlags;
    let mut flags = MsFlags::MS_REMOUNT;
    for o in m.options.split(',') {
        flags |= match o {
            "ro" => MsFlags::MS_RDONLY,
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "noatime" => MsFlags::MS_NOATIME,
            "nodiratime" => MsFlags::MS_NODIRATIME,
            "relatime" => MsFlags::MS_RELATIME,
            _ => MsFlags::empty(),
        };
    }
    let mut data: Vec<&str> = m
        .super_options
        .split(',')
        .filter(|o| !matches!(*o, "rw" | "ro" | "favordynmods" | ""))
        .collect();
    if on {
        data.push("favordynmods");
    }
    nix::mount::mount(
        None::<&str>,
        m.mount_point.as_str(),
        None::<&str>,
        flags,
        Some(data.join(",").as_str()),
    )
    .map_err(|e| SandboxError::Cgroup {
        path: m.mount_point.clone(),
        source: e.into(),
    })?;
    Ok(true)
}

/// The fields of one `/proc/self/mountinfo` line this module reads.
#[derive(Debug, PartialEq, Eq)]
struct MountInfo {
    mount_point: String,
    options: String,
    fstype: String,
    super_options: String,
}

impl MountInfo {
    /// `id parent dev root mount_point options [optional...] - fstype source super_options`
    fn parse(line: &str) -> Option<Self> {
        let (head, tail) = line.split_once(" - ")?;
        let head: Vec<&str> = head.split(' ').collect();
        let tail: Vec<&str> = tail.split(' ').collect();
        Some(Self {
            mount_point: head.get(4)?.replace("\\040", " "),
            options: (*head.get(5)?).to_owned(),
            fstype: (*tail.first()?).to_owned(),
            super_options: (*tail.get(2)?).to_owned(),
        })
    }
}

/// The cgroup(s) of one environment.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    layout: Layout,
    /// The peak-memory file, opened once: it is read after every invocation.
    peak: std::sync::OnceLock<Option<fs::File>>,
}

impl Cgroup {
    fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| {
                d.ancestors()
                    .nth(3)
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == controller)
            })
            .map(PathBuf::as_path)
    }

    fn unified(&self) -> Option<&Path> {
        match &self.layout {
            Layout::V2(_) => self.dirs.first().map(PathBuf::as_path),
            Layout::V1 { unified: Some(_) } => self.dirs.last().map(PathBuf::as_path),
            Layout::V1 { unified: None } => None,
        }
    }

    /// Sets the limits.
    pub(crate) fn apply(&self, l: &Limits) -> Result<(), SandboxError> {
        match &self.layout {
            Layout::V2(_) => {
                let d = &self.dirs[0];
                write(&d.join("memory.max"), &l.memory_bytes.to_string())?;
                let _ = fs::write(d.join("memory.swap.max"), "0");
                write(&d.join("pids.max"), &l.pids_max.to_string())?;
                write(
                    &d.join("cpu.weight"),
                    &l.cpu_weight.clamp(1, 10_000).to_string(),
                )?;
                let quota = l.cpu_quota_us().map_or("max".to_owned(), |q| q.to_string());
                write(&d.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            }
            Layout::V1 { .. } => {
                if let Some(d) = self.dir_of("memory") {
                    write(
                        &d.join("memory.limit_in_bytes"),
                        &l.memory_bytes.to_string(),
                    )?;
                    // Without swap accounting this file is absent; then swap is simply not limited.
                    let _ = fs::write(
                        d.join("memory.memsw.limit_in_bytes"),
                        l.memory_bytes.to_string(),
                    );
                    let _ = fs::write(d.join("memory.swappiness"), "0");
                }
                if let Some(d) = self.dir_of("pids") {
                    write(&d.join("pids.max"), &l.pids_max.to_string())?;
                }
                if let Some(d) = self.dir_of("cpu") {
                    // v2 weight 100 = v1 shares 1024.
                    let shares = (l.cpu_weight.clamp(1, 10_000) * 1024 / 100).max(2);
                    write(&d.join("cpu.shares"), &shares.to_string())?;
                    // The period first: a quota is checked against it.
                    write(&d.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                    let quota = l
                        .cpu_quota_us()
                        .map_or(-1, |q| i64::try_from(q).unwrap_or(-1));
                    write(&d.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` file of every hierarchy.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Moves process `pid` into every hierarchy of this cgroup.
    pub fn add(&self, pid: u32) -> Result<(), SandboxError> {
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Stops every process of the environment.
    pub fn freeze(&self) -> Result<(), SandboxError> {
        if let Some(u) = self.unified() {
            return write(&u.join("cgroup.freeze"), "1");
        }
        match self.dir_of("freezer") {
            Some(d) => write(&d.join("freezer.state"), "FROZEN"),
            None => Ok(()),
        }
    }

    /// Resumes every process of the environment.
    pub fn thaw(&self) -> Result<(), SandboxError> {
        if let Some(u) = self.unified() {
            return write(&u.join("cgroup.freeze"), "0");
        }
        match self.dir_of("freezer") {
            Some(d) => write(&d.join("freezer.state"), "THAWED"),
            None => Ok(()),
        }
    }

    fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in &self.dirs {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILLs every process until none is left (bounded to a few seconds).
    pub fn kill_all(&self) {
        if let Some(u) = self.unified()
            && matches!(self.layout, Layout::V2(_))
            && fs::write(u.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            // Frozen tasks die only once thawed.
            let _ = self.thaw();
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Peak memory use in bytes.
    pub fn max_memory_bytes(&self) -> u64 {
        let file = self.peak.get_or_init(|| {
            let path = match &self.layout {
                Layout::V2(_) => Some(self.dirs[0].join("memory.peak")),
                Layout::V1 { .. } => self
                    .dir_of("memory")
                    .map(|d| d.join("memory.max_usage_in_bytes")),
            };
            path.and_then(|p| fs::File::open(p).ok())
        });
        let mut buf = [0u8; 32];
        file.as_ref()
            .and_then(|f| std::os::unix::fs::FileExt::read_at(f, &mut buf, 0).ok())
            .and_then(|n| std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether the kernel's OOM killer struck in this cgroup.
    pub fn oom_killed(&self) -> bool {
        let field = |text: String, key: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(key)
                        .map(|v| v.trim().parse::<u64>().unwrap_or(0))
                })
                .unwrap_or(0)
        };
        match &self.layout {
            Layout::V2(_) => fs::read_to_string(self.dirs[0].join("memory.events"))
                .map(|t| field(t, "oom_kill ") > 0)
                .unwrap_or(false),
            Layout::V1 { .. } => self
                .dir_of("memory")
                .and_then(|d| fs::read_to_string(d.join("memory.oom_control")).ok())
                .map(|t| field(t, "oom_kill ") > 0)
                .unwrap_or(false),
        }
    }

    /// Removes the cgroup directories (retrying while the last tasks exit).
    pub fn remove(&self) {
        for dir in &self.dirs {
            for _ in 0..200 {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MountInfo;

    #[test]
    fn parses_mountinfo_lines() {
        let line = "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(
            MountInfo::parse(line),
            Some(MountInfo {
                mount_point: "/sys/fs/cgroup/unified".into(),
                options: "rw,nosuid,nodev,noexec,relatime".into(),
                fstype: "cgroup2".into(),
                super_options: "rw,nsdelegate".into(),
            })
        );
        assert_eq!(MountInfo::parse("garbage"), None);
    }
}
