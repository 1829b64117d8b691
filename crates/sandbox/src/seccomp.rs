//! The seccomp filters every sandboxed process runs under:
//! - an allowlist, reviewed against the default profile of container
//!   runtimes (Docker's): the calls a runtime needs for files, memory,
//!   processes and threads, signals, time, sockets and event loops. Any other
//!   call (io_uring, BPF, keyrings, kernel modules, new or obsolete calls)
//!   fails with ENOSYS, which libcs and runtimes treat as "not supported here"
//!   and fall back from (`clone3` to `clone`, io_uring to epoll);
//! - the calls that would escape or reconfigure the host fail with EPERM, as
//!   they would for an unprivileged process;
//! - `clone` with any namespace flag fails with EPERM.
//!
//! The first two are one program that finds a call's verdict by binary
//! search over ranges of syscall numbers (~17 instructions on any path):
//! when a filter is installed the kernel runs it once per syscall number to
//! cache the calls it always allows, and a linear program of ~1,650
//! instructions made that 0.7 ms of every cold start. The third, which
//! looks at `clone`'s flags, is small and built with seccompiler.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// Allowed on every architecture.
const ALLOWED: &[libc::c_long] = &[
    // Files and descriptors.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getdents64,
    libc::SYS_getcwd,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_mkdirat,
    libc::SYS_mknodat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_readlinkat,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_umask,
    libc::SYS_truncate,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_sync,
    libc::SYS_syncfs,
    libc::SYS_sync_file_range,
    libc::SYS_fadvise64,
    libc::SYS_readahead,
    libc::SYS_flock,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_splice,
    libc::SYS_tee,
    libc::SYS_vmsplice,
    libc::SYS_copy_file_range,
    libc::SYS_sendfile,
    libc::SYS_utimensat,
    libc::SYS_getxattr,
    libc::SYS_lgetxattr,
    libc::SYS_fgetxattr,
    libc::SYS_listxattr,
    libc::SYS_llistxattr,
    libc::SYS_flistxattr,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_rm_watch,
    libc::SYS_memfd_create,
    // Memory.
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_msync,
    libc::SYS_mincore,
    libc::SYS_mlock,
    libc::SYS_mlock2,
    libc::SYS_munlock,
    libc::SYS_mlockall,
    libc::SYS_munlockall,
    libc::SYS_membarrier,
    libc::SYS_mbind,
    libc::SYS_get_mempolicy,
    libc::SYS_set_mempolicy,
    libc::SYS_pkey_mprotect,
    libc::SYS_pkey_alloc,
    libc::SYS_pkey_free,
    libc::SYS_remap_file_pages,
    // Processes and threads (clone's namespace flags are refused below).
    libc::SYS_clone,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_gettid,
    libc::SYS_getpgid,
    libc::SYS_setpgid,
    libc::SYS_getsid,
    libc::SYS_setsid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_getgroups,
    libc::SYS_setuid,
    libc::SYS_setgid,
    libc::SYS_setreuid,
    libc::SYS_setregid,
    libc::SYS_setresuid,
    libc::SYS_setresgid,
    libc::SYS_setgroups,
    libc::SYS_setfsuid,
    libc::SYS_setfsgid,
    libc::SYS_capget,
    libc::SYS_capset,
    libc::SYS_prctl,
    libc::SYS_seccomp,
    libc::SYS_personality,
    libc::SYS_set_tid_address,
    libc::SYS_set_robust_list,
    libc::SYS_get_robust_list,
    libc::SYS_rseq,
    libc::SYS_futex,
    libc::SYS_futex_waitv,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_getparam,
    libc::SYS_sched_setparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_getattr,
    libc::SYS_sched_setattr,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min,
    libc::SYS_sched_rr_get_interval,
    libc::SYS_getpriority,
    libc::SYS_setpriority,
    libc::SYS_ioprio_get,
    libc::SYS_ioprio_set,
    libc::SYS_getrlimit,
    libc::SYS_setrlimit,
    libc::SYS_prlimit64,
    libc::SYS_getrusage,
    libc::SYS_times,
    libc::SYS_sysinfo,
    libc::SYS_uname,
    libc::SYS_getcpu,
    libc::SYS_getrandom,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_pidfd_getfd,
    libc::SYS_restart_syscall,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
    // Signals.
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigpending,
    libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_sigaltstack,
    libc::SYS_signalfd4,
    // Time.
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_nanosleep,
    libc::SYS_getitimer,
    libc::SYS_setitimer,
    libc::SYS_timer_create,
    libc::SYS_timer_settime,
    libc::SYS_timer_gettime,
    libc::SYS_timer_getoverrun,
    libc::SYS_timer_delete,
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_settime,
    libc::SYS_timerfd_gettime,
    // Event loops.
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_eventfd2,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_io_setup,
    libc::SYS_io_destroy,
    libc::SYS_io_submit,
    libc::SYS_io_cancel,
    libc::SYS_io_getevents,
    // Sockets (raw and packet sockets need capabilities nobody has).
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_shutdown,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    // System V and POSIX IPC (private to the environment's IPC namespace).
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_notify,
    libc::SYS_mq_getsetattr,
];

