//! `cargo bench --bench soak -- [PHASE...] [--quick]` (run it with `scripts/soak`): the release
//! `pagent` under long, mixed and hostile use with real peers on 127.0.0.1, counting what went
//! wrong. Needs root (vsftpd chroots). Phases, each selectable by name (default: all, in this
//! order):
//!
//! 1. `ftp`: FTP transfers through the FTP helper (`SecureFtp Required`, `SecureDataConn Private`,
//!    explicit AUTH TLS, PROT P, TLS 1.3) in front of a plain vsftpd: curl (passive) and lftp
//!    (passive and active), RETR and STOR, sizes 0 B to 8 MiB, 8 sessions at once, while the policy
//!    is refreshed (rewritten atomically or in place; then `pagent refresh`, SIGHUP or the file
//!    watcher). Every file's SHA-256 is compared between the client's copy and vsftpd's.
//! 2. `faults`: a Raw TLS listener per backend fault (refused, reset mid-transfer, paused reader,
//!    reader that never reads, full accept queue) and a client that resets or truncates
//!    mid-transfer: how each side sees the end, the agent's log line, the time it took.
//! 3. `storm`: 200 TLS connections echoing verified bytes for 10 s while the policy is refreshed 20
//!    times a second (control requests, every tenth by `pagent refresh`).
//! 4. `churn`: 100,000 short TLS 1.3 connections (handshake, 16 bytes echoed, close_notify) by 8
//!    concurrent rustls clients; the agent's RSS after them against its RSS after the first 1,000.
//! 5. `restart`: `kill -9` of an agent with live connections, then the same configuration again at
//!    once: time until it listens and answers netstat; no EADDRINUSE, no stale control socket.
//!
//! Every phase ends with the leak check: the agent's connections (`pagent netstat --json`) back to
//! 0 and its descriptors (`/proc/PID/fd`) back to their value before the phase, within a bound.
//!
//! Output: a table (phase, what was done, failures, mismatches or lost bytes, leaks, time) and the
//! first problems of each phase on stdout, progress on stderr, the rows in `target/soak.json`; the
//! exit code is 1 when any phase found a problem, 2 for a usage error.
//!
//! `--quick` runs small counts (about 25 s in all). Counts can be set one by one:
//! `ATTLS_SOAK_FTP` (transfers, 1000), `ATTLS_SOAK_FTP_REFRESHES` (50), `ATTLS_SOAK_STORM_CONNS`
//! (200), `ATTLS_SOAK_STORM_SECS` (10), `ATTLS_SOAK_CHURN` (100000), `ATTLS_SOAK_BULK_MIB` (200),
//! `ATTLS_SOAK_RESTARTS` (5). Agents and servers live in temporary directories, removed at the end
//! (`ATTLS_KEEP_TEST_DIRS=1` keeps them). Every loop is bounded in count and time.
//!
//! # Layout
//! - `main.rs`: options, counts, the phases in order, the exit code;
//! - `report.rs`: the rows, the table, `target/soak.json`;
//! - `probe.rs`: the agent's descriptors, threads, RSS and connections; the leak check;
//! - `tls.rs`: the rustls client (TLS 1.3) and the plaintext backends in this process (echo and
//!   the faulty ones);
//! - `ftp.rs`, `faults.rs` (its backends: `faulty.rs`), `storm.rs`, `churn.rs`, `restart.rs`: the
//!   phases;
//! - `../../tests/support/` (the integration tests' harness: agents, vsftpd, curl, lftp) and
//!   `../../tests/ftp_integrity.rs` (explicit FTPS set-up, transfers and their SHA-256 check);
//!   `../procfs.rs` (shared with the limits tool) and `../readings.rs`.

mod churn;
mod faults;
mod faulty;
mod ftp;
#[allow(dead_code, unused_imports, reason = "the integration tests' FTP matrix; the soak uses its transfers")]
#[path = "../../tests/ftp_integrity.rs"]
mod ftp_integrity;
mod probe;
#[allow(dead_code, reason = "shared with the limits tool; this one needs part of it")]
#[path = "../procfs.rs"]
mod procfs;
#[allow(dead_code, reason = "shared with the other load tools; this one needs part of it")]
#[path = "../readings.rs"]
mod readings;
mod report;
mod restart;
mod storm;
#[allow(dead_code, unused_imports, reason = "the integration tests' harness; the soak uses part of it")]
#[path = "../../tests/support/mod.rs"]
mod support;
mod tls;

