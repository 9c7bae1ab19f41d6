//! Which process holds a socket, by the socket's inode (`socket:[INODE]` in /proc/PID/fd). The
//! kernel keeps no index from a socket to its processes, so finding one means reading descriptors;
//! this module does it once per socket and remembers where: a cache of inode → (pid, descriptor
//! number, process start time). A hit is checked with one readlink (the pid's descriptor still
//! names the socket) and the process's own files (`stat`: command name and start time, which tells
//! a reused pid; `status`: its uid now; `cgroup`: its unit now): a handful of reads whatever the
//! number of sockets and processes. A miss scans /proc: first the processes that owned a socket
//! recently, then every other one, skipping the agent itself (tens of thousands of descriptors
//! that are never a client's or a server's), bounded by [`SCAN_DESCRIPTORS`].

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{Owner, systemd_unit, user_name};

/// Sockets remembered; past this the oldest entry goes first.
pub const CACHE_ENTRIES: usize = 4096;
/// Processes that owned a socket lately, scanned first on a miss (a client opening connection
/// after connection is found at once).
const RECENT_PIDS: usize = 16;
/// Bound on the descriptors one scan reads (a readlink each, about a microsecond): past it the
/// owner is unknown (docs/decisions.md D35), never a guess.
pub const SCAN_DESCRIPTORS: usize = 1 << 20;

/// Where a socket was found, and what its process was then.
#[derive(Debug, Clone)]
struct Entry {
    pid: u32,
    fd: u32,
    /// `starttime` of /proc/PID/stat: a pid reused by another process has another.
    start: u64,
    uid: u32,
    user: String,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<u64, Entry>,
    /// Insertion order, for eviction.
    order: VecDeque<u64>,
    recent: VecDeque<u32>,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
/// Scans of /proc done (misses), for tests and for `docs/transparent.md`'s cost figures.
static SCANS: AtomicU64 = AtomicU64::new(0);

fn cache() -> MutexGuard<'static, Option<Cache>> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Scans of /proc this process has done so far.
pub fn scans() -> u64 {
    SCANS.load(Ordering::Relaxed)
}

/// The process holding socket `inode`, other than process `skip` (the agent's own pid).
pub fn owner_of(inode: u64, skip: u32) -> Option<Owner> {
    if inode == 0 {
        return None;
    }
    let cached = cache().as_ref().and_then(|c| c.entries.get(&inode).cloned());
    if let Some(entry) = cached {
        if let Some(owner) = revalidate(&entry, inode) {
            return Some(owner);
        }
        if let Some(c) = cache().as_mut() {
            c.entries.remove(&inode);
        }
    }
    let recent: Vec<u32> = cache().as_ref().map(|c| c.recent.iter().copied().collect()).unwrap_or_default();
    SCANS.fetch_add(1, Ordering::Relaxed);
    let (pid, fd) = scan(inode, skip, &recent)?;
    let (command, start) = stat(pid)?;
    let uid = super::process_uid(&proc_dir(pid))?;
    let entry = Entry { pid, fd, start, uid, user: name_of(uid) };
    let owner = Owner { command, user: entry.user.clone(), unit: unit(pid) };
    remember(inode, entry);
    Some(owner)
}

/// The owner from a cached entry, if its process still holds the socket at the same descriptor.
fn revalidate(e: &Entry, inode: u64) -> Option<Owner> {
    if !holds(&proc_dir(e.pid).join("fd").join(e.fd.to_string()), inode) {
        return None;
    }
    let (command, start) = stat(e.pid)?;
    if start != e.start {
        return None;
    }
    let uid = super::process_uid(&proc_dir(e.pid))?;
    let user = if uid == e.uid { e.user.clone() } else { name_of(uid) };
    Some(Owner { command, user, unit: unit(e.pid) })
}

fn remember(inode: u64, entry: Entry) {
    let mut guard = cache();
    let c = guard.get_or_insert_with(Cache::default);
    c.recent.retain(|p| *p != entry.pid);
    c.recent.push_front(entry.pid);
    c.recent.truncate(RECENT_PIDS);
    if c.entries.insert(inode, entry).is_none() {
        c.order.push_back(inode);
    }
    while c.entries.len() > CACHE_ENTRIES {
        match c.order.pop_front() {
            Some(old) => {
                c.entries.remove(&old);
            }
            None => break,
        }
    }
    // Entries dropped by a failed revalidation leave their inode in `order`: trim those too.
    if c.order.len() > 2 * CACHE_ENTRIES {
        let entries = &c.entries;
        c.order.retain(|i| entries.contains_key(i));
    }
}

/// (pid, descriptor) of a process holding `inode`: the `recent` pids first, then all of /proc.
fn scan(inode: u64, skip: u32, recent: &[u32]) -> Option<(u32, u32)> {
    let mut budget = SCAN_DESCRIPTORS;
    for &pid in recent.iter().filter(|p| **p != skip) {
        if let Some(fd) = find_in(pid, inode, &mut budget) {
            return Some((pid, fd));
        }
    }
    for p in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == skip || recent.contains(&pid) {
            continue;
        }
        if let Some(fd) = find_in(pid, inode, &mut budget) {
            return Some((pid, fd));
        }
        if budget == 0 {
            tracing::warn!(
                msgid = crate::messages::OWNER_SCAN_BOUND,
                inode,
                "no owner found for socket {inode} within {SCAN_DESCRIPTORS} descriptors read: owner unknown"
            );
            return None;
        }
    }
    None
}

/// The descriptor of process `pid` that names socket `inode`, reading at most `budget` of them.
fn find_in(pid: u32, inode: u64, budget: &mut usize) -> Option<u32> {
    let fds = std::fs::read_dir(proc_dir(pid).join("fd")).ok()?;
    for fd in fds.flatten() {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        if holds(&fd.path(), inode) {
            return fd.file_name().to_str()?.parse().ok();
        }
    }
    None
}

/// Whether the descriptor link at `path` names socket `inode`.
fn holds(path: &std::path::Path, inode: u64) -> bool {
    std::fs::read_link(path).is_ok_and(|t| {
        t.to_str().and_then(|s| s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()) == Some(inode)
    })
}

fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// The command name (`comm`, field 2) and start time (field 22) in /proc/PID/stat.
fn stat(pid: u32) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(proc_dir(pid).join("stat")).ok()?;
    let (head, rest) = text.rsplit_once(')')?;
    let command = head.split_once('(')?.1.to_string();
    // After the `)`: state is field 3, so starttime (22) is the 20th.
    let start = rest.split_whitespace().nth(19)?.parse().ok()?;
    Some((command, start))
}

fn unit(pid: u32) -> Option<String> {
    std::fs::read_to_string(proc_dir(pid).join("cgroup")).ok().and_then(|c| systemd_unit(&c))
}

fn name_of(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| uid.to_string())
}
