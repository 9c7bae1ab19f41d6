//! The client: one curl process per RETR (passive, to `/dev/null`), verbose so that every TLS
//! handshake it made (version and cipher suite) and every resumed session can be read back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cpu::reaped_children_ticks;

/// What curl pins in the TLS cases: TLS 1.3 only, one suite, one group (the only one vsftpd 3.0.3
/// offers; attls's policy pins the same).
pub const TLS_ARGS: [&str; 8] = [
    "--tlsv1.3",
    "--tls-max",
    "1.3",
    "--tls13-ciphers",
    "TLS_AES_128_GCM_SHA256",
    "--curves",
    "P-256",
    "--ssl-reqd",
];
/// The handshake every TLS case must show, as curl -v prints it.
pub const EXPECTED_TLS: &str = "TLSv1.3 / TLS_AES_128_GCM_SHA256";

/// One finished RETR.
pub struct Retr {
    /// From spawning curl to its exit: connect, login, RETR, QUIT.
    pub wall_s: f64,
    /// curl's `%{size_download}`.
    pub bytes: u64,
    /// curl's own user + system time (this process reaps it: its cutime + cstime grow by it).
    pub client_cpu_s: f64,
    /// Each `SSL connection using ...` of curl -v (control, then data connection).
    pub handshakes: Vec<String>,
    /// `SSL re-using session ID` lines: data connections that resumed the control session.
    pub resumed: usize,
}

/// `curl -v` RETR of `url`, explicit FTPS with [`TLS_ARGS`] when `ca` is given; fails unless
/// curl exits 0 having downloaded `want` bytes.
pub fn retr(url: &str, ca: Option<&Path>, want: u64, clk_tck: u64) -> Result<Retr, String> {
    let mut cmd = Command::new("curl");
    cmd.args(["--disable", "--silent", "--show-error", "--verbose", "--ipv4", "--ftp-pasv"])
        .args(["--connect-timeout", "5", "--max-time", "1800", "--output", "/dev/null"])
        .args(["--write-out", "%{size_download}\\n"]);
    if let Some(ca) = ca {
        cmd.args(TLS_ARGS).arg("--cacert").arg(ca);
    }
    cmd.arg(url).stdin(Stdio::null());
    let ticks = reaped_children_ticks();
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("cannot run curl (scripts/bench-ftp installs it): {e}"))?;
    let wall_s = start.elapsed().as_secs_f64();
    let client_cpu_s = reaped_children_ticks().saturating_sub(ticks) as f64 / clk_tck as f64;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bytes = String::from_utf8_lossy(&out.stdout).trim().parse::<u64>().unwrap_or(0);
    if !out.status.success() || bytes != want {
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        return Err(format!(
            "curl {url}: {}, {bytes} of {want} bytes\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let handshakes = stderr
        .lines()
        .filter_map(|l| l.split_once("SSL connection using ").map(|(_, v)| v.trim().to_string()))
        .collect();
    let resumed = stderr.lines().filter(|l| l.contains("SSL re-using session")).count();
    Ok(Retr { wall_s, bytes, client_cpu_s, handshakes, resumed })
}

impl Retr {
    /// For a TLS case: both connections (control and data) in [`EXPECTED_TLS`], the data
    /// connection resumed. The reason when not.
    pub fn tls_problem(&self) -> Option<String> {
        if self.handshakes.len() < 2 || self.handshakes.iter().any(|h| h != EXPECTED_TLS) {
            return Some(format!("handshakes {:?}, expected 2 × {EXPECTED_TLS}", self.handshakes));
        }
        (self.resumed == 0).then(|| "the data connection did not resume the control session".into())
    }
}
