//! FTP data integrity through attls under a TLS 1.3 policy and a TLS 1.2-only one (the classic z/OS
//! set-up): every client (curl, lftp, ftplib resuming its control session) against every server
//! (vsftpd, pyftpdlib), passive and active, RETR and STOR of sizes around the socket buffer sizes,
//! each checked by SHA-256 at both ends; and a soak of mixed transfers with four clients at once.
//!
//! The soak's size: `ATTLS_FTP_SOAK_TRANSFERS` transfers under TLS 1.3 (default 300) and a fifth of
//! that under TLS 1.2. `scripts/soak` (benches/soak) runs 1,000 transfers, 8 at once, under
//! refreshes, with this file's `ftps_agent` and `Target`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::support::agent::{AgentProc, AgentSetup, Pki};
use crate::support::ftp::{
    ClientRun, FtpServer, Lftp, Pyftpd, Vsftpd, curl, ftplib, ftplib_args, lftp_open, sha256_file,
};

/// The protocol versions a policy allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// TLS 1.3 and 1.2 on (attls's default): clients negotiate 1.3.
    V13,
    /// `TLSv1.3 Off`: TLS 1.2 only.
    V12Only,
}

/// An agent with listener FTP1 (`Protocol Ftp` plus `listener`) in front of `server`: an
/// application-controlled rule (explicit FTPS) with SecondaryMap On, protocols per `tls`, and
/// `gsk` lines in a TTLSGskAdvancedParms block.
pub fn ftps_agent(
    tag: &str,
    server: &dyn FtpServer,
    tls: Tls,
    listener: &[&str],
    gsk: &[&str],
) -> (AgentProc, Pki) {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let mut advanced = vec!["ApplicationControlled On", "SecondaryMap On"];
    if tls == Tls::V12Only {
        advanced.push("TLSv1.3 Off");
    }
    let mut env = crate::support::agent::policy::env("Server", &pki.server_ring, &advanced, None);
    if !gsk.is_empty() {
        env.push_str(&format!("  TTLSGskAdvancedParms\n  {{\n    {}\n  }}\n", gsk.join("\n    ")));
    }
    let rule = crate::support::agent::policy::tls_rule("ftp~ctl", "FTP1", "Inbound", "", &env);
    let mut lines = vec!["Protocol Ftp"];
    lines.extend_from_slice(listener);
    let agent = setup.listener_with("FTP1", server.addr(), "Inbound", &lines).policy(&rule).start();
    (agent, pki)
}

/// The FTP clients of the matrix.
#[derive(Clone, Copy, Debug)]
pub enum Client {
    CurlPassive,
    LftpPassive,
    LftpActive,
    FtplibPassive,
    FtplibActive,
}

/// One transfer: RETR of a served file, or STOR of a local one.
#[derive(Clone, Debug)]
pub enum Op {
    /// Served name → local path.
    Retr(String, PathBuf),
    /// Local path → name under the upload directory.
    Stor(PathBuf, String),
}

/// Where the transfers of one agent go.
pub struct Target<'a> {
    pub agent: &'a AgentProc,
    pub server: &'a (dyn FtpServer + Sync),
    pub pki: &'a Pki,
}