/// Allowed on x86_64 only: the older calls that newer architectures dropped.
#[cfg(target_arch = "x86_64")]
const ALLOWED_X86_64: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_creat,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_getdents,
    libc::SYS_mkdir,
    libc::SYS_rmdir,
    libc::SYS_mknod,
    libc::SYS_unlink,
    libc::SYS_rename,
    libc::SYS_link,
    libc::SYS_symlink,
    libc::SYS_readlink,
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_lchown,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_futimesat,
    libc::SYS_dup2,
    libc::SYS_pipe,
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_epoll_create,
    libc::SYS_epoll_wait,
    libc::SYS_eventfd,
    libc::SYS_signalfd,
    libc::SYS_inotify_init,
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_pause,
    libc::SYS_alarm,
    libc::SYS_time,
    libc::SYS_getpgrp,
    libc::SYS_arch_prctl,
    libc::SYS_set_thread_area,
    libc::SYS_get_thread_area,
];
#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_X86_64: &[libc::c_long] = &[];

const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_chroot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_setns,
    libc::SYS_unshare,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

fn arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("{e:?}"))
}

/// `AUDIT_ARCH_*` of the architecture lambdad was built for.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// What the first filter does with a syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allow,
    Eperm,
    Enosys,
}

impl Verdict {
    fn action(self) -> u32 {
        match self {
            Self::Allow => libc::SECCOMP_RET_ALLOW,
            Self::Eperm => libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            Self::Enosys => libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        }
    }
}

/// The verdict on `nr`: denied calls fail with EPERM (and `listen` with
/// `deny_listen`), allowed ones pass, any other fails with ENOSYS.
fn verdict(nr: u32, deny_listen: bool) -> Verdict {
    let nr = i64::from(nr);
    if DENIED.contains(&nr) || (deny_listen && nr == libc::SYS_listen) {
        Verdict::Eperm
    } else if ALLOWED.contains(&nr) || ALLOWED_X86_64.contains(&nr) {
        Verdict::Allow
    } else {
        Verdict::Enosys
    }
}

/// Syscall numbers `0..=u32::MAX` as ranges of one verdict each: the start
/// of each range and its verdict, in order.
fn ranges(deny_listen: bool) -> Vec<(u32, Verdict)> {
    let mut listed: Vec<u32> = ALLOWED
        .iter()
        .chain(ALLOWED_X86_64)
        .chain(DENIED)
        .filter_map(|&nr| u32::try_from(nr).ok())
        .collect();
    listed.sort_unstable();
    listed.dedup();
    let mut out: Vec<(u32, Verdict)> = vec![(0, verdict(0, deny_listen))];
    let push = |start: u32, v: Verdict, out: &mut Vec<(u32, Verdict)>| {
        if out.last().is_some_and(|&(_, last)| last != v) {
            out.push((start, v));
        }
    };
    for nr in listed {
        push(nr, verdict(nr, deny_listen), &mut out);
        if let Some(next) = nr.checked_add(1) {
            push(next, verdict(next, deny_listen), &mut out);
        }
    }
    out
}

