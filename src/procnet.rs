//! Facts about local TCP sockets and the processes that hold them: who owns a socket (its uid: the
//! application's end of a connection may be controlled by that user), how many bytes wait in its
//! send queue (what the SIOCOUTQ ioctl reports), and which process holds it (its command name and
//! user: the Jobname and Userid of an intercepted connection, docs/decisions.md D7).
//!
//! Socket facts come from the kernel's own index through netlink `sock_diag` (`sockdiag`): one
//! request and one answer per socket, whatever the number of connections. Where netlink is
//! unavailable they come from /proc/net/tcp and /proc/net/tcp6 (`table`), logged once. The process
//! holding a socket is found by its inode and remembered (`owners`): a hit costs a few small reads
//! of that process's /proc files. docs/transparent.md describes the cost.

mod owners;
pub mod sockdiag;
mod table;

use std::net::SocketAddr;
use std::sync::{Once, OnceLock};

pub use owners::{CACHE_ENTRIES, SCAN_DESCRIPTORS, scans as owner_scans};
pub use sockdiag::SocketFacts;

/// The uid owning the socket `local` ↔ `remote`, if it is on this host.
pub fn socket_uid(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    connection(local, remote).map(|f| f.uid)
}

/// Bytes written on the socket `local` ↔ `remote` and not yet acknowledged by the other end.
pub fn send_queue(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    connection(local, remote).map(|f| u64::from(f.send_queue))
}

/// What the kernel says about the socket `local` ↔ `remote` of this host.
pub fn connection(local: SocketAddr, remote: SocketAddr) -> Option<SocketFacts> {
    match netlink(|| sockdiag::connection(local, remote)) {
        Some(found) => found,
        None => table::connection(local, remote),
    }
}

/// The socket listening at `addr` on this host (bound to it or to the wildcard address).
pub fn listener(addr: SocketAddr) -> Option<SocketFacts> {
    match netlink(|| sockdiag::listener(addr)) {
        Some(found) => found,
        None => table::listener(addr),
    }
}

/// A process holding a socket: its command name and its user's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub command: String,
    pub user: String,
    /// The systemd unit the process runs in (`vsftpd.service`), from /proc/PID/cgroup.
    pub unit: Option<String>,
}

/// The process holding the connected socket `local` ↔ `remote` (e.g. a local client whose
/// connection was intercepted), other than this one.
pub fn connection_owner(local: SocketAddr, remote: SocketAddr) -> Option<Owner> {
    owners::owner_of(connection(local, remote)?.inode, std::process::id())
}

/// The process listening at `addr` on this host (bound to it or to the wildcard address), other
/// than this one.
pub fn listener_owner(addr: SocketAddr) -> Option<Owner> {
    owners::owner_of(listener(addr)?.inode, std::process::id())
}

/// `Some(answer)` from netlink; `None` where netlink cannot answer (checked once per process,
/// and on any later failure): the caller reads /proc/net instead. Each cause is logged once.
fn netlink<T>(ask: impl FnOnce() -> std::io::Result<Option<T>>) -> Option<Option<T>> {
    static WORKS: OnceLock<bool> = OnceLock::new();
    static FAILED: Once = Once::new();
    let works = *WORKS.get_or_init(|| match probe() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                msgid = crate::messages::SOCK_DIAG_UNAVAILABLE,
                "netlink sock_diag unavailable ({e}): socket owners and send queues are read from \
                 /proc/net/tcp instead, a line per socket on the host (docs/transparent.md)"
            );
            false
        }
    });
    if !works {
        return None;
    }
    match ask() {
        Ok(found) => Some(found),
        Err(e) => {
            FAILED.call_once(|| {
                tracing::warn!(
                    msgid = crate::messages::SOCK_DIAG_FAILED,
                    "netlink sock_diag lookup failed ({e}): reading /proc/net/tcp for it"
                )
            });
            None
        }
    }
}

/// Whether sock_diag finds a listener this process opens, with the inode /proc/self/fd names.
fn probe() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").or_else(|_| std::net::TcpListener::bind("[::1]:0"))?;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", l.as_raw_fd()))?;
    let inode =
        link.to_str().and_then(|s| s.strip_prefix("socket:[")?.strip_suffix(']')?.parse::<u64>().ok());
    match sockdiag::listener(l.local_addr()?)? {
        Some(f) if Some(f.inode) == inode => Ok(()),
        Some(f) => Err(std::io::Error::other(format!("answered inode {}, not {inode:?}", f.inode))),
        None => Err(std::io::Error::other("no answer for a listener of this process")),
    }
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

#[cfg(test)]
mod tests;
