//! Facts about local TCP sockets, read from /proc/net/tcp and /proc/net/tcp6 and /proc/PID/fd: who
//! owns a socket (the `uid` column: the application's end of a connection may be controlled by that
//! user), how many bytes wait in its send queue (`tx_queue`, what the SIOCOUTQ ioctl reports, without
//! the ioctl), and which process holds it (its command name and user: the Jobname and Userid of an
//! intercepted connection, docs/decisions.md D7).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The uid owning the socket `local` ↔ `remote`, if it is on this host.
pub fn socket_uid(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    row(local, remote, |cols| cols.get(7)?.parse().ok())
}

/// Bytes written on the socket `local` ↔ `remote` and not yet acknowledged by the other end.
pub fn send_queue(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    row(local, remote, |cols| {
        let (tx, _rx) = cols.get(4)?.split_once(':')?;
        u64::from_str_radix(tx, 16).ok()
    })
}

fn row<T>(local: SocketAddr, remote: SocketAddr, pick: impl Fn(&[&str]) -> Option<T>) -> Option<T> {
    rows(|l, r, _| same(l, local) && same(r, remote), pick)
}

/// The first row that `matches` (local, remote, state), picked by `pick` from its columns.
fn rows<T>(
    matches: impl Fn(SocketAddr, SocketAddr, u8) -> bool,
    pick: impl Fn(&[&str]) -> Option<T>,
) -> Option<T> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        text.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (l, r) = (parse(cols.get(1)?)?, parse(cols.get(2)?)?);
            let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
            if matches(l, r, state) { pick(&cols) } else { None }
        })
    })
}

/// TCP_LISTEN in the `st` column.
const LISTEN: u8 = 0x0A;

/// A process holding a socket: its command name and its user's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub command: String,
    pub user: String,
    /// The systemd unit the process runs in (`vsftpd.service`), from /proc/PID/cgroup.
    pub unit: Option<String>,
}

/// The process holding the connected socket `local` ↔ `remote` (e.g. a local client whose
/// connection was intercepted).
pub fn connection_owner(local: SocketAddr, remote: SocketAddr) -> Option<Owner> {
    let inode = row(local, remote, |cols| cols.get(9)?.parse::<u64>().ok())?;
    inode_owner(inode)
}

/// The process listening at `addr` on this host (bound to it or to the wildcard address).
pub fn listener_owner(addr: SocketAddr) -> Option<Owner> {
    let inode = rows(
        |l, _, state| {
            state == LISTEN
                && l.port() == addr.port()
                && (l.ip().is_unspecified() || l.ip().to_canonical() == addr.ip().to_canonical())
        },
        |cols| cols.get(9)?.parse::<u64>().ok().filter(|i| *i != 0),
    )?;
    inode_owner(inode)
}

/// The process with a descriptor on socket `inode`: its `comm` and its real uid's name.
fn inode_owner(inode: u64) -> Option<Owner> {
    let wanted = format!("socket:[{inode}]");
    let procs = std::fs::read_dir("/proc").ok()?;
    for p in procs.flatten() {
        let pid = p.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == wanted.as_str()));
        if holds {
            let command = std::fs::read_to_string(p.path().join("comm")).ok()?.trim_end().to_string();
            let uid = process_uid(&p.path())?;
            let unit = std::fs::read_to_string(p.path().join("cgroup")).ok().and_then(|c| systemd_unit(&c));
            return Some(Owner { command, user: user_name(uid).unwrap_or_else(|| uid.to_string()), unit });
        }
    }
    None
}

/// The systemd unit in a /proc/PID/cgroup text: the innermost path component that names a service
/// or a scope (`0::/system.slice/vsftpd.service` → `vsftpd.service`). Only root (or the unit's
/// manager) places a process in a unit, so unlike the command name a user cannot choose it.
pub fn systemd_unit(cgroup: &str) -> Option<String> {
    cgroup.lines().filter_map(|l| l.splitn(3, ':').nth(2)).find_map(|path| {
        path.rsplit('/').find(|c| c.ends_with(".service") || c.ends_with(".scope")).map(String::from)
    })
}

/// The real uid of the process at `/proc/PID` (`/proc/self` for this one).
pub fn process_uid(proc_dir: &std::path::Path) -> Option<u32> {
    let status = std::fs::read_to_string(proc_dir.join("status")).ok()?;
    status.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// The name of user `uid` in /etc/passwd.
pub fn user_name(uid: u32) -> Option<String> {
    std::fs::read_to_string("/etc/passwd").ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
    })
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6), each 32-bit word in host (little-endian)
/// byte order as the kernel prints it.
fn parse(s: &str) -> Option<SocketAddr> {
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

#[cfg(test)]
mod tests;
