//! `cargo bench --bench peers`: attls against stunnel4 and HAProxy in one run, with the same
//! certificate (ECDSA P-256, CN/SAN localhost), the same TLS (1.3, TLS_AES_128_GCM_SHA256, X25519)
//! and the same rustls client, as the load tool asks (STYLE.md §3.10: ratios from one run).
//!
//! Every proxy terminates TLS on 127.0.0.1 and relays plaintext to one backend in this process.
//! Direction: the client sends, the proxy decrypts. A request is an 8-byte big-endian length N then
//! N bytes; the backend discards them and answers N as an 8-byte ack (N = 0 is a ping).
//!
//! The proxy is judged by its own CPU time (utime + stime of the process in `/proc/PID/stat`, all
//! threads, live and exited), read before and after each phase, because on 2 cores the client and
//! backend compete with it. The three proxies run side by side (idle ones cost nothing):
//! 1. idle, on each fresh process: VmRSS after one warm-up connection, then with `idle` (1,000)
//!    connections that finished the handshake and one ping and stay open; the delta per connection;
//! 2. rounds (`ATTLS_PEERS_ROUNDS`, default 3), each running every phase on every proxy in turn, so
//!    a machine that speeds up or slows down (shared hosts do) hits all three alike; the table
//!    shows medians, `target/peers.json` every phase's raw wall, user and system seconds:
//!    - bulk: 1 connection × 1 GiB, then 8 × 128 MiB (set up before the clock starts);
//!    - handshakes: 2,000 full ones (client resumption disabled), then 2,000 resumed ones (a client
//!      configuration of the proxy's own, primed first; `handshake_kind()` checks each), 4 workers;
//!      each connection is a handshake, one ping through to the backend, close_notify and close,
//!      so the figure is the whole cost of a short connection to the proxy, TCP included.
//!
//! GB and MB are 10^9 and 10^6 bytes. Environment: `ATTLS_PEERS_SCALE` (default 1; 0.1 for a quick
//! run) scales bytes and counts; `ATTLS_PEERS_ONLY=attls,haproxy` picks proxies and
//! `ATTLS_PEERS_PHASES=idle,bulk,handshakes` phases (for profiling one of them);
//! `ATTLS_PEERS_LOG_LEVEL` is pagent's `--log-level` (default `info`, its own default; stunnel logs
//! at its default level too, HAProxy logs nothing without a `log` line). Output: a markdown table
//! and the target checks on stdout, the same as JSON in `target/peers.json`.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, HandshakeKind, RootCertStore};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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
    let pki = work.0.join("pki");
    let ca = attls::keyring::write_test_pki(&pki, &[("server", "localhost", false)]).expect("test PKI");
    let backend = rt.block_on(start_backend()).expect("backend");
    let logs = work.0.join("logs");
    fs::create_dir_all(&logs).expect("log directory");
    let ctx = Ctx { dir: work.0.clone(), logs, pki, backend, log_level: params.log_level.clone() };
    let clk_tck = clk_tck();

    println!(
        "# attls peers: scale {}, {} rounds, {} cores (CLK_TCK {clk_tck})",
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

    // All proxies run side by side (an idle proxy costs nothing) so that rounds can interleave them.
    let mut subjects: Vec<Subject> = Kind::ALL
        .into_iter()
        .filter(|k| params.only.is_empty() || params.only.iter().any(|o| o == k.name()))
        .map(|kind| Subject::start(kind, &ctx, &ca))
        .collect();
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
    let rows: Vec<(Kind, Row)> = subjects.iter().map(|s| (s.kind, s.row())).collect();
    drop(subjects);

    let (table, checks) = report(&rows);
    println!("\n{table}");
    for c in &checks {
        println!("{}", c.line());
    }
    let json = json!({
        "scale": params.scale,
        "rounds": params.rounds,
        "cores": cores(),
        "bulk_bytes_1_conn": params.bulk_one,
        "bulk_bytes_per_conn_8_conn": params.bulk_eight,
        "handshakes": params.handshakes,
        "idle_connections": params.idle,
        "openssl_speed_aes_128_gcm_mb_s": aes,
        "proxies": rows.iter().map(|(k, r)| (k.name().to_string(), r.json())).collect::<serde_json::Map<_, _>>(),
        "targets": checks.iter().map(Check::json).collect::<Vec<_>>(),
    });
    let out = target_dir().join("peers.json");
    match fs::write(&out, serde_json::to_string_pretty(&json).unwrap_or_default()) {
        Ok(()) => println!("\nJSON: {}", out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", out.display()),
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and environment

struct Params {
    scale: f64,
    bulk_one: u64,
    bulk_eight: u64,
    handshakes: usize,
    idle: usize,
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
        Params {
            scale,
            bulk_one: scaled(1024.0 * MIB as f64, MIB as f64),
            bulk_eight: scaled(128.0 * MIB as f64, MIB as f64),
            handshakes: scaled(2000.0, 100.0) as usize,
            idle: scaled(1000.0, 100.0) as usize,
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn clk_tck() -> u64 {
    command_output("getconf", &["CLK_TCK"]).and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// stdout (or stderr when stdout is empty: `stunnel4 -version`) of a command that exits by itself.
fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).stdin(Stdio::null()).output().ok()?;
    let s = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    Some(String::from_utf8_lossy(&s).into_owned())
}

/// `cmd` as an executable file in a PATH directory, or in /usr/sbin (haproxy's, often not in PATH).
fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(cmd))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The bench holds 2 sockets per idle connection (client and backend side); so does each proxy.
fn check_fd_limit(idle: usize) {
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
fn openssl_speed() -> Option<f64> {
    let out = command_output(
        "openssl",
        &["speed", "-elapsed", "-seconds", "2", "-bytes", "16384", "-evp", "aes-128-gcm"],
    )?;
    let line = out.lines().rev().find(|l| l.to_ascii_lowercase().starts_with("aes-128-gcm"))?;
    let last = line.split_whitespace().last()?;
    let kb = last.trim_end_matches('k').parse::<f64>().ok()?;
    Some(kb * 1000.0 / 1e6)
}

fn versions() -> Vec<String> {
    let first = |cmd: &str, args: &[&str], key: &str| {
        which(cmd)
            .and_then(|exe| command_output(&exe.to_string_lossy(), args))
            .and_then(|o| o.lines().find(|l| l.contains(key)).map(|l| l.trim().to_string()))
            .unwrap_or_else(|| format!("{cmd}: not installed"))
    };
    vec![
        format!("pagent: {}", env!("CARGO_BIN_EXE_pagent")),
        first("stunnel4", &["-version"], "stunnel "),
        first("haproxy", &["-v"], "HAProxy version"),
        first("openssl", &["version"], "OpenSSL"),
    ]
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

// ---------------------------------------------------------------------------------------------
// The proxies

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Attls,
    Stunnel,
    Haproxy,
}

/// What every proxy is started with.
struct Ctx {
    dir: PathBuf,
    /// Proxy logs, in a directory of their own: pagent watches its policy and keyring directories,
    /// and a log written there would wake its watcher on every line.
    logs: PathBuf,
    pki: PathBuf,
    backend: SocketAddr,
    log_level: String,
}

/// A running proxy; killed (and reaped) when dropped, panics included.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("exited ({status})")),
            Err(e) => Err(format!("cannot wait for it: {e}")),
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Attls, Kind::Stunnel, Kind::Haproxy];

    fn name(self) -> &'static str {
        match self {
            Kind::Attls => "attls",
            Kind::Stunnel => "stunnel",
            Kind::Haproxy => "haproxy",
        }
    }

    fn start(self, ctx: &Ctx) -> Result<Proxy, String> {
        match self {
            Kind::Attls => start_attls(ctx),
            Kind::Stunnel => {
                let Some(exe) = which("stunnel4") else {
                    return Err("stunnel4 is not installed (scripts/bench-peers installs it)".into());
                };
                let port = free_port()?;
                let conf = ctx.dir.join("stunnel.conf");
                let text = format!(
                    "foreground = yes\nsyslog = no\npid = {dir}/stunnel.pid\n\n[peers]\naccept = 127.0.0.1:{port}\n\
                     connect = {backend}\ncert = {pki}/server.pem\nkey = {pki}/server.key\n\
                     sslVersion = TLSv1.3\nciphersuites = TLS_AES_128_GCM_SHA256\ncurves = X25519\n",
                    dir = ctx.dir.display(),
                    backend = ctx.backend,
                    pki = ctx.pki.display(),
                );
                fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
                spawn_on_port(ctx, "stunnel", Command::new(exe).arg(&conf), port)
            }
            Kind::Haproxy => {
                let Some(exe) = which("haproxy") else {
                    return Err("haproxy is not installed (scripts/bench-peers installs it)".into());
                };
                let port = free_port()?;
                // HAProxy wants the key in the crt file: the same chain (leaf, CA) and key.
                let crt = ctx.dir.join("haproxy.pem");
                let chain = fs::read_to_string(ctx.pki.join("server.pem")).map_err(|e| e.to_string())?;
                let key = fs::read_to_string(ctx.pki.join("server.key")).map_err(|e| e.to_string())?;
                fs::write(&crt, format!("{chain}{key}")).map_err(|e| e.to_string())?;
                let conf = ctx.dir.join("haproxy.cfg");
                let text = format!(
                    "global\n  nbthread 2\n  maxconn 4096\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
                     timeout client 10m\n  timeout server 10m\n\nfrontend peers\n  bind 127.0.0.1:{port} ssl \
                     crt {crt} ssl-min-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256 curves X25519\n  \
                     default_backend sink\n\nbackend sink\n  server sink {backend}\n",
                    crt = crt.display(),
                    backend = ctx.backend,
                );
                fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
                spawn_on_port(ctx, "haproxy", Command::new(exe).arg("-db").arg("-f").arg(&conf), port)
            }
        }
    }
}

/// pagent with a one-rule policy; its `listening PEERS ADDR` line gives the port.
fn start_attls(ctx: &Ctx) -> Result<Proxy, String> {
    let own = ctx.dir.join("attls");
    fs::create_dir_all(&own).map_err(|e| e.to_string())?;
    let pol = own.join("peers.pol");
    let policy = format!(
        "TTLSRule peers~bench\n{{\n  Jobname PEERS*\n  Direction Inbound\n  TTLSGroupActionRef gPeers\n  \
         TTLSEnvironmentActionRef ePeers\n}}\nTTLSGroupAction gPeers\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction ePeers\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n  \
         TTLSCipherParms\n  {{\n    V3CipherSuites4Char 1301\n  }}\n  TTLSSignatureParms\n  {{\n    \
         ServerKeyShareGroups 0029\n  }}\n  TTLSEnvironmentAdvancedParms\n  {{\n    TLSv1.2 Off\n    TLSv1.3 On\n  }}\n}}\n",
        ctx.pki.display()
    );
    fs::write(&pol, policy).map_err(|e| e.to_string())?;
    let conf = own.join("pagent.conf");
    let text = format!(
        "TTLSConfig {}\nControlSocket {}\nRefreshInterval 0\nListener PEERS\n{{\n  Listen 127.0.0.1:0\n  \
         Backend {}\n  Direction Inbound\n}}\n",
        pol.display(),
        own.join("pagent.sock").display(),
        ctx.backend
    );
    fs::write(&conf, text).map_err(|e| e.to_string())?;
    let log = ctx.logs.join("attls.log");
    let stderr = fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["start", "-c"])
        .arg(&conf)
        .args(["--log-level", &ctx.log_level])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start pagent: {e}"))?;
    let mut proxy = Proxy { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log };
    let stdout = proxy.child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    // Reads the listening line, then drains stdout until pagent exits so it never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening PEERS ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(START).map_err(|_| format!("no listening line\n{}", proxy.log_tail()))?;
    proxy.addr = addr.parse().map_err(|e| format!("listening address `{addr}`: {e}"))?;
    Ok(proxy)
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Starts a proxy that prints no address and waits (bounded) until its port accepts connections.
fn spawn_on_port(ctx: &Ctx, name: &str, cmd: &mut Command, port: u16) -> Result<Proxy, String> {
    let log = ctx.logs.join(format!("{name}.log"));
    let out = fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let mut proxy = Proxy { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log };
    let deadline = Instant::now() + START;
    loop {
        proxy.alive().map_err(|e| format!("{e}\n{}", proxy.log_tail()))?;
        if std::net::TcpStream::connect_timeout(&proxy.addr, Duration::from_secs(1)).is_ok() {
            return Ok(proxy);
        }
        if Instant::now() > deadline {
            return Err(format!("port {port} not accepting after {START:?}\n{}", proxy.log_tail()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// utime and stime of the whole process (all threads, exited ones included), in clock ticks.
fn cpu_ticks(pid: u32) -> Result<(u64, u64), String> {
    let stat =
        fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).ok_or("bad /proc stat field");
    Ok((num(11)?, num(12)?))
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

// ---------------------------------------------------------------------------------------------
// Backend and client

/// The plaintext backend: per request, discard N bytes and ack N.
async fn start_backend() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sink(s).await;
            });
        }
    });
    Ok(addr)
}

