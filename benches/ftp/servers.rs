//! The servers under test, on 127.0.0.1: vsftpd plain or with its own FTPS, and pagent with an FTP
//! listener in front of a plain vsftpd. Each is killed (vsftpd with every session process) when
//! dropped, panics included.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cpu::{Method, Tree};

/// Passive data ports per vsftpd.
const PASV_PORTS: u16 = 10;
/// Starts with fresh ports when one was taken meanwhile (tests may run vsftpd beside the bench).
const START_TRIES: usize = 5;
const READY: Duration = Duration::from_secs(10);

/// vsftpd's own FTPS: certificate chain and key (PEM), TLS 1.2 ciphers.
pub struct VsftpdTls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    /// `ssl_ciphers` (TLS 1.2 and below; vsftpd 3.0.3 leaves OpenSSL's TLS 1.3 suites alone).
    pub ciphers: &'a str,
}

/// A running vsftpd: the listener, its sessions counted by `tree`.
pub struct Vsftpd {
    child: Child,
    pub addr: SocketAddr,
    pub tree: Tree,
    pub log: PathBuf,
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        self.tree.kill();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts vsftpd `name` serving `root` anonymously (read-only), its files in `dir`.
pub fn start_vsftpd(
    name: &str,
    dir: &Path,
    root: &Path,
    tls: Option<&VsftpdTls>,
    method: Method,
) -> Result<Vsftpd, String> {
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).map_err(|e| format!("{}: {e}", empty.display()))?;
    let (conf, log, start_log) = (dir.join("vsftpd.conf"), dir.join("vsftpd.log"), dir.join("startup.log"));
    let token = format!("attls-ftp-bench-{}-{name}", std::process::id());
    let mut last = String::new();
    for _ in 0..START_TRIES {
        let port = port_block(PASV_PORTS + 1)?;
        let mut text = format!(
            "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             ftpd_banner={token}\nanonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\n\
             anon_root={root}\nwrite_enable=NO\nseccomp_sandbox=NO\nsecure_chroot_dir={empty}\n\
             pasv_enable=YES\npasv_min_port={}\npasv_max_port={}\nport_enable=NO\n\
             idle_session_timeout=600\ndata_connection_timeout=600\n\
             xferlog_enable=YES\nvsftpd_log_file={log}\n",
            port + 1,
            port + PASV_PORTS,
            root = root.display(),
            empty = empty.display(),
            log = log.display(),
        );
        text.push_str(&match tls {
            None => "ssl_enable=NO\n".to_string(),
            Some(t) => format!(
                "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n\
                 require_ssl_reuse=YES\nssl_sslv2=NO\nssl_sslv3=NO\nssl_tlsv1=YES\nssl_ciphers={}\n\
                 ssl_request_cert=NO\ndebug_ssl=YES\nrsa_cert_file={}\nrsa_private_key_file={}\n",
                t.ciphers,
                t.cert.display(),
                t.key.display()
            ),
        });
        fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        let out = fs::File::create(&start_log).map_err(|e| e.to_string())?;
        let clone = || out.try_clone().map_err(|e| e.to_string());
        // vsftpd reports configuration errors on fd 0 (the socket under inetd): give it the log.
        let child = Command::new("/usr/sbin/vsftpd")
            .arg(&conf)
            .current_dir(dir)
            .stdin(clone()?)
            .stdout(clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start vsftpd (scripts/bench-ftp installs it): {e}"))?;
        // Counted from before its first session (the readiness probe is one).
        let tree = Tree::new(child.id(), name, method);
        let mut server =
            Vsftpd { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), tree, log: log.clone() };
        match wait_banner(&mut server, &token) {
            Ok(()) => return Ok(server),
            Err(e) => last = format!("{e}\n{}", fs::read_to_string(&start_log).unwrap_or_default()),
        }
    }
    Err(format!("{name} did not start in {START_TRIES} tries; last: {last}"))
}

