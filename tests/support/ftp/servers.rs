//! What the FTP servers ([`super::Vsftpd`], [`super::Pyftpd`]) share: the process guard, ports,
//! readiness, the served tree.
//!
//! Each server runs in its own process group (vsftpd forks a process per session) with a temporary
//! directory holding its configuration, the served root and its logs. Ports come from
//! [`port_block`]: a control port and a passive range, below Linux's ephemeral range. The banner
//! carries a token unique to the server, so readiness (`220 TOKEN`) can never be another test's
//! server that took the port first.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::run_client;

/// How long a server may take to answer its first `220`.
const READY_WAIT: Duration = Duration::from_secs(10);
/// Passive data ports per server.
pub(super) const PASV_PORTS: u16 = 20;
/// Tries with fresh ports when a server cannot start (another process took a port).
pub(super) const START_TRIES: usize = 5;

/// `n` consecutive ports on 127.0.0.1 that are free now, in 20000-31999: below the ephemeral range
/// (32768-60999), so outgoing connections do not take them meanwhile. Blocks are spread by process
/// id and a counter, so parallel tests (threads or processes) pick different ones.
pub(super) fn port_block(n: u16) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LO: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let spread = std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..200 {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = LO + spread.wrapping_add(k * u32::from(n)) % (SPAN - u32::from(n));
        let base = u16::try_from(base).expect("below 32000");
        if (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no block of {n} free ports in 20000-31999");
}

/// A server process leading its own process group; the group is killed on drop, and the logs are
/// printed when the test failed.
pub(super) struct ServerProc {
    child: Child,
    name: &'static str,
    logs: Vec<PathBuf>,
}

impl ServerProc {
    pub(super) fn spawn(name: &'static str, mut cmd: Command, log: &Path, logs: Vec<PathBuf>) -> ServerProc {
        let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let clone = || out.try_clone().expect("clone the log file handle");
        // vsftpd reports configuration errors on fd 0 (the socket under inetd): give it the log.
        let child = cmd
            .stdin(clone())
            .stdout(clone())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        ServerProc { child, name, logs }
    }

    pub(super) fn log_text(&self) -> String {
        let mut text = String::new();
        for log in &self.logs {
            let body = std::fs::read_to_string(log).unwrap_or_else(|e| format!("({e})\n"));
            text.push_str(&format!("--- {} {}\n{body}", self.name, log.display()));
        }
        text
    }

    /// Waits until the server answers `220 ... TOKEN` (in TLS from the first byte if `implicit`);
    /// the error says why it did not.
    pub(super) fn wait_ready(&mut self, port: u16, token: &str, implicit: bool) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + READY_WAIT;
        let mut last = String::from("never connected");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited with {status} before answering", self.name));
            }
            match if implicit { implicit_banner(addr) } else { banner(addr) } {
                Ok(line) if line.starts_with("220") && line.contains(token) => return Ok(()),
                Ok(line) => last = format!("unexpected banner `{line}` (another server on {addr}?)"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{} did not answer 220 on {addr} within {READY_WAIT:?}: {last}", self.name))
    }
}

/// Connects, reads the first reply line, says QUIT.
fn banner(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    let _ = s.write_all(b"QUIT\r\n");
    Ok(line.trim_end().to_string())
}

/// [`banner`] in implicit TLS, by `openssl s_client` (no certificate check).
fn implicit_banner(addr: SocketAddr) -> std::io::Result<String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), "-quiet", "-crlf"]);
    let run = run_client(cmd, Some(b"QUIT\n"), Duration::from_secs(3));
    run.stdout.lines().next().map(str::to_string).ok_or_else(|| std::io::Error::other(run.stderr))
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        // The group: vsftpd's session processes too. The group id is the child's pid.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}--- end of {} logs", self.log_text(), self.name);
        }
    }
}

/// The served tree of a server: `DIR/root` (0755) with a world-writable `upload/`.
pub(super) fn served_root(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("root");
    let upload = root.join("upload");
    std::fs::create_dir_all(&upload).unwrap_or_else(|e| panic!("{}: {e}", upload.display()));
    for (path, mode) in [(&root, 0o755), (&upload, 0o777)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
    (root, upload)
}

/// A unique banner token: the temporary directory's name.
pub(super) fn token(dir: &Path) -> String {
    dir.file_name().expect("temp dir name").to_string_lossy().into_owned()
}

/// The commands in `log`: the text after `marker` on each line that has it, through `pick`.
pub(super) fn logged_commands(log: &Path, marker: &str, pick: impl Fn(&str) -> Option<&str>) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(marker).and_then(|(_, rest)| pick(rest)))
        .map(String::from)
        .collect()
}