async fn sink(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = Vec::new();
    loop {
        let mut hdr = [0u8; 8];
        match s.read_exact(&mut hdr).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let n = u64::from_be_bytes(hdr);
        if n > 0 && buf.is_empty() {
            buf = vec![0u8; CHUNK];
        }
        let mut left = n;
        while left > 0 {
            let want = left.min(CHUNK as u64) as usize;
            let got = s.read(&mut buf[..want]).await?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            left -= got as u64;
        }
        s.write_all(&n.to_be_bytes()).await?;
    }
}

/// The rustls client: TLS 1.3 only, TLS_AES_128_GCM_SHA256, X25519, the test CA.
struct Clients {
    /// Resumption disabled: every handshake is a full one.
    full: TlsConnector,
    /// Tickets kept and offered (rustls's in-memory store).
    resume: TlsConnector,
}

impl Clients {
    fn new(ca: &Path) -> Clients {
        let provider = CryptoProvider {
            cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
            kx_groups: vec![rustls::crypto::ring::kx_group::X25519],
            ..rustls::crypto::ring::default_provider()
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).expect("ca.pem") {
            roots.add(cert.expect("CA certificate")).expect("CA certificate");
        }
        let build = |resume: bool| {
            let mut c = ClientConfig::builder_with_provider(Arc::new(provider.clone()))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("TLS 1.3")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            if !resume {
                c.resumption = Resumption::disabled();
            }
            TlsConnector::from(Arc::new(c))
        };
        Clients { full: build(false), resume: build(true) }
    }
}

