//! The fallback when netlink `sock_diag` is unavailable (a sandbox without `AF_NETLINK`, a kernel
//! without `tcp_diag`): the same facts read from /proc/net/tcp and /proc/net/tcp6, a line per
//! socket on the host, so each lookup costs in proportion to the sockets open.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::sockdiag::{LISTEN, SocketFacts};

/// The socket `local` ↔ `remote`, if it is on this host.
pub fn connection(local: SocketAddr, remote: SocketAddr) -> Option<SocketFacts> {
    rows(|l, r, _| same(l, local) && same(r, remote))
}

/// The socket listening at `addr` on this host (bound to it or to the wildcard address).
pub fn listener(addr: SocketAddr) -> Option<SocketFacts> {
    rows(|l, _, state| {
        state == LISTEN
            && l.port() == addr.port()
            && (l.ip().is_unspecified() || l.ip().to_canonical() == addr.ip().to_canonical())
    })
    .filter(|f| f.inode != 0)
}

/// The first row that `matches` (local, remote, state).
fn rows(matches: impl Fn(SocketAddr, SocketAddr, u8) -> bool) -> Option<SocketFacts> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        text.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (l, r) = (parse(cols.get(1)?)?, parse(cols.get(2)?)?);
            let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
            if matches(l, r, state) { facts(&cols, state) } else { None }
        })
    })
}

/// `tx_queue` (column 4, before the `:`), `uid` (7) and `inode` (9) of a row.
fn facts(cols: &[&str], state: u8) -> Option<SocketFacts> {
    let (tx, _rx) = cols.get(4)?.split_once(':')?;
    Some(SocketFacts {
        uid: cols.get(7)?.parse().ok()?,
        inode: cols.get(9)?.parse().ok()?,
        send_queue: u32::from_str_radix(tx, 16).ok()?,
        state,
    })
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6), each 32-bit word in host (little-endian)
/// byte order as the kernel prints it.
pub fn parse(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).map(u32::swap_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.as_slice() {
        [w] => IpAddr::V4(Ipv4Addr::from(*w)),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}
