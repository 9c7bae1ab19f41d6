//! Readings of the host and of a proxy process: cores, the open-file limit, and a process's CPU time
//! and RSS from `/proc` (CLK_TCK and `openssl speed` come from `benches/readings.rs`).

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