type Tls = TlsStream<TcpStream>;

async fn bounded<T>(
    what: &str,
    limit: Duration,
    f: impl Future<Output = io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {limit:?}")),
    }
}

/// TCP connect and TLS handshake.
async fn connect(tls: &TlsConnector, addr: SocketAddr) -> Result<Tls, String> {
    bounded("connect", STEP, async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tls.connect(ServerName::try_from("localhost").expect("name"), tcp).await
    })
    .await
}

/// Sends the header and `n` bytes, then waits for the backend's ack.
async fn request(s: &mut Tls, n: u64, limit: Duration) -> Result<(), String> {
    static DATA: [u8; CHUNK] = [0x5a; CHUNK];
    bounded("request", limit, async {
        s.write_all(&n.to_be_bytes()).await?;
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK as u64) as usize;
            s.write_all(&DATA[..k]).await?;
            left -= k as u64;
        }
        s.flush().await?;
        let mut ack = [0u8; 8];
        s.read_exact(&mut ack).await?;
        if u64::from_be_bytes(ack) == n { Ok(()) } else { Err(io::Error::other("wrong ack")) }
    })
    .await
}

/// close_notify, FIN, drop.
async fn close(mut s: Tls) {
    let _ = tokio::time::timeout(STEP, s.shutdown()).await;
}

