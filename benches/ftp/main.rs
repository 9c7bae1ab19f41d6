//! `cargo bench --bench ftp` (`scripts/bench-ftp`): a large RETR through attls's FTP helper
//! against the same file straight from the plaintext server and from vsftpd's own FTPS, as the
//! issue asks: "a 1 GiB RETR through attls vs straight from the plaintext server and vs vsftpd's
//! own FTPS (same cipher)". Needs root (vsftpd chroots and drops to `ftp`), vsftpd and curl.
//!
//! Three servers run side by side on 127.0.0.1, all serving one directory (anonymous, read-only):
//! - `plain`: vsftpd, plain FTP;
//! - `attls`: the release `pagent` with listener FTP1 (`Protocol Ftp`) in front of a second plain
//!   vsftpd; one rule, `ApplicationControlled On` (explicit FTPS: clear until `AUTH TLS`) and
//!   `SecondaryMap On` (data connections take the control connection's rule);
//! - `vsftpd-tls`: a third vsftpd with its own explicit FTPS (`force_anon_*_ssl`,
//!   `require_ssl_reuse`).
//!
//! TLS is the same in both TLS cases: one ECDSA P-256 certificate for `localhost` from a test CA
//! generated for the run (`attls::keyring::write_test_pki`, as the peers bench), TLS 1.3,
//! TLS_AES_128_GCM_SHA256, key exchange secp256r1. curl pins all three (`--tlsv1.3 --tls-max 1.3
//! --tls13-ciphers TLS_AES_128_GCM_SHA256 --curves P-256`) and so does attls's policy (1301, 0023,
//! TLSv1.2 Off). P-256 rather than the peers bench's X25519: vsftpd 3.0.3 sets P-256 as its only
//! ECDH group, and with X25519 alone its handshake fails ("no suitable key share"). vsftpd's
//! `ssl_ciphers` (ECDHE-ECDSA-AES128-GCM-SHA256) covers TLS 1.2 only; its TLS 1.3 suites are
//! OpenSSL's default list, which has TLS_AES_128_GCM_SHA256. Every handshake is checked from curl's
//! `-v` output (control and data connection, `SSL connection using TLSv1.3 /
//! TLS_AES_128_GCM_SHA256`; the data connection resumes the control session: `SSL re-using session
//! ID`) and the run stops if one differs; the first RETR's lines, and vsftpd's and pagent's own
//! log lines about them, are printed.
//!
//! A file of `ATTLS_FTP_SIZE_MIB` (default 1024) pseudo-random bytes, on tmpfs (`/dev/shm`, else
//! the temp dir), is retrieved by curl (passive, `-o /dev/null`, `--ssl-reqd` in the TLS cases)
//! `ATTLS_FTP_ROUNDS` times (default 3) per server, interleaved: each round runs all three, each
//! round starting with the next server, so a machine that speeds up or slows down hits all alike.
//! One 1 MiB RETR per server comes first, untimed (it checks the TLS and warms up).
//!
//! Measured per RETR: the wall time of the curl process (connect, login, RETR, QUIT) giving MB/s
//! (10^6 bytes/s), and the server side's CPU time (user + system), reported per GiB (2^30 bytes):
//! - `plain` and `vsftpd-tls`: all of that vsftpd's processes;
//! - `attls`: pagent's (`/proc/PID/stat` utime + stime: all threads, live and exited) plus its
//!   backend vsftpd's; attls's alone in a column of its own;
//! - curl's own CPU, for context (on 2 cores the client competes with the server).
//!
//! vsftpd's CPU: vsftpd forks per session, and each session calls `setsid` (so its processes
//! leave the listener's process group) and forks twice: a privileged process (the session leader,
//! `nobody`) forks a pre-login process (`nobody`) and, after login, a post-login one (`ftp`). Under
//! FTPS the pre-login process holds the TLS of both connections (seen with strace): the post-login
//! process reads the file and hands the plaintext over a socketpair to it, and it encrypts and
//! writes to the data socket. The listener's `cutime`/`cstime` would count only what the kernel
//! folds in on `wait()`: the privileged process reaps the post-login process and exits at once, so
//! the TLS process (most of vsftpd's FTPS CPU) outlives it, is reparented to init and reaped there,
//! and its CPU never reaches the listener. Measured on vsftpd FTPS with 300 MB: the listener's
//! cutime grew 0.29 s of 0.71 s. So each vsftpd (listener, and through inheritance every process it
//! forks) is put into a cgroup v2 group of its own, below the bench's, right after it starts, and
//! its CPU is the group's `cpu.stat` `usage_usec` across the RETR, read once all its session
//! processes have exited. Where no group can be made (no cgroup2 mount, or no write access) it
//! falls back to sampling `/proc` every 10 ms: the listener's own utime + stime plus the last
//! reading of every descendant (found by parent pid and remembered after reparenting), which
//! misses at most one interval per session process (a few ms per RETR; the two methods agreed
//! within the run-to-run noise). `ATTLS_FTP_CPU=sample` forces the fallback, `cgroup` (the
//! default) tries the group first.
//!
//! Output: a markdown table (medians over the rounds) and the ratios, each the median of the
//! per-round ratios (attls vs plain: MB/s and CPU; attls vs vsftpd's FTPS: MB/s, CPU of
//! attls + backend, CPU of attls alone), on stdout; all of it with every RETR's raw figures and the
//! load average around it in `target/ftp-bench.json`. `ATTLS_FTP_LOG_LEVEL` is pagent's
//! `--log-level` (default `info`, its default).
//!
//! # Layout
//! - `main.rs`: parameters, set-up, the rounds;
//! - `servers.rs`: vsftpd (plain and FTPS) and pagent: configuration, start, kill;
//! - `cpu.rs`: CPU time of a process tree (cgroup v2 or `/proc` sampling) and of one process;
//! - `client.rs`: the curl RETR and its TLS checks;
//! - `host.rs`: the work directory and the file, load average, versions;
//! - `report.rs`: the table, the ratios and `target/ftp-bench.json`;
//! - `../readings.rs` (shared with the peers bench): CLK_TCK, `openssl speed`, the JSON file.

