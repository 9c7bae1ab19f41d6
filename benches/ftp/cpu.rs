//! CPU time of the servers: a process tree (vsftpd: the listener and every session process it
//! forks) counted by a cgroup v2 group, or by sampling `/proc` when no group can be made; a single
//! process (pagent, the bench itself) by `/proc/PID/stat`. See the crate doc for why a parent's
//! `cutime` is not used for vsftpd.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a tree's CPU is counted (`ATTLS_FTP_CPU`: `auto`, the default, tries `cgroup` first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Cgroup,
    Sample,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Cgroup => "cgroup",
            Method::Sample => "sample",
        }
    }
}

/// How often the sampler reads `/proc`; a process's CPU after its last reading is missed.
const POLL: Duration = Duration::from_millis(10);

pub use crate::readings::clk_tck;

/// Fields of `/proc/PID/stat` after the command name: (ppid, utime + stime, cutime + cstime,
/// starttime), times in clock ticks.
fn stat(pid: u32) -> Option<(u32, u64, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields restart after the last `)`.
    let f: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    let ppid = u32::try_from(num(1)?).ok()?;
    Some((ppid, num(11)? + num(12)?, num(13)? + num(14)?, num(19)?))
}

/// utime + stime of one process, all its threads (live and exited), in clock ticks.
pub fn own_ticks(pid: u32) -> Result<u64, String> {
    stat(pid).map(|s| s.1).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))
}

/// cutime + cstime of this process: the children it has reaped (curl), in clock ticks.
pub fn reaped_children_ticks() -> u64 {
    stat(std::process::id()).map_or(0, |s| s.2)
}

/// A server's process tree under measurement; [`Tree::kill`] ends all of it.
pub struct Tree {
    root: u32,
    how: How,
}

enum How {
    /// A cgroup v2 directory holding the root and, by inheritance, every process it forks.
    Cgroup(PathBuf),
    Sample(Arc<Sampler>),
}

/// A reading to measure from.
pub enum Mark {
    Usec(u64),
    Ticks { root: u64, seen: HashMap<u32, u64> },
}

impl Tree {
    /// Starts counting `root` (freshly spawned, no session yet) and everything it forks.
    /// `Method::Cgroup` falls back to sampling, with a note on stderr, when no group can be made.
    pub fn new(root: u32, name: &str, method: Method) -> Tree {
        if method == Method::Cgroup {
            match cgroup_for(root, name) {
                Ok(dir) => return Tree { root, how: How::Cgroup(dir) },
                Err(e) => eprintln!("{name}: no cgroup ({e}); sampling /proc instead"),
            }
        }
        Tree { root, how: How::Sample(Sampler::start(root)) }
    }

    pub fn method(&self) -> Method {
        match self.how {
            How::Cgroup(_) => Method::Cgroup,
            How::Sample(_) => Method::Sample,
        }
    }

    pub fn mark(&self) -> Result<Mark, String> {
        match &self.how {
            How::Cgroup(dir) => usage_usec(dir).map(Mark::Usec),
            How::Sample(s) => {
                let mut st = s.state.lock().expect("sampler lock");
                // Sessions of earlier measurements are gone: forget them.
                st.ours.retain(|pid, e| e.alive(*pid));
                let seen = st.ours.iter().map(|(p, e)| (*p, e.ticks)).collect();
                Ok(Mark::Ticks { root: own_ticks(self.root)?, seen })
            }
        }
    }

    /// CPU seconds of the whole tree since `mark` (read once its sessions are gone).
    pub fn seconds_since(&self, mark: &Mark, clk_tck: u64) -> Result<f64, String> {
        match (&self.how, mark) {
            (How::Cgroup(dir), Mark::Usec(then)) => Ok(usage_usec(dir)?.saturating_sub(*then) as f64 / 1e6),
            (How::Sample(s), Mark::Ticks { root, seen }) => {
                let st = s.state.lock().expect("sampler lock");
                let children: u64 =
                    st.ours.iter().map(|(p, e)| e.ticks.saturating_sub(*seen.get(p).unwrap_or(&0))).sum();
                let root_now = own_ticks(self.root)?;
                Ok((root_now.saturating_sub(*root) + children) as f64 / clk_tck as f64)
            }
            _ => Err("mark of another method".into()),
        }
    }

