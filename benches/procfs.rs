//! Readings of a process from `/proc` (the agent's, or this one's with `None`), shared by the limits
//! and soak load tools: VmRSS, threads, CPU time (utime + stime of all threads, exited ones
//! included), open descriptors and the soft RLIMIT_NOFILE.

use std::fs;

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// VmRSS in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(proc_path(Some(pid), "status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// Threads of the process (`Threads:` of its status).
pub fn threads(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(proc_path(Some(pid), "status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:"))?.trim().parse().ok()
}

/// utime + stime in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(proc_path(Some(pid), "stat")).ok()?;
    // The command name (field 2) may hold spaces: fields restart after the last `)`; utime and
    // stime are fields 14 and 15.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    Some(num(11)? + num(12)?)
}

/// Open descriptors (entries of `/proc/PID/fd`).
pub fn fd_count(pid: Option<u32>) -> Option<usize> {
    fs::read_dir(proc_path(pid, "fd")).ok().map(|d| d.count())
}

/// The soft RLIMIT_NOFILE.
pub fn nofile(pid: Option<u32>) -> Option<usize> {
    let limits = fs::read_to_string(proc_path(pid, "limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU share of one core between two tick readings `secs` apart, in percent.
pub fn core_percent(ticks: u64, clk_tck: u64, secs: f64) -> f64 {
    if secs <= 0.0 { 0.0 } else { ticks as f64 / clk_tck.max(1) as f64 / secs * 100.0 }
}
