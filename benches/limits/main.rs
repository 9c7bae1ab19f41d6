//! `cargo bench --bench limits` (run it with `scripts/bench-limits`): the agent's limits under
//! abuse, measured on the release `pagent` against its targets. Each scenario starts its own agent
//! (a temporary directory: a generated `DevKeyring`, a one-rule policy with `HandshakeTimeout 5`,
//! listeners on 127.0.0.1 in front of a plaintext echo backend in this process) and kills it at
//! the end. Clients are rustls (full handshakes, the agent's generated CA) and plain TCP; a
//! "round trip" is connect, handshake, 1 KiB echoed back, close_notify.
//!
//! 1. Slowloris: 3,000 TCP connections that never send a byte (`MaxConnectionsPerSource 4000`)
//!    while 50 legitimate round trips, spread over 6 s, must each finish within 1 s; then every
//!    silent connection must be closed (reset or FIN) by the agent within HandshakeTimeout + 2 s of
//!    its connect.
//! 2. Idle scale: as many idle TLS connections (each after one round trip) as the descriptor limits
//!    allow, up to 9,900: the agent holds 2 descriptors per connection, this process 2 (client and
//!    echo side), so both are capped at (soft limit − descriptors open − a margin) / 2. Measured on
//!    the agent: VmRSS growth per connection (≤ 24 KiB), CPU over 10 s of idleness (< 2% of a core,
//!    utime + stime), descriptors per connection (`/proc/PID/fd`, 2).
//! 3. Descriptor exhaustion: an agent under `ulimit -n 256` (soft and hard) gets 600 concurrent
//!    round-trip attempts held open for 5 s: it stays up, uses < 30% of a core over those 5 s, and
//!    serves a round trip again within 3 s after the clients are gone.
//! 4. Control socket abuse: 300 silent clients on the `ControlSocket` and one sending a 10 MB
//!    request line; `pagent netstat --socket PATH` must still answer within 2 s.
//!
//! Output: a markdown table (scenario, target, measured, PASS/FAIL) on stdout, the same rows in
//! `target/limits.json`; progress on stderr. A missed target is a FAIL row, never a failed run.
//! Every loop is bounded in count and time; all traffic stays on 127.0.0.1.
//!
//! Environment: `ATTLS_LIMITS_SCALE` (default 1, taken in 0.01..=1) scales the connection counts
//! (not the timeouts and windows, which are part of the targets); `ATTLS_LIMITS_ONLY=1,3` runs
//! those scenarios only; `ATTLS_LIMITS_LOG_LEVEL` is pagent's `--log-level` (default `info`).
//! The agents' logs live in the temporary directory, removed at the end; `ATTLS_LIMITS_KEEP=1`
//! keeps it and prints where it is.
//!
//! # Layout
//! - `main.rs`: the entry point, the run's context and the work directory;
//! - `agent.rs`: a pagent of one scenario: configuration, policy, start (optionally under a
//!   descriptor limit), its `listening` lines, kill on drop and on SIGINT/SIGTERM;
//! - `../procfs.rs` (shared with the soak tool): a process's RSS, CPU ticks, open descriptors and
//!   descriptor limit from `/proc`;
//! - `net.rs`: the echo backend and the rustls client and its round trip;
//! - `slowloris.rs`, `idle.rs`, `storm.rs`, `control.rs`: the four scenarios;
//! - `report.rs`: the rows, the table and `target/limits.json`;
//! - `../readings.rs` (shared with the other load tools): CLK_TCK, a command's output, the JSON file.

mod agent;
mod control;
mod idle;
mod net;
#[allow(dead_code, reason = "shared with the soak tool; this one needs part of it")]
#[path = "../procfs.rs"]
mod procfs;
#[allow(dead_code, reason = "shared with the peers and ftp benches; this one needs part of it")]
#[path = "../readings.rs"]
mod readings;
mod report;
mod slowloris;
mod storm;

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::runtime::Runtime;

/// Bound on one connection's set-up or one round trip outside the timed targets.
pub const STEP: Duration = Duration::from_secs(10);
/// Bound on an agent's start (its `listening` lines).
pub const START: Duration = Duration::from_secs(30);

/// What every scenario runs with.
pub struct Ctx<'a> {
    pub rt: &'a Runtime,
    pub work: &'a Path,
    pub echo: SocketAddr,
    pub scale: f64,
    pub clk_tck: u64,
    pub log_level: String,
}

impl Ctx<'_> {
    /// `n` scaled by `ATTLS_LIMITS_SCALE`, at least `min`.
    pub fn scaled(&self, n: usize, min: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(min)
    }
}

fn main() {
    let scale = std::env::var("ATTLS_LIMITS_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0)
        .clamp(0.01, 1.0);
    // As the agent does: soft descriptor limit up to the hard one (scripts/bench-limits raises both).
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let work = WorkDir::new().expect("work directory");
    agent::cleanup_on_signal(&rt, work.0.clone());
    let echo = rt.block_on(net::start_echo()).expect("echo backend");
    let ctx = Ctx {
        rt: &rt,
        work: &work.0,
        echo,
        scale,
        clk_tck: readings::clk_tck(),
        log_level: std::env::var("ATTLS_LIMITS_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
    };
    let header = report::header(&ctx, nofile);
    println!("{header}");

    let only = std::env::var("ATTLS_LIMITS_ONLY").unwrap_or_default();
    let wanted = |n: usize| only.trim().is_empty() || only.split(',').any(|w| w.trim() == n.to_string());
    let mut rows = Vec::new();
    for (n, (name, scenario)) in [
        ("slowloris", slowloris::run as fn(&Ctx) -> Vec<report::Row>),
        ("idle scale", idle::run),
        ("descriptor exhaustion", storm::run),
        ("control socket abuse", control::run),
    ]
    .into_iter()
    .enumerate()
    .filter(|(i, _)| wanted(i + 1))
    {
        eprintln!("== {} {name}", n + 1);
        rows.extend(scenario(&ctx));
    }
    report::publish(&header, &rows);
}

/// The run's private directory, removed at the end (panics included) unless `ATTLS_LIMITS_KEEP`.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> io::Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!("attls-limits-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("ATTLS_LIMITS_KEEP").is_some_and(|v| v == "1") {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
