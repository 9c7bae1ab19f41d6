//! `cargo bench --bench peers`: attls against stunnel4 and HAProxy in one run, with the same
//! certificate (CN/SAN localhost), the same TLS and the same rustls client, so that the
//! ratios come from one run. `ATTLS_PEERS_SCENARIO` picks what "the same"
//! is (`scenario.rs`):
//! - `tls13-ecdsa` (default): ECDSA P-256, TLS 1.3, TLS_AES_128_GCM_SHA256, X25519;
//! - `tls12-rsa`: RSA-2048, TLS 1.2 only, ECDHE-RSA-AES128-GCM-SHA256, X25519 (the classic z/OS
//!   deployment: a full handshake signs with RSA, a resumed one does no public-key work at all);
//! - `all`: both, each proxy of each scenario as its own process, interleaved in the rounds;
//!   the report has a table and target checks per scenario.
//!
//! Every proxy terminates TLS on 127.0.0.1 and relays plaintext to one backend in this process.
//! Direction: the client sends, the proxy decrypts. A request is an 8-byte big-endian length N then
//! N bytes; the backend discards them and answers N as an 8-byte ack (N = 0 is a ping).
//!
//! The proxy is judged by its own CPU time (utime + stime of the process in `/proc/PID/stat`, all
//! threads, live and exited), read before and after each phase, because on 2 cores the client and
//! backend compete with it. All proxies (three per scenario) run side by side (idle ones cost
//! nothing):
//! 1. idle, on each fresh process: VmRSS after one warm-up connection, then with `idle` (1,000)
//!    connections that finished the handshake and one ping and stay open; the delta per connection;
//! 2. rounds (`ATTLS_PEERS_ROUNDS`, default 3), each running every phase on every proxy in turn, so
//!    a machine that speeds up or slows down (shared hosts do) hits all three alike; the table
//!    shows medians, `target/peers.json` every phase's raw wall, user and system seconds:
//!    - bulk: 1 connection × 1 GiB, then 8 × 128 MiB (set up before the clock starts);
//!    - handshakes: 2,000 full ones (client resumption disabled), then 2,000 resumed ones (a client
//!      configuration of the proxy's own, primed first; `handshake_kind()` checks each; TLS 1.3
//!      tickets, in TLS 1.2 whatever the proxy gives: a session ticket, else a session ID), 4 workers;
//!      each connection is a handshake, one ping through to the backend, close_notify and close,
//!      so the figure is the whole cost of a short connection to the proxy, TCP included;
//!    - refresh (attls only; the peers have no refresh with the same meaning and show `-`):
//!      sessions for 2,000 resumption attempts taken with full handshakes (TLS 1.3: a ticket per
//!      attempt; TLS 1.2: one session for all), then the agent refreshed (its policy file written
//!      again with an unrelated change, the file watcher's reload awaited, then `pagent refresh -c
//!      CONFIG` and its answer), then the 2,000 attempts timed as in the Resumed phase, each
//!      offering a session taken before the refresh (`refresh.rs`). Reported: CPU ms per
//!      handshake against the Resumed phase of the same round (target: within 10 %, i.e.
//!      after / before <= 1.1) and the share that resumed (target: >= 99 %); an agent that drops
//!      its sessions on refresh (attls up to commit 69b4802) resumes none of them. A clock tick
//!      (10 ms) is 0.025 ms per handshake at scale 0.2, so after / before comes from the threads'
//!      CPU time in nanoseconds (`/proc/PID/task/*/schedstat`) when both phases have it (no
//!      thread lost, agreeing with the ticks), else from the ticks; the table shows ticks.
//!    - latency: a 1 KiB request and its 1 KiB echo (the backend answers a length with the top bit
//!      set with the bytes themselves), timed at the client: 2,000 exchanges on one connection,
//!      then 20 on each of `idle` (1,000) connections at once, through the proxy and, in the same
//!      phase, straight to the backend; p50 and p99 and what the proxy adds (`latency.rs`).
//!
//! The targets are checked as ratios of the same run (`targets.rs`).
//!
//! GB and MB are 10^9 and 10^6 bytes. Environment: `ATTLS_PEERS_SCALE` (default 1; 0.1 for a quick
//! run) scales bytes and counts; `ATTLS_PEERS_ONLY=attls,haproxy` picks proxies and
//! `ATTLS_PEERS_PHASES=idle,bulk,handshakes,refresh,latency` phases (for profiling one of them; `refresh`
//! uses the `handshakes` of the same round as its "before");
//! `ATTLS_PEERS_PAGENT=/path/to/pagent` runs another pagent build (e.g. an older one) as attls;
//! `ATTLS_PEERS_LOG_LEVEL` is pagent's `--log-level` (default `info`, its own default; stunnel logs
//! at its default level too, HAProxy logs nothing without a `log` line). Output: per scenario a
//! markdown table, the resumed/full ratios and the target checks on stdout; the same as JSON in
//! `target/peers.json`, one row per scenario and proxy.
//!
//! # Layout
//! - `main.rs`: the entry point, the rounds and the parameters read from the environment;
//! - `scenario.rs`: the scenarios: their names, descriptions and test PKIs;
//! - `proxies.rs`: attls, stunnel4 and HAProxy: their configurations, start, stop and versions;
//! - `backend.rs`: the plaintext sink the proxies relay to;
//! - `client.rs`: the rustls client and its connection, bulk and handshake loops;
//! - `refresh.rs`: the refresh phase's client session store and the agent's refresh;
//! - `phases.rs`: one proxy under test, its samples and the idle and timed phases;
//! - `measure.rs`: cores, the open-file limit, `/proc` CPU time (ticks; per thread in ns) and RSS;
//! - `latency.rs`: the latency phase and its table;
//! - `report.rs`: the tables and `target/peers.json`;
//! - `targets.rs`: the targets as ratios of the same run, PASS, FAIL or n/a;
//! - `../readings.rs` (shared with the FTP bench): CLK_TCK, `openssl speed`, the JSON file.

