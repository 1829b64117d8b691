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

/// The uid owning the TCP socket connected from `peer` to `local` (both
/// IPv4, in this process's network namespace), from `/proc/net/tcp`.
pub fn tcp_peer_uid(
    peer: std::net::SocketAddrV4,
    local: std::net::SocketAddrV4,
) -> io::Result<Option<u32>> {
    // The kernel prints addresses as the raw big-endian word in hex, ports in host order.
    let key = |a: std::net::SocketAddrV4| {
        format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(a.ip().octets()),
            a.port()
        )
    };
    let (from, to) = (key(peer), key(local));
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    Ok(table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 7 && f[1] == from && f[2] == to)
            .then(|| f[7].parse().ok())
            .flatten()
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_owner_of_a_loopback_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        let (std::net::SocketAddr::V4(peer), std::net::SocketAddr::V4(local)) =
            (peer, listener.local_addr().unwrap())
        else {
            panic!("IPv4 expected");
        };
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(super::tcp_peer_uid(peer, local).unwrap(), Some(me));
        // The listening side's own view is not a connection from `local`.
        assert_eq!(super::tcp_peer_uid(local, peer).unwrap(), Some(me));
        let unknown: std::net::SocketAddrV4 = "127.0.0.1:1".parse().unwrap();
        assert_eq!(super::tcp_peer_uid(unknown, local).unwrap(), None);
        drop(client);
    }
}