/// One handshake connection: connect, ping, close; returns how the handshake went.
async fn one_handshake(tls: &TlsConnector, addr: SocketAddr) -> Result<Option<HandshakeKind>, String> {
    let mut s = connect(tls, addr).await?;
    request(&mut s, 0, STEP).await?;
    let kind = s.get_ref().1.handshake_kind();
    close(s).await;
    Ok(kind)
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// One proxy under test: its process, its own clients (so no ticket crosses to another proxy) and
/// the samples of every round. The first error stops it (and kills the process).
struct Subject {
    kind: Kind,
    proxy: Option<Proxy>,
    clients: Clients,
    samples: Samples,
    error: Option<String>,
}

impl Subject {
    fn start(kind: Kind, ctx: &Ctx, ca: &Path) -> Subject {
        let (proxy, error) = match kind.start(ctx) {
            Ok(proxy) => {
                eprintln!("{} started: pid {}, {}", kind.name(), proxy.pid(), proxy.addr);
                (Some(proxy), None)
            }
            Err(e) => {
                eprintln!("{}: {e}", kind.name());
                (None, Some(e))
            }
        };
        Subject { kind, proxy, clients: Clients::new(ca), samples: Samples::default(), error }
    }

    fn run(&mut self, f: impl FnOnce(&mut Proxy, &Clients, &mut Samples) -> Result<(), String>) {
        let Some(proxy) = self.proxy.as_mut() else { return };
        eprint!("  {:<8} ", self.kind.name());
        if let Err(e) = f(proxy, &self.clients, &mut self.samples) {
            eprintln!("{}: {e}\n{}", self.kind.name(), proxy.log_tail());
            self.error = Some(e);
            self.proxy = None;
        }
    }

    fn row(&self) -> Row {
        let s = &self.samples;
        Row {
            cpu_s_per_gb_1: median(&s.cpu_s_per_gb_1),
            cpu_s_per_gb_8: median(&s.cpu_s_per_gb_8),
            mb_s_1: median(&s.mb_s_1),
            mb_s_8: median(&s.mb_s_8),
            cpu_ms_full: median(&s.cpu_ms_full),
            cpu_ms_resumed: median(&s.cpu_ms_resumed),
            hs_s_full: median(&s.hs_s_full),
            hs_s_resumed: median(&s.hs_s_resumed),
            rss_kib_idle: s.rss_kib_idle,
            rss_kib_base: s.rss_kib_base,
            phases: s.phases.clone(),
            error: self.error.clone(),
        }
    }
}

/// Per-round values of each figure (the table shows their medians).
#[derive(Debug, Default)]
struct Samples {
    cpu_s_per_gb_1: Vec<f64>,
    cpu_s_per_gb_8: Vec<f64>,
    mb_s_1: Vec<f64>,
    mb_s_8: Vec<f64>,
    cpu_ms_full: Vec<f64>,
    cpu_ms_resumed: Vec<f64>,
    hs_s_full: Vec<f64>,
    hs_s_resumed: Vec<f64>,
    rss_kib_idle: Option<f64>,
    rss_kib_base: Option<u64>,
    /// Raw figures of every timed phase: wall, user and system CPU seconds.
    phases: Vec<Value>,
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The table's figures (medians over the rounds).
#[derive(Debug, Default)]
struct Row {
    cpu_s_per_gb_1: Option<f64>,
    cpu_s_per_gb_8: Option<f64>,
    mb_s_1: Option<f64>,
    mb_s_8: Option<f64>,
    cpu_ms_full: Option<f64>,
    cpu_ms_resumed: Option<f64>,
    hs_s_full: Option<f64>,
    hs_s_resumed: Option<f64>,
    rss_kib_idle: Option<f64>,
    rss_kib_base: Option<u64>,
    phases: Vec<Value>,
    error: Option<String>,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "cpu_s_per_gb_1_conn": self.cpu_s_per_gb_1,
            "cpu_s_per_gb_8_conn": self.cpu_s_per_gb_8,
            "mb_s_1_conn": self.mb_s_1,
            "mb_s_8_conn": self.mb_s_8,
            "cpu_ms_per_full_handshake": self.cpu_ms_full,
            "cpu_ms_per_resumed_handshake": self.cpu_ms_resumed,
            "full_handshakes_per_s": self.hs_s_full,
            "resumed_handshakes_per_s": self.hs_s_resumed,
            "rss_kib_per_idle_conn": self.rss_kib_idle,
            "rss_kib_fresh": self.rss_kib_base,
            "phases": self.phases,
            "error": self.error,
        })
    }
}