mod backend;
mod client;
mod latency;
mod measure;
mod phases;
mod proxies;
#[path = "../readings.rs"]
mod readings;
mod refresh;
mod report;
mod scenario;
mod targets;

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use backend::start_backend;
use measure::{check_fd_limit, clk_tck, cores, openssl_speed};
use phases::{Phase, Subject, idle_phase, run_phase};
use proxies::{Ctx, Kind, versions};
use report::Row;
use scenario::Scenario;

const MIB: u64 = 1 << 20;
const WORKERS: usize = 4;
const CHUNK: usize = 64 * 1024;
/// Bound on one connection's set-up, ping or close.
const STEP: Duration = Duration::from_secs(20);
/// Bound on a proxy's start (listening line or accepting port).
const START: Duration = Duration::from_secs(30);

fn main() {
    let params = Params::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let work = TempDir::new().expect("temp dir");
    let backend = rt.block_on(start_backend()).expect("backend");
    let clk_tck = clk_tck();

    println!(
        "# attls peers: {}; scale {}, {} rounds, {} cores (CLK_TCK {clk_tck})",
        params.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        params.scale,
        params.rounds,
        cores()
    );
    check_fd_limit(params.idle);
    let aes = openssl_speed();
    match aes {
        Some(mb) => println!("openssl speed (one core, AES-128-GCM, 16 KiB blocks): {mb:.0} MB/s"),
        None => println!("openssl speed: unavailable"),
    }
    for line in versions() {
        println!("{line}");
    }

    // All proxies of all scenarios run side by side (an idle proxy costs nothing) so that rounds can
    // interleave them.
    let mut subjects: Vec<Subject> = Vec::new();
    for &scenario in &params.scenarios {
        let dir = work.0.join(scenario.name());
        let pki = dir.join("pki");
        let ca = scenario.write_pki(&pki).unwrap_or_else(|e| panic!("{} test PKI: {e}", scenario.name()));
        let logs = work.0.join("logs").join(scenario.name());
        fs::create_dir_all(&logs).expect("log directory");
        let ctx = Ctx { scenario, dir, logs, pki, backend, log_level: params.log_level.clone() };
        subjects.extend(
            Kind::ALL
                .into_iter()
                .filter(|k| params.only.is_empty() || params.only.iter().any(|o| o == k.name()))
                .map(|kind| Subject::start(kind, &ctx, &ca)),
        );
    }
    if params.wanted("idle") {
        for s in subjects.iter_mut() {
            s.run(|proxy, clients, samples| idle_phase(&rt, proxy, clients, &params, samples));
        }
    }
    for round in 1..=params.rounds {
        eprintln!("== round {round} of {}", params.rounds);
        for phase in Phase::ALL.into_iter().filter(|ph| params.wanted(ph.group())) {
            for s in subjects.iter_mut() {
                s.run(|proxy, clients, samples| {
                    run_phase(&rt, proxy, clients, &params, clk_tck, phase, samples)
                });
            }
        }
    }
    let rows: Vec<(Scenario, Kind, Row)> = subjects.iter().map(|s| (s.scenario, s.kind, s.row())).collect();
    drop(subjects);

    report::publish(&params, aes, &rows);
}

/// The run's sizes and selections, from the environment (see the crate doc).
struct Params {
    scenarios: Vec<Scenario>,
    scale: f64,
    bulk_one: u64,
    bulk_eight: u64,
    handshakes: usize,
    idle: usize,
    /// Latency exchanges per connection with one connection, and with `idle` at once.
    latency_each_1: usize,
    latency_each_many: usize,
    rounds: usize,
    only: Vec<String>,
    phases: Vec<String>,
    log_level: String,
}

impl Params {
    fn from_env() -> Params {
        let scale = std::env::var("ATTLS_PEERS_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(1.0)
            .clamp(0.001, 10.0);
        let scaled = |n: f64, min: f64| (n * scale).max(min) as u64;
        let scenarios = Scenario::from_env().unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
        Params {
            scenarios,
            scale,
            bulk_one: scaled(1024.0 * MIB as f64, MIB as f64),
            bulk_eight: scaled(128.0 * MIB as f64, MIB as f64),
            handshakes: scaled(2000.0, 100.0) as usize,
            idle: scaled(1000.0, 100.0) as usize,
            latency_each_1: scaled(2000.0, 200.0) as usize,
            latency_each_many: scaled(20.0, 5.0) as usize,
            rounds: std::env::var("ATTLS_PEERS_ROUNDS")
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(3)
                .clamp(1, 20),
            only: list_var("ATTLS_PEERS_ONLY"),
            phases: list_var("ATTLS_PEERS_PHASES"),
            log_level: std::env::var("ATTLS_PEERS_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        }
    }
}

impl Params {
    fn wanted(&self, phase: &str) -> bool {
        self.phases.is_empty() || self.phases.iter().any(|w| w == phase)
    }
}

/// A comma-separated list, lowercased; empty = all.
fn list_var(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A private directory removed at the end, even on panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("attls-peers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