use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use report::Row;

/// The phases, in the order they run.
pub const PHASES: [&str; 5] = ["ftp", "faults", "storm", "churn", "restart"];

/// How much each phase does.
#[derive(Clone, Debug)]
pub struct Counts {
    pub ftp_transfers: usize,
    pub ftp_refreshes: usize,
    pub ftp_parallel: usize,
    pub bulk_mib: u64,
    pub storm_conns: usize,
    pub storm_secs: u64,
    pub storm_rate: u64,
    pub churn: usize,
    pub churn_first: usize,
    pub restarts: usize,
}

impl Counts {
    fn new(quick: bool) -> Counts {
        let pick = |name: &str, full: u64, small: u64| {
            let default = if quick { small } else { full };
            std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(default)
        };
        Counts {
            ftp_transfers: pick("ATTLS_SOAK_FTP", 1000, 60).clamp(1, 100_000) as usize,
            ftp_refreshes: pick("ATTLS_SOAK_FTP_REFRESHES", 50, 6).min(1000) as usize,
            ftp_parallel: 8,
            bulk_mib: pick("ATTLS_SOAK_BULK_MIB", 200, 40).clamp(1, 4096),
            storm_conns: pick("ATTLS_SOAK_STORM_CONNS", 200, 40).clamp(1, 4000) as usize,
            storm_secs: pick("ATTLS_SOAK_STORM_SECS", 10, 3).clamp(1, 600),
            storm_rate: 20,
            churn: pick("ATTLS_SOAK_CHURN", 100_000, 5_000).clamp(2_000, 10_000_000) as usize,
            churn_first: 1_000,
            restarts: pick("ATTLS_SOAK_RESTARTS", 5, 2).clamp(1, 100) as usize,
        }
    }
}

/// What every phase runs with.
pub struct Ctx {
    pub rt: tokio::runtime::Runtime,
    pub counts: Counts,
}

/// The message of a caught panic.
fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

fn usage() -> ! {
    eprintln!("usage: scripts/soak [--quick] [{}]...", PHASES.join("|"));
    std::process::exit(2)
}

fn main() {
    let mut quick = false;
    let mut wanted = Vec::new();
    // `cargo bench` adds `--bench`.
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => quick = true,
            "-h" | "--help" => usage(),
            name if PHASES.contains(&name) => wanted.push(name.to_string()),
            other => {
                eprintln!("unknown phase or option `{other}`");
                usage()
            }
        }
    }
    if wanted.is_empty() {
        wanted = PHASES.iter().map(|p| p.to_string()).collect();
    }
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX) != 0 {
        eprintln!("the soak needs root: vsftpd chroots and drops privileges (run scripts/soak as root)");
        std::process::exit(2);
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ctx = Ctx { rt, counts: Counts::new(quick) };
    let header = report::header(&ctx, quick);
    println!("{header}");
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    for phase in PHASES.iter().filter(|p| wanted.iter().any(|w| w == *p)) {
        eprintln!("== {phase} (at {:.0} s)", started.elapsed().as_secs_f64());
        let t = Instant::now();
        let run = AssertUnwindSafe(|| match *phase {
            "ftp" => ftp::run(&ctx),
            "faults" => faults::run(&ctx),
            "storm" => storm::run(&ctx),
            "churn" => churn::run(&ctx),
            _ => restart::run(&ctx),
        });
        // The harness panics on what it cannot set up: the phase fails, the others still run.
        let mut row = catch_unwind(run).unwrap_or_else(|p| Row::aborted(phase, &panic_text(&p)));
        row.time = t.elapsed();
        eprintln!("   {phase}: {}", if row.ok() { "ok" } else { "PROBLEMS" });
        rows.push(row);
    }
    let all_ok = report::publish(&header, &rows, started.elapsed());
    std::process::exit(if all_ok { 0 } else { 1 });
}