impl Target<'_> {
    fn upload_path(&self) -> String {
        let rel = self.server.upload_dir().strip_prefix(self.server.root()).expect("upload dir under root");
        rel.display().to_string()
    }

    /// Runs `ops` in one FTP session (curl: one command line) of `client`, explicit FTPS, PROT P.
    pub fn run(&self, client: Client, ops: &[Op]) -> ClientRun {
        let ca = self.pki.ca.display().to_string();
        let up = self.upload_path();
        match client {
            Client::CurlPassive => self.curl(ops),
            Client::LftpPassive | Client::LftpActive => {
                let login =
                    lftp_open(self.agent.addr("FTP1"), self.server.login()).replace("127.0.0.1", "localhost");
                let mut script = vec![login];
                for op in ops {
                    script.push(match op {
                        Op::Retr(name, local) => format!("get {name} -o {}", local.display()),
                        Op::Stor(local, name) => format!("put {} -o {up}/{name}", local.display()),
                    });
                }
                let lftp = Lftp::new().ssl_force(true).ca_file(&self.pki.ca);
                let lftp = if matches!(client, Client::LftpActive) { lftp.active() } else { lftp };
                lftp.run(&script.join("; "))
            }
            Client::FtplibPassive | Client::FtplibActive => {
                let mut args = ftplib_args(self.agent.addr("FTP1"), self.server.login());
                args.extend(
                    ["--tls", "explicit", "--cafile", &ca, "--prot-p", "--reuse-session"].map(String::from),
                );
                if matches!(client, Client::FtplibActive) {
                    args.push("--active".into());
                }
                for op in ops {
                    match op {
                        Op::Retr(name, local) => {
                            args.extend(["retr".into(), name.clone(), local.display().to_string()])
                        }
                        Op::Stor(local, name) => {
                            args.extend(["stor".into(), local.display().to_string(), format!("{up}/{name}")])
                        }
                    }
                }
                ftplib(&args.iter().map(String::as_str).collect::<Vec<_>>())
            }
        }
    }

    /// curl: transfers on one control connection (`--next` starts each transfer's options), a new
    /// command line after each upload: curl (OpenSSL with its client session cache) uses a TLS 1.3
    /// ticket once, and upload data connections bring no new ticket (see `docs/ftp.md`).
    fn curl(&self, ops: &[Op]) -> ClientRun {
        let ca = self.pki.ca.display().to_string();
        let up = self.upload_path();
        let mut runs = Vec::new();
        let mut args: Vec<String> = Vec::new();
        for op in ops {
            if !args.is_empty() {
                args.push("--next".into());
            }
            args.extend(["--ssl-reqd", "--cacert", &ca].map(String::from));
            let (flag, file, name) = match op {
                Op::Retr(name, local) => ("-o", local, name.clone()),
                Op::Stor(local, name) => ("-T", local, format!("{up}/{name}")),
            };
            let url = crate::support::ftp::url("ftp", self.agent.addr("FTP1"), self.server.login(), &name)
                .replace("127.0.0.1", "localhost");
            args.extend([flag.to_string(), file.display().to_string(), url]);
            if matches!(op, Op::Stor(..)) {
                runs.push(curl(&args.iter().map(String::as_str).collect::<Vec<_>>()));
                args.clear();
            }
        }
        if !args.is_empty() {
            runs.push(curl(&args.iter().map(String::as_str).collect::<Vec<_>>()));
        }
        let first_failure = runs.iter().position(|r| !r.success()).unwrap_or(runs.len() - 1);
        runs.swap_remove(first_failure)
    }

    /// The SHA-256 mismatches of `ops` after a run: each downloaded file against the served one,
    /// each stored file against its local source.
    pub fn mismatches(&self, ops: &[Op]) -> Vec<String> {
        let mut bad = Vec::new();
        for op in ops {
            let (a, b) = match op {
                Op::Retr(name, local) => (self.server.root().join(name), local.clone()),
                Op::Stor(local, name) => (local.clone(), self.server.upload_dir().join(name)),
            };
            let sum = |p: &Path| if p.exists() { sha256_file(p) } else { "(missing)".into() };
            let (sa, sb) = (sum(&a), sum(&b));
            if sa != sb {
                let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
                bad.push(format!("{op:?}: {} B {sa} vs {} B {sb}", len(&a), len(&b)));
            }
        }
        bad
    }
}

/// Sizes around the loopback socket buffers (16 KiB initial send buffer, 128 KiB receive buffer,
/// 208 KiB rmem_max) and a few MiB.
const SIZES: [usize; 9] = [0, 1, 16_383, 16_385, 65_536, 131_071, 131_073, 212_993, (4 << 20) + 3];

/// Every size both ways with `client` against `server` under `tls`.
fn matrix(server: &(dyn FtpServer + Sync), tls: Tls, client: Client) {
    let tag = format!("ftp-matrix-{tls:?}-{client:?}").to_lowercase();
    let (agent, pki) = ftps_agent(&tag, server, tls, &[], &[]);
    let target = Target { agent: &agent, server, pki: &pki };
    let dir = agent.dir().join("files");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut ops = Vec::new();
    for len in SIZES {
        let name = format!("m{len}.bin");
        server.random_file(&name, len);
        ops.push(Op::Retr(name.clone(), dir.join(&name)));
    }
    for len in SIZES {
        let (src, _) = crate::support::ftp::random_file(&dir, &format!("src{len}.bin"), len);
        ops.push(Op::Stor(src, format!("u{len}.bin")));
    }
    let run = target.run(client, &ops);
    run.assert_ok();
    let bad = target.mismatches(&ops);
    assert!(
        bad.is_empty(),
        "{client:?} through attls to {} ({tls:?}):\n{}\n{run}",
        server.name(),
        bad.join("\n")
    );
    let version = if tls == Tls::V12Only { "TLSv1.2" } else { "TLSv1.3" };
    let log = agent.log_text();
    assert!(
        log.contains(&format!("version=\"{version}\"")) || log.contains(version),
        "no {version} handshake:\n{log}"
    );
    let other = if tls == Tls::V12Only { "TLSv1.3" } else { "TLSv1.2" };
    assert!(!log.contains(other), "a {other} handshake under {tls:?}:\n{log}");
}

macro_rules! matrix_tests {
    ($($name:ident: $server:ident, $tls:ident, $client:ident;)*) => {$(
        #[test]
        fn $name() {
            let server = $server::start();
            matrix(&server, Tls::$tls, Client::$client);
        }
    )*};
}