/// The timed phases of one round.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Bulk1,
    Bulk8,
    Full,
    Resumed,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::Bulk1, Phase::Bulk8, Phase::Full, Phase::Resumed];

    /// The name `ATTLS_PEERS_PHASES` selects it by.
    fn group(self) -> &'static str {
        match self {
            Phase::Bulk1 | Phase::Bulk8 => "bulk",
            Phase::Full | Phase::Resumed => "handshakes",
        }
    }
}

/// Runs `f` and returns its output, the proxy's CPU seconds (user + system) and the wall seconds;
/// records the raw figures under `name`.
fn timed<T>(
    rt: &Runtime,
    proxy: &mut Proxy,
    clk_tck: u64,
    samples: &mut Samples,
    name: &str,
    f: impl Future<Output = Result<T, String>>,
) -> Result<(T, f64, f64), String> {
    let pid = proxy.pid();
    let (u0, s0) = cpu_ticks(pid)?;
    let t0 = Instant::now();
    let out = rt.block_on(f)?;
    let wall = t0.elapsed().as_secs_f64();
    let (u1, s1) = cpu_ticks(pid)?;
    proxy.alive()?;
    let (user, sys) = ((u1 - u0) as f64 / clk_tck as f64, (s1 - s0) as f64 / clk_tck as f64);
    eprintln!("{name}: {wall:.2} s wall, CPU {user:.2} s user + {sys:.2} s system");
    samples.phases.push(json!({"phase": name, "wall_s": wall, "user_s": user, "system_s": sys}));
    Ok((out, user + sys, wall))
}

