//! Readings of the host and of a proxy process: cores, CLK_TCK, the open-file limit, one core's
//! `openssl speed`, and a process's CPU time and RSS from `/proc`.

use std::fs;
use std::process::{Command, Stdio};

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn clk_tck() -> u64 {
    command_output("getconf", &["CLK_TCK"]).and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

/// stdout (or stderr when stdout is empty: `stunnel4 -version`) of a command that exits by itself.
pub fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).stdin(Stdio::null()).output().ok()?;
    let s = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    Some(String::from_utf8_lossy(&s).into_owned())
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

/// One-core AES-128-GCM throughput of `openssl speed` at 16 KiB blocks, in MB/s.
pub fn openssl_speed() -> Option<f64> {
    let out = command_output(
        "openssl",
        &["speed", "-elapsed", "-seconds", "2", "-bytes", "16384", "-evp", "aes-128-gcm"],
    )?;
    let line = out.lines().rev().find(|l| l.to_ascii_lowercase().starts_with("aes-128-gcm"))?;
    let last = line.split_whitespace().last()?;
    let kb = last.trim_end_matches('k').parse::<f64>().ok()?;
    Some(kb * 1000.0 / 1e6)
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
