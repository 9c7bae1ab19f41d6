//! The two things a phase does: hold live intercepted connections (TLS, one round trip each, kept
//! open), and time new ones (one after another: connect, handshake, 1 KiB echoed, close) while
//! reading the agent's CPU time (utime + stime of /proc/PID/stat) before and after.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

use crate::net::{self, Tls};
use crate::procfs;

/// Bound on one live connection's set-up (the old code takes long per connection at thousands).
const LIVE_STEP: Duration = Duration::from_secs(120);
/// Bound on one timed connection.
const NEW_STEP: Duration = Duration::from_secs(30);
/// Live connections set up at once.
const LIVE_BATCH: usize = 32;

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub live: usize,
    pub new: usize,
    pub failed: usize,
    /// Agent CPU per new connection, in milliseconds.
    pub cpu_ms: f64,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub wall_s: f64,
}

/// Opens connections until `held` has `target`; returns how many could not be opened.
pub fn hold(rt: &Runtime, tls: &TlsConnector, addr: SocketAddr, held: &mut Vec<Tls>, target: usize) -> usize {
    let mut failed = 0;
    let started = Instant::now();
    let mut next_report = 1000;
    while held.len() < target && failed < 100 {
        let batch = LIVE_BATCH.min(target - held.len());
        let results = rt.block_on(async {
            let tasks: Vec<_> = (0..batch)
                .map(|_| {
                    let tls = tls.clone();
                    tokio::spawn(async move { net::round_trip(&tls, addr, LIVE_STEP).await })
                })
                .collect();
            let mut out = Vec::with_capacity(batch);
            for t in tasks {
                out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
            }
            out
        });
        for r in results {
            match r {
                Ok(s) => held.push(s),
                Err(e) => {
                    failed += 1;
                    if failed <= 3 {
                        eprintln!("  live connection failed: {e}");
                    }
                }
            }
        }
        if held.len() >= next_report {
            eprintln!("  {} live ({:.0} s)", held.len(), started.elapsed().as_secs_f64());
            next_report += 1000;
        }
    }
    failed
}

/// `new` connections one after another, timed, and the agent's CPU time over them.
pub fn time_new(
    rt: &Runtime,
    tls: &TlsConnector,
    addr: SocketAddr,
    agent: u32,
    live: usize,
    new: usize,
    clk_tck: u64,
) -> Figures {
    // Warm-up, not counted: caches, the blocking pool's threads.
    for _ in 0..10 {
        let _ = rt.block_on(net::round_trip_closed(tls, addr, NEW_STEP));
    }
    let ticks = procfs::cpu_ticks(agent).unwrap_or(0);
    let started = Instant::now();
    let mut times = Vec::with_capacity(new);
    let mut failed = 0;
    for _ in 0..new {
        let t = Instant::now();
        match rt.block_on(net::round_trip_closed(tls, addr, NEW_STEP)) {
            Ok(()) => times.push(t.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("  new connection failed: {e}");
                }
            }
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let spent = procfs::cpu_ticks(agent).unwrap_or(0).saturating_sub(ticks);
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if times.is_empty() { f64::NAN } else { times[((times.len() - 1) as f64 * q).round() as usize] }
    };
    Figures {
        live,
        new,
        failed,
        cpu_ms: spent as f64 * 1000.0 / clk_tck.max(1) as f64 / new.max(1) as f64,
        median_ms: pick(0.5),
        p99_ms: pick(0.99),
        wall_s,
    }
}
