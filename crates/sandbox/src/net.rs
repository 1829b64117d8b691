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
/// IPv4, in this process's network namespace), or `None` when there is
/// none. One exact lookup through the kernel's socket diagnostics
/// (NETLINK_SOCK_DIAG), whatever the number of sockets on the host.
pub fn tcp_peer_uid(
    peer: std::net::SocketAddrV4,
    local: std::net::SocketAddrV4,
) -> io::Result<Option<u32>> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
        socket,
    };
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLM_F_REQUEST: u16 = 1;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    // nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes), native endian but
    // for the ports and addresses, which are in network order.
    let mut req = Vec::with_capacity(72);
    req.extend_from_slice(&72u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    req.push(libc::AF_INET as u8);
    req.push(libc::IPPROTO_TCP as u8);
    req.extend_from_slice(&[0, 0]); // no extensions, padding
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // any state
    // inet_diag_sockid: the socket's own (source) side is the peer's.
    req.extend_from_slice(&peer.port().to_be_bytes());
    req.extend_from_slice(&local.port().to_be_bytes());
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&peer.ip().octets());
    req.extend_from_slice(&addr);
    addr[..4].copy_from_slice(&local.ip().octets());
    req.extend_from_slice(&addr);
    req.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // INET_DIAG_NOCOOKIE
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    sendto(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;
    let mut buf = [0u8; 512];
    let n = recv(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &mut buf,
        MsgFlags::empty(),
    )?;
    let msg = &buf[..n];
    let u16_at = |i: usize| msg.get(i..i + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u32_at = |i: usize| {
        msg.get(i..i + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    match u16_at(4) {
        // inet_diag_msg after the header: family, state, timer, retrans (4),
        // the socket id (48), expires, rqueue, wqueue (12), then the uid.
        Some(SOCK_DIAG_BY_FAMILY) => Ok(u32_at(16 + 64)),
        // An error message: 0 never comes alone; ENOENT means no such socket.
        Some(NLMSG_ERROR) => match u32_at(16).map(|e| -(e as i32)) {
            Some(libc::ENOENT) => Ok(None),
            Some(e) => Err(io::Error::from_raw_os_error(e)),
            None => Err(io::Error::other("a short netlink error")),
        },
        _ => Err(io::Error::other("an unexpected socket diagnostics answer")),
    }
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