mod client;
mod cpu;
mod host;
#[path = "../readings.rs"]
mod readings;
mod report;
mod servers;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use client::{EXPECTED_TLS, retr};
use cpu::{Method, clk_tck, own_ticks};
use host::{TempDir, loadavg, random_file, versions};
use readings::openssl_speed;
use report::Sample;
use servers::{Pagent, Vsftpd, VsftpdTls, start_pagent, start_vsftpd};

const MIB: u64 = 1 << 20;
/// How long a server may take to end a session after curl exits.
const SESSION_END: Duration = Duration::from_secs(15);

/// The three ways the file is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Plain,
    Attls,
    VsftpdTls,
}

impl Case {
    pub const ALL: [Case; 3] = [Case::Plain, Case::Attls, Case::VsftpdTls];

    pub fn name(self) -> &'static str {
        match self {
            Case::Plain => "plain",
            Case::Attls => "attls",
            Case::VsftpdTls => "vsftpd-tls",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Case::Plain => "vsftpd, plain FTP",
            Case::Attls => "attls (explicit FTPS) in front of plain vsftpd",
            Case::VsftpdTls => "vsftpd's own explicit FTPS",
        }
    }
}

/// The run's settings, from the environment (see the crate doc).
pub struct Params {
    pub rounds: usize,
    pub size: u64,
    pub method: Method,
    pub log_level: String,
}