/// VmRSS of the fresh process (after one warm-up connection), then with `p.idle` open connections.
fn idle_phase(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    p: &Params,
    samples: &mut Samples,
) -> Result<(), String> {
    let (addr, pid) = (proxy.addr, proxy.pid());
    rt.block_on(one_handshake(&clients.full, addr))?;
    let before = rss_kib(pid)?;
    let idle = rt.block_on(open_idle(&clients.full, addr, p.idle))?;
    let after = rss_kib(pid)?;
    proxy.alive()?;
    samples.rss_kib_base = Some(before);
    samples.rss_kib_idle = Some(after.saturating_sub(before) as f64 / p.idle as f64);
    rt.block_on(async {
        let mut set = JoinSet::new();
        for s in idle {
            set.spawn(close(s));
        }
        while set.join_next().await.is_some() {}
    });
    eprintln!("idle: {before} KiB fresh, {after} KiB with {} connections", p.idle);
    Ok(())
}

fn run_phase(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    p: &Params,
    clk_tck: u64,
    phase: Phase,
    samples: &mut Samples,
) -> Result<(), String> {
    match phase {
        Phase::Bulk1 => {
            let (cpu_gb, mb_s) = bulk(rt, proxy, clients, 1, p.bulk_one, clk_tck, samples)?;
            samples.cpu_s_per_gb_1.push(cpu_gb);
            samples.mb_s_1.push(mb_s);
        }
        Phase::Bulk8 => {
            let (cpu_gb, mb_s) = bulk(rt, proxy, clients, 8, p.bulk_eight, clk_tck, samples)?;
            samples.cpu_s_per_gb_8.push(cpu_gb);
            samples.mb_s_8.push(mb_s);
        }
        Phase::Full => {
            let n = p.handshakes;
            let name = format!("{n} full handshakes");
            let (kinds, cpu, wall) =
                timed(rt, proxy, clk_tck, samples, &name, handshakes(clients.full.clone(), proxy.addr, n))?;
            let full = kinds.iter().filter(|k| **k == Some(HandshakeKind::Full)).count();
            if full != n {
                return Err(format!("{} of {n} handshakes were not full ones", n - full));
            }
            samples.cpu_ms_full.push(cpu * 1000.0 / n as f64);
            samples.hs_s_full.push(n as f64 / wall);
        }
        Phase::Resumed => {
            let n = p.handshakes;
            // Tickets for every worker. A connection uses one and brings two after a full handshake,
            // but OpenSSL sends one after a resumed one: a concurrent round tops the store up.
            rt.block_on(one_handshake(&clients.resume, proxy.addr))?;
            rt.block_on(handshakes(clients.resume.clone(), proxy.addr, 2 * WORKERS))?;
            let name = format!("{n} resumption attempts");
            let (kinds, cpu, wall) =
                timed(rt, proxy, clk_tck, samples, &name, handshakes(clients.resume.clone(), proxy.addr, n))?;
            let resumed = kinds.iter().filter(|k| **k == Some(HandshakeKind::Resumed)).count();
            if resumed * 100 < n * 99 {
                return Err(format!("only {resumed} of {n} handshakes resumed: session tickets not working"));
            }
            samples.cpu_ms_resumed.push(cpu * 1000.0 / n as f64);
            samples.hs_s_resumed.push(n as f64 / wall);
        }
    }
    Ok(())
}

