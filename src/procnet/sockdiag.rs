//! Facts about one TCP socket from the kernel's own socket index: a netlink `sock_diag` request
//! (`NETLINK_SOCK_DIAG`, `SOCK_DIAG_BY_FAMILY` with an `inet_diag_req_v2` that names the socket by
//! its addresses, without `NLM_F_DUMP`) is answered with that one socket's `inet_diag_msg`: the
//! kernel looks it up in its hash tables as it would for an arriving packet. One request, one
//! answer, four system calls, whatever the number of sockets on the host (reading /proc/net/tcp
//! costs a line per socket).
//!
//! The messages are two fixed C structures (`linux/inet_diag.h`), written and read here byte by
//! byte over a rustix netlink socket: no unsafe code, no dependency beyond the socket calls.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink, sockopt};

/// `SOCK_DIAG_BY_FAMILY`: the request and its answer.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR`: the kernel's refusal (`ENOENT`: no such socket).
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST` alone: an exact-match lookup, not a dump.
const NLM_F_REQUEST: u16 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, then the socket id.
const REQUEST_LEN: usize = 8 + SOCKID_LEN;
/// `struct inet_diag_sockid`: ports, two 16-byte addresses, interface, cookie.
const SOCKID_LEN: usize = 48;
/// `struct inet_diag_msg`: family, state, timer, retrans, the socket id, then five u32.
const MSG_LEN: usize = 4 + SOCKID_LEN + 20;
/// The answer to an exact-match request is one `inet_diag_msg` (no extension asked for): room
/// for it and an error with the request echoed, with margin.
const ANSWER_BUFFER: usize = 1024;
/// Bound on the wait for the kernel's answer (it is written before `send` returns).
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// `TCP_LISTEN`.
pub const LISTEN: u8 = 10;

/// What the kernel says about one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketFacts {
    /// The socket's owner uid (`sock_i_uid`: the user that created it), as /proc/net/tcp's `uid`.
    pub uid: u32,
    /// Its inode (`socket:[INODE]` in /proc/PID/fd); 0 for a socket no process holds any longer.
    pub inode: u64,
    /// Bytes written and not yet acknowledged (`write_seq - snd_una`, what SIOCOUTQ reports and
    /// /proc/net/tcp's `tx_queue`).
    pub send_queue: u32,
    /// The TCP state (`TCP_ESTABLISHED` 1 … `TCP_LISTEN` 10).
    pub state: u8,
}

/// The connected socket whose own address is `local` and whose peer is `remote`, on this host
/// (in the caller's network namespace); `Ok(None)` when there is none.
pub fn connection(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<SocketFacts>> {
    let (local, remote) = (canonical(local), canonical(remote));
    if local.is_ipv4() != remote.is_ipv4() {
        return Ok(None);
    }
    lookup(local, remote)
}

/// The listening socket a connection to `addr` would reach (bound to `addr` or to the wildcard
/// address, a dual-stack `[::]` one included for IPv4); `Ok(None)` when nothing listens there.
pub fn listener(addr: SocketAddr) -> io::Result<Option<SocketFacts>> {
    let addr = canonical(addr);
    let any = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    // No connected socket has a zero peer: the kernel's lookup falls through to the listeners.
    Ok(lookup(addr, SocketAddr::new(any, 0))?.filter(|f| f.state == LISTEN))
}

/// IPv4-mapped IPv6 addresses as IPv4: the kernel keeps those connections in its IPv4 table.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Sequence numbers of this process's requests (each on its own socket; checked on the answer).
static SEQ: AtomicU32 = AtomicU32::new(1);

fn lookup(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<SocketFacts>> {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let sock = open()?;
    let request = encode(seq, local, remote);
    let sent = rustix::net::send(&sock, &request, SendFlags::empty())?;
    if sent != request.len() {
        return Err(io::Error::other("sock_diag: short send"));
    }
    let mut buf = [0u8; ANSWER_BUFFER];
    let (len, _) = rustix::net::recv(&sock, &mut buf[..], RecvFlags::empty())?;
    decode(&buf[..len.min(buf.len())], seq)
}

/// A `NETLINK_SOCK_DIAG` socket with a bounded wait for answers.
fn open() -> io::Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )?;
    sockopt::set_socket_timeout(&sock, sockopt::Timeout::Recv, Some(ANSWER_WAIT))?;
    Ok(sock)
}

/// The request: `nlmsghdr` then `inet_diag_req_v2` for TCP in every state, the socket id with
/// `local` as its source and `remote` as its destination, any interface, no cookie.
fn encode(seq: u32, local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + REQUEST_LEN);
    b.extend(((HEADER_LEN + REQUEST_LEN) as u32).to_ne_bytes());
    b.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend(NLM_F_REQUEST.to_ne_bytes());
    b.extend(seq.to_ne_bytes());
    b.extend(0u32.to_ne_bytes()); // port id: the kernel fills it in
    b.push(if local.is_ipv4() { AF_INET } else { AF_INET6 });
    b.push(IPPROTO_TCP);
    b.push(0); // no extension (INET_DIAG_INFO…): the base message carries what is needed
    b.push(0);
    b.extend(u32::MAX.to_ne_bytes()); // every state
    b.extend(local.port().to_be_bytes());
    b.extend(remote.port().to_be_bytes());
    b.extend(address_bytes(local.ip()));
    b.extend(address_bytes(remote.ip()));
    b.extend(0u32.to_ne_bytes()); // any interface
    b.extend([0xff; 8]); // INET_DIAG_NOCOOKIE, twice
    b
}

/// An address as `inet_diag_sockid` holds it: 16 bytes, an IPv4 address in the first 4.
fn address_bytes(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

/// The facts in the kernel's answer to request `seq`; `Ok(None)` for `ENOENT` (no such socket).
fn decode(answer: &[u8], seq: u32) -> io::Result<Option<SocketFacts>> {
    let u16_at = |at: usize| answer.get(at..at + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u32_at = |at: usize| answer.get(at..at + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let short = || io::Error::other("sock_diag: truncated answer");
    let (kind, got_seq) = (u16_at(4).ok_or_else(short)?, u32_at(8).ok_or_else(short)?);
    if got_seq != seq {
        return Err(io::Error::other(format!("sock_diag: answer to request {got_seq}, not {seq}")));
    }
    match kind {
        NLMSG_ERROR => {
            let errno = u32_at(HEADER_LEN).ok_or_else(short)? as i32;
            match -errno {
                0 => Err(io::Error::other("sock_diag: acknowledged without an answer")),
                e if e == rustix::io::Errno::NOENT.raw_os_error() => Ok(None),
                e => Err(io::Error::from_raw_os_error(e)),
            }
        }
        SOCK_DIAG_BY_FAMILY => {
            let m = HEADER_LEN;
            if answer.len() < m + MSG_LEN {
                return Err(short());
            }
            let at = m + 4 + SOCKID_LEN; // expires, rqueue, wqueue, uid, inode
            Ok(Some(SocketFacts {
                state: answer[m + 1],
                send_queue: u32_at(at + 8).ok_or_else(short)?,
                uid: u32_at(at + 12).ok_or_else(short)?,
                inode: u64::from(u32_at(at + 16).ok_or_else(short)?),
            }))
        }
        other => Err(io::Error::other(format!("sock_diag: unexpected message type {other}"))),
    }
}

#[cfg(test)]
#[path = "sockdiag_tests.rs"]
mod tests;