    /// Waits (up to `limit`) until only the root is left: every session process has exited.
    pub fn wait_sessions_gone(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = match &self.how {
                How::Cgroup(dir) => procs(dir).iter().filter(|&&p| p != self.root).count(),
                How::Sample(s) => {
                    let st = s.state.lock().expect("sampler lock");
                    st.ours.iter().filter(|(p, e)| e.alive(**p)).count()
                }
            };
            if left == 0 {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills every process of the tree (sessions escape the root's process group: vsftpd calls
    /// setsid per session) and removes the group.
    pub fn kill(&self) {
        let pids = match &self.how {
            How::Cgroup(dir) => {
                let _ = fs::write(dir.join("cgroup.kill"), "1");
                procs(dir)
            }
            How::Sample(s) => {
                s.stop.store(true, Ordering::Relaxed);
                let st = s.state.lock().expect("sampler lock");
                st.ours.keys().copied().chain([self.root]).collect()
            }
        };
        for pid in pids {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        if let How::Cgroup(dir) = &self.how {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !procs(dir).is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A new cgroup v2 group below this process's own, with `pid` moved into it.
fn cgroup_for(pid: u32, name: &str) -> Result<PathBuf, String> {
    let mounts = fs::read_to_string("/proc/self/mounts").map_err(|e| e.to_string())?;
    let mount = mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .and_then(|f| f.get(1).map(PathBuf::from))
        .ok_or("no cgroup2 mount")?;
    let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::")).ok_or("not in a cgroup v2 group")?;
    let dir =
        mount.join(own.trim_start_matches('/')).join(format!("attls-ftp-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let moved = fs::write(dir.join("cgroup.procs"), pid.to_string())
        .map_err(|e| format!("{}: {e}", dir.join("cgroup.procs").display()))
        .and_then(|()| usage_usec(&dir).map(|_| ()));
    if let Err(e) = moved {
        let _ = fs::remove_dir(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// `usage_usec` of the group's `cpu.stat`: user + system time of every process that was in it.
fn usage_usec(dir: &Path) -> Result<u64, String> {
    let text = fs::read_to_string(dir.join("cpu.stat")).map_err(|e| format!("{}: {e}", dir.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no usage_usec in {}/cpu.stat", dir.display()))
}

fn procs(dir: &Path) -> Vec<u32> {
    let text = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Polls `/proc` every [`POLL`] for the root's descendants (found by parent pid, remembered after
/// their parent exits) and keeps each one's last utime + stime.
struct Sampler {
    state: Mutex<SampleState>,
    stop: AtomicBool,
}

#[derive(Default)]
struct SampleState {
    /// Descendants of the root: last reading.
    ours: HashMap<u32, Entry>,
    /// Pids seen that are not ours (checked once; forgotten when they leave `/proc`).
    others: HashSet<u32>,
}

struct Entry {
    start: u64,
    ticks: u64,
}

impl Entry {
    /// Still running (not a later process that got the same pid).
    fn alive(&self, pid: u32) -> bool {
        stat(pid).is_some_and(|s| s.3 == self.start)
    }
}

impl Sampler {
    fn start(root: u32) -> Arc<Sampler> {
        let s = Arc::new(Sampler { state: Mutex::default(), stop: AtomicBool::new(false) });
        let me = s.clone();
        std::thread::spawn(move || {
            while !me.stop.load(Ordering::Relaxed) {
                me.poll(root);
                std::thread::sleep(POLL);
            }
        });
        s
    }

    fn poll(&self, root: u32) {
        let Ok(dir) = fs::read_dir("/proc") else { return };
        let mut pids: Vec<u32> =
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|&p| p != root).collect();
        // Parents before children (pids mostly grow), so one pass finds a new session's whole tree.
        pids.sort_unstable();
        let live: HashSet<u32> = pids.iter().copied().collect();
        let mut st = self.state.lock().expect("sampler lock");
        st.others.retain(|p| live.contains(p));
        for pid in pids {
            if st.others.contains(&pid) {
                continue;
            }
            let Some((ppid, ticks, _, start)) = stat(pid) else { continue };
            if let Some(e) = st.ours.get_mut(&pid).filter(|e| e.start == start) {
                e.ticks = ticks;
            } else if ppid == root || st.ours.contains_key(&ppid) {
                // New, or a reused pid (a new process, ours only if its parent is).
                st.ours.insert(pid, Entry { start, ticks });
            } else {
                st.others.insert(pid);
            }
        }
    }
}