/// `conns` connections each sending `bytes`, set up (handshake and ping) before the clock starts.
/// Returns CPU seconds per GB and wall MB/s.
fn bulk(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    conns: usize,
    bytes: u64,
    clk_tck: u64,
    samples: &mut Samples,
) -> Result<(f64, f64), String> {
    let addr = proxy.addr;
    let streams = rt.block_on(async {
        let mut streams = Vec::new();
        for _ in 0..conns {
            let mut s = connect(&clients.full, addr).await?;
            request(&mut s, 0, STEP).await?;
            streams.push(s);
        }
        Ok::<_, String>(streams)
    })?;
    let limit = STEP + Duration::from_secs(bytes * conns as u64 / 1_000_000);
    let name = format!("bulk {conns} x {bytes} bytes");
    let (streams, cpu, wall) = timed(rt, proxy, clk_tck, samples, &name, async move {
        let mut set = JoinSet::new();
        for mut s in streams {
            set.spawn(async move { request(&mut s, bytes, limit).await.map(|()| s) });
        }
        let mut done = Vec::new();
        while let Some(r) = set.join_next().await {
            done.push(r.map_err(|e| e.to_string())??);
        }
        Ok(done)
    })?;
    rt.block_on(async {
        for s in streams {
            close(s).await;
        }
    });
    let gb = (bytes * conns as u64) as f64 / 1e9;
    Ok((cpu / gb, gb * 1000.0 / wall))
}

