//! Network isolation: an environment's own network namespace with only a
//! loopback interface. lambdad itself listens inside it for the Runtime API
//! (a socket keeps the namespace it was created in), so the runtime reaches
//! `127.0.0.1:9001` as on AWS while nothing else of the host is reachable.

use std::fs::File;
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::sched::{CloneFlags, unshare};

/// A network namespace of one environment.
#[derive(Debug)]
pub struct IsolatedNetwork {
    /// The namespace (an nsfs file); keep it open until the sandbox has joined it.
    pub netns: File,
    /// Listening on `127.0.0.1:PORT` inside the namespace.
    pub listener: TcpListener,
}

impl IsolatedNetwork {
    /// Creates a namespace, brings its loopback up and listens on `port` in it.
    /// Runs on a short-lived thread of its own: a thread's network namespace is
    /// its own, so the caller's stays the host's.
    pub fn new(port: u16) -> io::Result<Self> {
        std::thread::Builder::new()
            .name("lambdad-netns".into())
            .spawn(move || {
                unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                loopback_up()?;
                let listener = TcpListener::bind(("127.0.0.1", port))?;
                let netns = File::open("/proc/thread-self/ns/net")?;
                Ok(Self { netns, listener })
            })?
            .join()
            .map_err(|_| io::Error::other("the network namespace thread panicked"))?
    }

    /// A path the sandbox helper (another process) opens to join the namespace.
    pub fn path(&self) -> PathBuf {
        format!("/proc/{}/fd/{}", std::process::id(), self.netns.as_raw_fd()).into()
    }
}

/// `ip link set lo up`.
fn loopback_up() -> io::Result<()> {
    let sock = UdpSocket::bind(("0.0.0.0", 0))?;
    // SAFETY: ifreq is plain data for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads an ifreq, which `req` is, from a valid pointer
    // that outlives the call; the fd is an open socket.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