/// Waits until the server answers `220 TOKEN` (so never another program that took the port).
fn wait_banner(server: &mut Vsftpd, token: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY;
    let mut last = String::from("never connected");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        match banner(server.addr) {
            Ok(line) if line.starts_with("220") && line.contains(token) => return Ok(()),
            Ok(line) => last = format!("unexpected banner `{line}`"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("no `220 {token}` on {} within {READY:?}: {last}", server.addr))
}

fn banner(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    let _ = s.write_all(b"QUIT\r\n");
    Ok(line.trim_end().to_string())
}

/// `n` consecutive ports on 127.0.0.1 free now, in 20000-31999 (below the ephemeral range, so
/// outgoing connections do not take them meanwhile), spread by process id.
fn port_block(n: u16) -> Result<u16, String> {
    const LO: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    for k in 0..200u32 {
        let base = LO + seed.wrapping_add(k.wrapping_mul(7919)) % (SPAN - u32::from(n));
        let base = u16::try_from(base).expect("below 32000");
        if (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(base);
        }
    }
    Err(format!("no block of {n} free ports in 20000-31999"))
}

/// A running `pagent start`; killed and reaped on drop.
pub struct Pagent {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Pagent {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Pagent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// pagent with listener FTP1 (`Protocol Ftp`) in front of `backend`: one application-controlled
/// rule (explicit FTPS) with SecondaryMap On, pinned to TLS 1.3, TLS_AES_128_GCM_SHA256 (1301) and
/// secp256r1 (0023, the only group vsftpd 3.0.3 offers). `ring` is the keyring directory; the
/// configuration goes to `dir`, the log to `logs` (pagent watches its policy and keyring
/// directories: a log there would wake the watcher on every line).
pub fn start_pagent(
    dir: &Path,
    logs: &Path,
    ring: &Path,
    backend: SocketAddr,
    log_level: &str,
) -> Result<Pagent, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pol = dir.join("ftp.pol");
    let policy = format!(
        "TTLSRule ftp~bench\n{{\n  Jobname FTP1\n  Direction Inbound\n  TTLSGroupActionRef gFtp\n  \
         TTLSEnvironmentActionRef eFtp\n  TTLSConnectionActionRef cFtp\n}}\n\
         TTLSGroupAction gFtp\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction eFtp\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n  \
         TTLSCipherParms\n  {{\n    V3CipherSuites4Char 1301\n  }}\n  \
         TTLSSignatureParms\n  {{\n    ServerKeyShareGroups 0023\n  }}\n  \
         TTLSEnvironmentAdvancedParms\n  {{\n    TLSv1.2 Off\n    TLSv1.3 On\n  }}\n}}\n\
         TTLSConnectionAction cFtp\n{{\n  TTLSConnectionAdvancedParms\n  {{\n    ApplicationControlled On\n    \
         SecondaryMap On\n  }}\n}}\n",
        ring.display()
    );
    fs::write(&pol, policy).map_err(|e| format!("{}: {e}", pol.display()))?;
    let conf = dir.join("pagent.conf");
    let text = format!(
        "TTLSConfig {}\nControlSocket {}\nRefreshInterval 0\nListener FTP1\n{{\n  Listen 127.0.0.1:0\n  \
         Backend {backend}\n  Direction Inbound\n  Protocol Ftp\n}}\n",
        pol.display(),
        dir.join("pagent.sock").display(),
    );
    fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    let log = logs.join("pagent.log");
    let stderr = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["start", "-c"])
        .arg(&conf)
        .args(["--log-level", log_level])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start pagent: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut pagent = Pagent { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log };
    let (tx, rx) = mpsc::channel();
    // Reads the listening line, then drains stdout until pagent exits so it never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening FTP1 ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(READY).map_err(|_| {
        format!("pagent printed no listening line\n{}", fs::read_to_string(&pagent.log).unwrap_or_default())
    })?;
    pagent.addr = addr.parse().map_err(|e| format!("listening address `{addr}`: {e}"))?;
    Ok(pagent)
}