/// `n` connections in `WORKERS` concurrent loops; the handshake kind of each.
async fn handshakes(
    tls: TlsConnector,
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<Option<HandshakeKind>>, String> {
    let mut set = JoinSet::new();
    for w in 0..WORKERS {
        let count = n / WORKERS + usize::from(w < n % WORKERS);
        let tls = tls.clone();
        set.spawn(async move {
            let mut kinds = Vec::with_capacity(count);
            for _ in 0..count {
                kinds.push(one_handshake(&tls, addr).await?);
            }
            Ok::<_, String>(kinds)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        all.extend(r.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// `n` connections that finished the handshake and one ping, left open (16 set up at a time).
async fn open_idle(tls: &TlsConnector, addr: SocketAddr, n: usize) -> Result<Vec<Tls>, String> {
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (tls, gate) = (tls.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let mut s = connect(&tls, addr).await?;
            request(&mut s, 0, STEP).await?;
            Ok::<_, String>(s)
        });
    }
    let mut open = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        open.push(r.map_err(|e| e.to_string())??);
    }
    Ok(open)
}

// ---------------------------------------------------------------------------------------------
// Report

/// One target of the issue, attls against a peer (or against itself).
struct Check {
    name: String,
    /// How the ratio is formed, e.g. `stunnel / attls`.
    form: &'static str,
    ratio: Option<f64>,
    /// `ratio >= bound` (`at_least`) or `ratio <= bound`.
    bound: f64,
    at_least: bool,
}

impl Check {
    fn pass(&self) -> Option<bool> {
        self.ratio.map(|r| if self.at_least { r >= self.bound } else { r <= self.bound })
    }

    fn line(&self) -> String {
        let verdict = match self.pass() {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a ",
        };
        let op = if self.at_least { ">=" } else { "<=" };
        let ratio = self.ratio.map_or("n/a".to_string(), |r| format!("{r:.2}"));
        format!("{verdict}  {}: {} = {ratio} (target {op} {:.2})", self.name, self.form, self.bound)
    }

    fn json(&self) -> Value {
        json!({"name": self.name, "ratio": self.form, "value": self.ratio, "bound": self.bound,
               "at_least": self.at_least, "pass": self.pass()})
    }
}

fn report(rows: &[(Kind, Row)]) -> (String, Vec<Check>) {
    let f = |v: Option<f64>, digits: usize| v.map_or("n/a".to_string(), |v| format!("{v:.digits$}"));
    let mut t = String::new();
    t.push_str(
        "| proxy | CPU s/GB (1 conn) | CPU s/GB (8 conn) | MB/s (1 conn) | MB/s (8 conn) | CPU ms/full handshake \
         | CPU ms/resumed | handshakes/s (full / resumed) | RSS KiB/idle conn |\n",
    );
    t.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (kind, r) in rows {
        if let Some(e) = &r.error {
            let _ = writeln!(t, "| {} | failed: {} |||||||| ", kind.name(), e.lines().next().unwrap_or(""));
            continue;
        }
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            kind.name(),
            f(r.cpu_s_per_gb_1, 2),
            f(r.cpu_s_per_gb_8, 2),
            f(r.mb_s_1, 0),
            f(r.mb_s_8, 0),
            f(r.cpu_ms_full, 3),
            f(r.cpu_ms_resumed, 3),
            f(r.hs_s_full, 0),
            f(r.hs_s_resumed, 0),
            f(r.rss_kib_idle, 1),
        );
    }
    let get = |k: Kind| rows.iter().find(|(kind, r)| *kind == k && r.error.is_none()).map(|(_, r)| r);
    let (a, s, h) = (get(Kind::Attls), get(Kind::Stunnel), get(Kind::Haproxy));
    // peer / attls for costs where attls must be cheaper by a factor.
    let over = |peer: Option<&Row>, field: fn(&Row) -> Option<f64>| {
        let (p, a) = (field(peer?)?, field(a?)?);
        (a > 0.0).then(|| p / a)
    };
    let checks = vec![
        Check {
            name: "CPU per GB, 1 conn, vs stunnel".into(),
            form: "stunnel / attls",
            ratio: over(s, |r| r.cpu_s_per_gb_1),
            bound: 1.3,
            at_least: true,
        },
        Check {
            name: "CPU per GB, 8 conn, vs stunnel".into(),
            form: "stunnel / attls",
            ratio: over(s, |r| r.cpu_s_per_gb_8),
            bound: 1.3,
            at_least: true,
        },
        Check {
            name: "CPU per GB, 1 conn, vs HAProxy".into(),
            form: "haproxy / attls",
            ratio: over(h, |r| r.cpu_s_per_gb_1),
            bound: 0.9,
            at_least: true,
        },
        Check {
            name: "CPU per GB, 8 conn, vs HAProxy".into(),
            form: "haproxy / attls",
            ratio: over(h, |r| r.cpu_s_per_gb_8),
            bound: 0.9,
            at_least: true,
        },
        Check {
            name: "CPU per full handshake vs stunnel".into(),
            form: "stunnel / attls",
            ratio: over(s, |r| r.cpu_ms_full),
            bound: 1.5,
            at_least: true,
        },
        Check {
            name: "attls resumed vs full handshake".into(),
            form: "resumed / full",
            ratio: a.and_then(|a| Some(a.cpu_ms_resumed? / a.cpu_ms_full?)),
            bound: 1.0 / 3.0,
            at_least: false,
        },
        Check {
            name: "RSS per idle connection vs stunnel".into(),
            form: "attls / stunnel",
            ratio: a.zip(s).and_then(|(a, s)| {
                let (a, s) = (a.rss_kib_idle?, s.rss_kib_idle?);
                (s > 0.0).then(|| a / s)
            }),
            bound: 0.5,
            at_least: false,
        },
    ];
    (t, checks)
}