matrix_tests! {
    tls13_vsftpd_curl_passive: Vsftpd, V13, CurlPassive;
    tls13_vsftpd_lftp_passive: Vsftpd, V13, LftpPassive;
    tls13_vsftpd_lftp_active: Vsftpd, V13, LftpActive;
    tls13_vsftpd_ftplib_passive: Vsftpd, V13, FtplibPassive;
    tls13_vsftpd_ftplib_active: Vsftpd, V13, FtplibActive;
    tls13_pyftpd_curl_passive: Pyftpd, V13, CurlPassive;
    tls13_pyftpd_lftp_active: Pyftpd, V13, LftpActive;
    tls13_pyftpd_ftplib_passive: Pyftpd, V13, FtplibPassive;
    tls12_vsftpd_curl_passive: Vsftpd, V12Only, CurlPassive;
    tls12_vsftpd_lftp_passive: Vsftpd, V12Only, LftpPassive;
    tls12_vsftpd_lftp_active: Vsftpd, V12Only, LftpActive;
    tls12_vsftpd_ftplib_passive: Vsftpd, V12Only, FtplibPassive;
    tls12_vsftpd_ftplib_active: Vsftpd, V12Only, FtplibActive;
    tls12_pyftpd_curl_passive: Pyftpd, V12Only, CurlPassive;
    tls12_pyftpd_lftp_passive: Pyftpd, V12Only, LftpPassive;
    tls12_pyftpd_ftplib_active: Pyftpd, V12Only, FtplibActive;
}

/// Transfers of the soak under TLS 1.3 (a fifth of it under TLS 1.2).
pub fn soak_transfers() -> usize {
    std::env::var("ATTLS_FTP_SOAK_TRANSFERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// The soak: `count` one-transfer sessions, four at once, mixed clients, modes, directions and
/// sizes, through a `SecureFtp Required`, `SecureDataConn Private` listener in front of vsftpd.
/// Returns the summary line; panics with every failure and mismatch.
pub fn soak(tls: Tls, count: usize) -> String {
    const PARALLEL: usize = 4;
    const SOAK_SIZES: [usize; 9] = [0, 1, 1000, 16_384, 65_537, 131_073, 262_144, 1 << 20, (4 << 20) + 1];
    const CLIENTS: [Client; 5] = [
        Client::CurlPassive,
        Client::LftpPassive,
        Client::LftpActive,
        Client::FtplibPassive,
        Client::FtplibActive,
    ];
    let server = Vsftpd::start();
    let listener = ["SecureFtp Required", "SecureDataConn Private"];
    let (agent, pki) = ftps_agent(&format!("ftp-soak-{tls:?}").to_lowercase(), &server, tls, &listener, &[]);
    let target = Target { agent: &agent, server: &server, pki: &pki };
    let dir = agent.dir().join("soak");
    std::fs::create_dir_all(&dir).expect("dir");
    for (i, len) in SOAK_SIZES.iter().enumerate() {
        let (path, _) = server.random_file(&format!("s{i}.bin"), *len);
        std::fs::copy(&path, dir.join(format!("s{i}.bin"))).expect("copy");
    }
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        return;
                    }
                    // A fixed mix: every client meets every size in both directions.
                    let client = CLIENTS[k % CLIENTS.len()];
                    let size = (k / CLIENTS.len()) % SOAK_SIZES.len();
                    let op = if (k / (CLIENTS.len() * SOAK_SIZES.len())) % 2 == k % 2 {
                        Op::Retr(format!("s{size}.bin"), dir.join(format!("got{k}.bin")))
                    } else {
                        Op::Stor(dir.join(format!("s{size}.bin")), format!("t{k}.bin"))
                    };
                    let ops = [op];
                    let run = target.run(client, &ops);
                    let mut found = target.mismatches(&ops);
                    if !run.success() {
                        found.insert(0, format!("FAILED {client:?} {:?}\n{run}", ops[0]));
                    }
                    problems.lock().expect("lock").extend(found);
                }
            });
        }
    });
    let problems = problems.into_inner().expect("lock");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        problems.is_empty(),
        "soak {tls:?}: {} problems in {count} transfers:\n{}",
        problems.len(),
        problems.join("\n")
    );
    format!("ftp soak {tls:?}: {count} transfers, {PARALLEL} at once, 0 failures, 0 mismatches, {secs:.1} s")
}

#[test]
fn soak_of_mixed_transfers_under_tls13_loses_nothing() {
    eprintln!("{}", soak(Tls::V13, soak_transfers()));
}

#[test]
fn soak_of_mixed_transfers_under_tls12_only_loses_nothing() {
    eprintln!("{}", soak(Tls::V12Only, soak_transfers().div_ceil(5)));
}
