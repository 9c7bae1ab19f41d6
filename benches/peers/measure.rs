//! Readings of the host and of a proxy process: cores, the open-file limit, and a process's CPU time
//! (in clock ticks, and per thread in nanoseconds) and RSS from `/proc` (CLK_TCK and `openssl
//! speed` come from `benches/readings.rs`).

use std::collections::BTreeMap;
use std::fs;

pub use crate::readings::{clk_tck, command_output, openssl_speed};

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The bench holds 2 sockets per idle connection (client and backend side); so does each proxy.
pub fn check_fd_limit(idle: usize) {
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|s| s.parse::<usize>().ok());
    if let Some(soft) = soft.filter(|&s| s < 2 * idle + 256) {
        println!("warning: open-file limit {soft} is low for {idle} idle connections (ulimit -n 65536)");
    }
}

/// utime and stime of the whole process (all threads, exited ones included), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<(u64, u64), String> {
    let stat =
        fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).ok_or("bad /proc stat field");
    Ok((num(11)?, num(12)?))
}

/// Time on a CPU of every live thread of `pid`, in nanoseconds, by thread id (the first field of
/// `/proc/PID/task/TID/schedstat`). Finer than `cpu_ticks` (10 ms at CLK_TCK 100), but the time of
/// a thread that has exited is gone.
pub fn thread_cpu_ns(pid: u32) -> Result<BTreeMap<u32, u64>, String> {
    let dir = format!("/proc/{pid}/task");
    let mut threads = BTreeMap::new();
    for entry in fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        // A thread may exit between the listing and the read: skip it.
        let Ok(stat) = fs::read_to_string(entry.path().join("schedstat")) else { continue };
        if let Some(ns) = stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            threads.insert(tid, ns);
        }
    }
    if threads.is_empty() {
        return Err(format!("{dir}: no schedstat"));
    }
    Ok(threads)
}

/// CPU seconds the threads spent between two `thread_cpu_ns` readings, or None when a thread of the
/// first reading is gone (its time in between is lost: stunnel's thread per connection).
pub fn threads_delta_s(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>) -> Option<f64> {
    let mut ns = 0u64;
    for (tid, t0) in before {
        ns += after.get(tid)?.checked_sub(*t0)?;
    }
    ns += after.iter().filter(|(tid, _)| !before.contains_key(*tid)).map(|(_, t)| t).sum::<u64>();
    Some(ns as f64 / 1e9)
}

pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}
