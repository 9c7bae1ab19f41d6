//! The proxies under test: attls (pagent), stunnel4 and HAProxy, each with the scenario's
//! certificate and TLS settings and the same backend: their configuration files, start (bounded by
//! `START`), kill on drop, log tails, and the versions the report opens with. pagent is this
//! build's, or `ATTLS_PEERS_PAGENT`'s; its files are kept for the refresh phase (`refresh.rs`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::START;
use crate::measure::command_output;
use crate::scenario::Scenario;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attls,
    Stunnel,
    Haproxy,
}

/// What every proxy of one scenario is started with.
pub struct Ctx {
    pub scenario: Scenario,
    /// The scenario's own directory: configuration files of its proxies.
    pub dir: PathBuf,
    /// Proxy logs, in a directory of their own: pagent watches its policy and keyring directories,
    /// and a log written there would wake its watcher on every line.
    pub logs: PathBuf,
    pub pki: PathBuf,
    pub backend: SocketAddr,
    pub log_level: String,
}

/// A running proxy; killed (and reaped) when dropped, panics included.
pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    /// attls only: what a refresh rewrites and runs (`refresh.rs`).
    pub attls: Option<AttlsFiles>,
}

/// pagent's files: its main configuration (for `pagent refresh -c`), its policy file and the
/// policy as first written (a refresh writes it again with an unrelated change).
pub struct AttlsFiles {
    pub conf: PathBuf,
    pub policy: PathBuf,
    pub text: String,
    /// The keyring of the policy (the unrelated change names it too).
    pub keyring: PathBuf,
    /// Refreshes done so far (numbers the unrelated change).
    pub refreshes: u32,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("exited ({status})")),
            Err(e) => Err(format!("cannot wait for it: {e}")),
        }
    }

    /// The log file (the refresh waits in it for the watcher's reload).
    pub fn log(&self) -> &Path {
        &self.log
    }

    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Attls, Kind::Stunnel, Kind::Haproxy];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Attls => "attls",
            Kind::Stunnel => "stunnel",
            Kind::Haproxy => "haproxy",
        }
    }

    pub fn start(self, ctx: &Ctx) -> Result<Proxy, String> {
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
                     connect = {backend}\ncert = {pki}/server.pem\nkey = {pki}/server.key\n{tls}",
                    tls = match ctx.scenario {
                        Scenario::Tls13Ecdsa => {
                            "sslVersion = TLSv1.3\nciphersuites = TLS_AES_128_GCM_SHA256\ncurves = X25519\n"
                        }
                        Scenario::Tls12Rsa => {
                            "sslVersion = TLSv1.2\nciphers = ECDHE-RSA-AES128-GCM-SHA256\ncurves = X25519\n"
                        }
                    },
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
                     crt {crt} {tls} curves X25519\n  default_backend sink\n\n\
                     backend sink\n  server sink {backend}\n",
                    tls = match ctx.scenario {
                        Scenario::Tls13Ecdsa => "ssl-min-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256",
                        Scenario::Tls12Rsa => {
                            "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 ciphers ECDHE-RSA-AES128-GCM-SHA256"
                        }
                    },
                    crt = crt.display(),
                    backend = ctx.backend,
                );
                fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
                spawn_on_port(ctx, "haproxy", Command::new(exe).arg("-db").arg("-f").arg(&conf), port)
            }
        }
    }
}

/// pagent with a one-rule policy; its `listening PEERS ADDR` line gives the port. TLS 1.2
/// resumption uses the policy defaults of TTLSGskAdvancedParms (session tickets on, 512 session
/// IDs cached), written out so the policy shows what the scenario relies on.
fn start_attls(ctx: &Ctx) -> Result<Proxy, String> {
    let own = ctx.dir.join("attls");
    fs::create_dir_all(&own).map_err(|e| e.to_string())?;
    let pol = own.join("peers.pol");
    let tls = match ctx.scenario {
        Scenario::Tls13Ecdsa => {
            "  TTLSCipherParms\n  {\n    V3CipherSuites4Char 1301\n  }\n  TTLSSignatureParms\n  {\n    \
             ServerKeyShareGroups 0029\n  }\n  TTLSEnvironmentAdvancedParms\n  {\n    TLSv1.2 Off\n    \
             TLSv1.3 On\n  }\n"
        }
        Scenario::Tls12Rsa => {
            "  TTLSCipherParms\n  {\n    V3CipherSuites4Char C02F\n  }\n  TTLSSignatureParms\n  {\n    \
             ServerKexECurves 0029\n  }\n  TTLSEnvironmentAdvancedParms\n  {\n    TLSv1.2 On\n    \
             TLSv1.3 Off\n  }\n  TTLSGskAdvancedParms\n  {\n    GSK_SESSION_TICKET_SERVER_ENABLE On\n    \
             GSK_V3_SIDCACHE_SIZE 512\n  }\n"
        }
    };
    let policy = format!(
        "TTLSRule peers~bench\n{{\n  Jobname PEERS*\n  Direction Inbound\n  TTLSGroupActionRef gPeers\n  \
         TTLSEnvironmentActionRef ePeers\n}}\nTTLSGroupAction gPeers\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction ePeers\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n\
         {tls}}}\n",
        ctx.pki.display()
    );
    fs::write(&pol, &policy).map_err(|e| e.to_string())?;
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
    let child = Command::new(pagent_exe())
        .args(["start", "-c"])
        .arg(&conf)
        .args(["--log-level", &ctx.log_level])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start pagent: {e}"))?;
    let attls = AttlsFiles { conf, policy: pol, text: policy, keyring: ctx.pki.clone(), refreshes: 0 };
    let mut proxy = Proxy { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log, attls: Some(attls) };
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

/// The pagent under test: `ATTLS_PEERS_PAGENT` (e.g. an older build, to compare), else this
/// build's.
pub fn pagent_exe() -> PathBuf {
    std::env::var_os("ATTLS_PEERS_PAGENT")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pagent")), PathBuf::from)
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
    let mut proxy = Proxy { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log, attls: None };
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

/// `cmd` as an executable file in a PATH directory, or in /usr/sbin (haproxy's, often not in PATH).
pub fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(cmd))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

pub fn versions() -> Vec<String> {
    let first = |cmd: &str, args: &[&str], key: &str| {
        which(cmd)
            .and_then(|exe| command_output(&exe.to_string_lossy(), args))
            .and_then(|o| o.lines().find(|l| l.contains(key)).map(|l| l.trim().to_string()))
            .unwrap_or_else(|| format!("{cmd}: not installed"))
    };
    vec![
        format!("pagent: {}", pagent_exe().display()),
        first("stunnel4", &["-version"], "stunnel "),
        first("haproxy", &["-v"], "HAProxy version"),
        first("openssl", &["version"], "OpenSSL"),
    ]
}