impl Params {
    fn from_env() -> Params {
        let num = |name: &str, default: u64, lo: u64, hi: u64| {
            std::env::var(name)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(default)
                .clamp(lo, hi)
        };
        let method = match std::env::var("ATTLS_FTP_CPU").unwrap_or_default().trim() {
            "" | "auto" | "cgroup" => Method::Cgroup,
            "sample" => Method::Sample,
            other => {
                eprintln!("ATTLS_FTP_CPU={other}: expected cgroup or sample");
                std::process::exit(2)
            }
        };
        Params {
            rounds: num("ATTLS_FTP_ROUNDS", 3, 1, 50) as usize,
            size: num("ATTLS_FTP_SIZE_MIB", 1024, 1, 16 * 1024) * MIB,
            method,
            log_level: std::env::var("ATTLS_FTP_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        }
    }
}

/// The servers, the file and the TLS trust anchor.
struct Setup {
    plain: Vsftpd,
    // Dropped in order: pagent before its backend.
    pagent: Pagent,
    backend: Vsftpd,
    tls: Vsftpd,
    ca: PathBuf,
    file: String,
}

impl Setup {
    fn url(&self, case: Case, file: &str) -> String {
        match case {
            Case::Plain => format!("ftp://{}/{file}", self.plain.addr),
            Case::Attls => format!("ftp://localhost:{}/{file}", self.pagent.addr.port()),
            Case::VsftpdTls => format!("ftp://localhost:{}/{file}", self.tls.addr.port()),
        }
    }

    /// The vsftpd whose CPU counts for `case`.
    fn vsftpd(&self, case: Case) -> &Vsftpd {
        match case {
            Case::Plain => &self.plain,
            Case::Attls => &self.backend,
            Case::VsftpdTls => &self.tls,
        }
    }

    fn ca(&self, case: Case) -> Option<&Path> {
        (case != Case::Plain).then_some(self.ca.as_path())
    }
}

fn main() {
    let params = Params::from_env();
    if fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX) != 0 {
        eprintln!(
            "the FTP bench needs root: vsftpd chroots and drops privileges (run scripts/bench-ftp as root)"
        );
        std::process::exit(2);
    }
    // Errors return here, after the servers are killed and the work directory removed.
    if let Err(e) = run(&params) {
        eprintln!("ftp bench failed: {e}");
        std::process::exit(1);
    }
}

fn run(params: &Params) -> Result<(), String> {
    let clk = clk_tck();
    let work = TempDir::new().map_err(|e| format!("work directory: {e}"))?;
    println!(
        "# attls FTP bench: {} MiB RETR, {} rounds, {} cores (CLK_TCK {clk}), work dir {}",
        params.size / MIB,
        params.rounds,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        work.0.display()
    );
    let aes = openssl_speed();
    match aes {
        Some(mb) => println!("openssl speed (one core, AES-128-GCM, 16 KiB blocks): {mb:.0} MB/s"),
        None => println!("openssl speed: unavailable"),
    }
    let versions = versions();
    for v in &versions {
        println!("{v}");
    }
    let setup = set_up(&work.0, params)?;
    let method = setup.plain.tree.method();
    println!("server CPU counted by: {}", method.name());
    let tls_lines = preflight(&setup, clk)?;

    let mut samples: Vec<Sample> = Vec::new();
    for round in 0..params.rounds {
        eprintln!("== round {} of {} (load {})", round + 1, params.rounds, loadavg());
        for k in 0..Case::ALL.len() {
            let case = Case::ALL[(round + k) % Case::ALL.len()];
            let s = measure(&setup, case, round + 1, params.size, clk)?;
            eprintln!(
                "  {:<10} {:>7.0} MB/s  server CPU {:>6.2} s  (attls {})  curl {:.2} s",
                case.name(),
                s.bytes as f64 / s.wall_s / 1e6,
                s.server_cpu_s,
                s.attls_cpu_s.map_or("-".into(), |a| format!("{a:.2} s")),
                s.client_cpu_s
            );
            samples.push(s);
        }
    }
    drop(setup);
    report::publish(params, method, clk, aes, &versions, &tls_lines, &samples);
    Ok(())
}

/// The file, the PKI, and the four processes (three vsftpd, one pagent).
fn set_up(work: &Path, params: &Params) -> Result<Setup, String> {
    let root = work.join("root");
    fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    // vsftpd refuses a writable chroot; anonymous users read only world-readable files.
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let file = format!("f{}MiB.bin", params.size / MIB);
    let t = Instant::now();
    random_file(&root.join(&file), params.size).map_err(|e| format!("{file}: {e}"))?;
    random_file(&root.join("warm.bin"), MIB).map_err(|e| format!("warm.bin: {e}"))?;
    eprintln!("wrote {file} in {:.1} s", t.elapsed().as_secs_f64());
    let pki = work.join("pki");
    let ca = attls::keyring::write_test_pki(&pki, &[("server", "localhost", false)])
        .map_err(|e| format!("test PKI: {e}"))?;
    let (cert, key) = (pki.join("server.pem"), pki.join("server.key"));
    let logs = work.join("logs");
    let dir = |name: &str| {
        let d = work.join(name);
        fs::create_dir_all(&d).map(|()| d).map_err(|e| format!("{name}: {e}"))
    };
    fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let plain = start_vsftpd("plain", &dir("plain")?, &root, None, params.method)?;
    let backend = start_vsftpd("backend", &dir("backend")?, &root, None, params.method)?;
    let tls_conf = VsftpdTls { cert: &cert, key: &key, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" };
    let tls = start_vsftpd("vsftpd-tls", &dir("vsftpd-tls")?, &root, Some(&tls_conf), params.method)?;
    let pagent = start_pagent(&work.join("attls"), &logs, &pki, backend.addr, &params.log_level)?;
    eprintln!(
        "plain vsftpd {}, attls {} -> vsftpd {}, vsftpd FTPS {}; pagent pid {}",
        plain.addr,
        pagent.addr,
        backend.addr,
        tls.addr,
        pagent.pid()
    );
    Ok(Setup { plain, pagent, backend, tls, ca, file })
}

/// One untimed 1 MiB RETR per case: the TLS every handshake used (it must be [`EXPECTED_TLS`]),
/// printed with what the servers logged about it. Returns the printed lines per case.
fn preflight(setup: &Setup, clk: u64) -> Result<Vec<(Case, Vec<String>)>, String> {
    let mut all = Vec::new();
    for case in Case::ALL {
        let r = retr(&setup.url(case, "warm.bin"), setup.ca(case), MIB, clk)?;
        let mut lines = Vec::new();
        if case != Case::Plain {
            if let Some(problem) = r.tls_problem() {
                return Err(format!("{}: {problem}", case.name()));
            }
            lines.push(format!(
                "curl: {} handshakes, each {EXPECTED_TLS}; {} resumed",
                r.handshakes.len(),
                r.resumed
            ));
        }
        let server_log = match case {
            Case::Plain => None,
            Case::Attls => Some((&setup.pagent.log, "secure")),
            Case::VsftpdTls => Some((&setup.tls.log, "SSL version:")),
        };
        if let Some((log, key)) = server_log {
            let text = fs::read_to_string(log).unwrap_or_default();
            lines.extend(text.lines().filter(|l| l.contains(key)).map(|l| format!("log: {}", l.trim())));
        }
        println!("TLS check {} ({}):", case.name(), case.describe());
        for l in &lines {
            println!("  {l}");
        }
        if lines.is_empty() {
            println!("  (no TLS)");
        }
        all.push((case, lines));
    }
    Ok(all)
}

/// One timed RETR of the big file.
fn measure(setup: &Setup, case: Case, round: usize, size: u64, clk: u64) -> Result<Sample, String> {
    let vsftpd = setup.vsftpd(case);
    if !vsftpd.tree.wait_sessions_gone(SESSION_END) {
        return Err(format!("{}: sessions of the last RETR still running", case.name()));
    }
    let load_before = loadavg();
    let mark = vsftpd.tree.mark()?;
    let pagent_before = match case {
        Case::Attls => Some(own_ticks(setup.pagent.pid())?),
        _ => None,
    };
    let r = retr(&setup.url(case, &setup.file), setup.ca(case), size, clk)
        .map_err(|e| format!("{} round {round}: {e}", case.name()))?;
    if case != Case::Plain {
        if let Some(problem) = r.tls_problem() {
            return Err(format!("{} round {round}: {problem}", case.name()));
        }
    }
    if !vsftpd.tree.wait_sessions_gone(SESSION_END) {
        return Err(format!("{}: the session did not end within {SESSION_END:?}", case.name()));
    }
    let vsftpd_cpu_s = vsftpd.tree.seconds_since(&mark, clk)?;
    let attls_cpu_s = match pagent_before {
        Some(before) => Some(own_ticks(setup.pagent.pid())?.saturating_sub(before) as f64 / clk as f64),
        None => None,
    };
    Ok(Sample {
        case,
        round,
        wall_s: r.wall_s,
        bytes: r.bytes,
        server_cpu_s: vsftpd_cpu_s + attls_cpu_s.unwrap_or(0.0),
        attls_cpu_s,
        vsftpd_cpu_s,
        client_cpu_s: r.client_cpu_s,
        load_before,
        load_after: loadavg(),
    })
}