fn stmt(code: u32, k: u32) -> sock_filter {
    jump(code, k, 0, 0)
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        // BPF opcodes fit in 16 bits.
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// A binary search over `ranges` (non-empty) with the syscall number loaded:
/// each inner node is `jge start` with a long jump to the upper half.
fn search(ranges: &[(u32, Verdict)]) -> Result<Vec<sock_filter>, String> {
    if let [(_, v)] = ranges {
        return Ok(vec![stmt(libc::BPF_RET | libc::BPF_K, v.action())]);
    }
    let (lower, upper) = ranges.split_at(ranges.len() / 2);
    let lower = search(lower)?;
    let skip = u32::try_from(lower.len()).map_err(|e| e.to_string())?;
    let mut out = vec![
        // nr >= start of the upper half: fall through to the long jump;
        // otherwise skip it into the lower half.
        jump(
            libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
            upper[0].0,
            0,
            1,
        ),
        stmt(libc::BPF_JMP | libc::BPF_JA, skip),
    ];
    out.extend(lower);
    out.extend(search(upper)?);
    Ok(out)
}

/// The allowlist and the denylist in one program: any other architecture
/// kills the process, then the syscall number's range decides.
fn syscall_filter(deny_listen: bool) -> Result<BpfProgram, String> {
    // Offsets of `arch` and `nr` in `struct seccomp_data`.
    const ARCH: u32 = 4;
    const NR: u32 = 0;
    let mut program = vec![
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH,
            1,
            0,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR),
    ];
    program.extend(search(&ranges(deny_listen))?);
    // The kernel's limit on a program's length (BPF_MAXINSNS).
    if program.len() > 4096 {
        return Err(format!("the filter has {} instructions", program.len()));
    }
    Ok(program)
}

/// Installs the filters on the calling thread (no_new_privs must be set).
/// With `deny_listen`, `listen(2)` fails with EPERM too.
pub fn install(deny_listen: bool) -> Result<(), String> {
    let calls = syscall_filter(deny_listen)?;
    let clone_ns = clone_namespace_filter()?;
    for p in [&calls, &clone_ns] {
        seccompiler::apply_filter(p).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `clone` with any namespace flag fails with EPERM.
fn clone_namespace_filter() -> Result<BpfProgram, String> {
    let mut rules = Vec::new();
    for flag in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ] {
        let cond = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag as u64),
            flag as u64,
        )
        .map_err(|e| e.to_string())?;
        rules.push(SeccompRule::new(vec![cond]).map_err(|e| e.to_string())?);
    }
    let filter = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone, rules)]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch()?,
    )
    .map_err(|e| e.to_string())?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` as the kernel would for one call: its action and the
    /// number of instructions it took.
    fn run(program: &[sock_filter], arch: u32, nr: u32) -> (u32, usize) {
        let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0usize);
        loop {
            let ins = &program[pc];
            steps += 1;
            let code = u32::from(ins.code);
            pc += 1;
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                acc = if ins.k == 4 { arch } else { nr };
            } else if code == libc::BPF_RET | libc::BPF_K {
                return (ins.k, steps);
            } else if code == libc::BPF_JMP | libc::BPF_JA {
                pc += ins.k as usize;
            } else {
                let taken = if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K {
                    acc == ins.k
                } else {
                    assert_eq!(code, libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K);
                    acc >= ins.k
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
        }
    }

    #[test]
    fn the_search_gives_every_call_its_verdict_in_few_steps() {
        for deny_listen in [false, true] {
            let program = syscall_filter(deny_listen).unwrap();
            let mut longest = 0;
            let numbers = (0..2048).chain([0x4000_0000, 0x4000_0001, u32::MAX - 1, u32::MAX]);
            for nr in numbers {
                let (action, steps) = run(&program, AUDIT_ARCH, nr);
                assert_eq!(action, verdict(nr, deny_listen).action(), "syscall {nr}");
                longest = longest.max(steps);
            }
            assert!(longest <= 30, "{longest} instructions on the longest path");
            let (action, _) = run(&program, AUDIT_ARCH ^ 1, 0);
            assert_eq!(action, libc::SECCOMP_RET_KILL_PROCESS);
        }
        let allow = |nr: libc::c_long| verdict(nr as u32, false);
        assert_eq!(allow(libc::SYS_read), Verdict::Allow);
        assert_eq!(allow(libc::SYS_mount), Verdict::Eperm);
        assert_eq!(allow(libc::SYS_io_uring_setup), Verdict::Enosys);
        assert_eq!(allow(libc::SYS_listen), Verdict::Allow);
        assert_eq!(verdict(libc::SYS_listen as u32, true), Verdict::Eperm);
    }

    #[test]
    fn filters_compile() {
        super::arch().unwrap();
        super::clone_namespace_filter().unwrap();
    }
}
