//! The FTP harness: real FTP servers ([`Vsftpd`], [`Pyftpd`]) and clients (curl, lftp, Python
//! ftplib via `ftp_client.py`, `openssl s_client -starttls ftp`), plus test data with SHA-256 sums.
//!
//! Servers listen on 127.0.0.1 with their own temporary directory (configuration, served root,
//! logs); they are ready once they answer `220` with a banner unique to them, and the guard kills
//! their whole process group on drop, printing their logs when the test failed. Every client run
//! is bounded by a timeout: a hung client is killed and reported as [`ClientRun::timed_out`].
//!
//! Servers: [`vsftpd`], [`pyftpd`] and what they share, [`servers`]. Clients: [`clients`].

pub mod clients;
pub mod pyftpd;
pub mod servers;
pub mod vsftpd;

pub use clients::{
    ClientRun, Lftp, curl, ftplib, ftplib_args, lftp, lftp_open, openssl_starttls_ftp, run_client,
};
pub use pyftpd::Pyftpd;
pub use vsftpd::{Vsftpd, VsftpdTls};

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The credentials a client logs in with.
#[derive(Clone, Copy, Debug)]
pub struct Login {
    pub user: &'static str,
    pub password: &'static str,
}

impl Login {
    /// Anonymous (vsftpd asks no password: `no_anon_password=YES`).
    pub const ANONYMOUS: Login = Login { user: "anonymous", password: "anon@example.com" };
    /// pyftpdlib's full-permission user.
    pub const TEST: Login = Login { user: "test", password: "secret" };
}

/// What tests need from any FTP server, so one test body can run against each.
pub trait FtpServer {
    /// `vsftpd` or `pyftpdlib`, for messages.
    fn name(&self) -> &'static str;
    /// The control connection address (127.0.0.1:port).
    fn addr(&self) -> SocketAddr;
    /// The served directory (`/` of an FTP session).
    fn root(&self) -> &Path;
    /// `ROOT/upload`: where the login of [`FtpServer::login`] may store files.
    fn upload_dir(&self) -> &Path;
    /// The passive data port range (inclusive).
    fn pasv_ports(&self) -> (u16, u16);
    /// The login that may upload (anonymous on vsftpd, `test` on pyftpdlib).
    fn login(&self) -> Login;
    /// The server's logs so far.
    fn log_text(&self) -> String;
    /// The commands the server received so far, in order, as logged (`PASS` may be masked).
    fn commands(&self) -> Vec<String>;

    /// Writes `data` to `ROOT/name` (world-readable) and returns its path.
    fn put_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.root().join(name);
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// A [`random_file`] of `len` bytes at `ROOT/name`: its path and SHA-256.
    fn random_file(&self, name: &str, len: usize) -> (PathBuf, String) {
        random_file(self.root(), name, len)
    }
}

/// `SCHEME://USER:PASSWORD@ADDR/PATH` (`path` without its leading slash; user and password
/// percent-encoded).
pub fn url(scheme: &str, addr: SocketAddr, login: Login, path: &str) -> String {
    format!("{scheme}://{}:{}@{addr}/{path}", encode(login.user), encode(login.password))
}

/// Percent-encodes all but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes `len` pseudo-random bytes (xorshift64*, seeded by `name` and `len`) to `dir/name` in
/// 1 MiB chunks, hashing them on the way (`openssl dgst`); returns the path and the SHA-256 in
/// lowercase hex. 100 MiB takes about half a second, even in a debug build.
pub fn random_file(dir: &Path, name: &str, len: usize) -> (PathBuf, String) {
    const CHUNK: usize = 1 << 20;
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hasher = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run openssl dgst");
    let mut sink = hasher.stdin.take().expect("openssl dgst stdin");
    // FNV-1a of the name, so files of the same size differ.
    let mut x = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64 ^ len as u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut chunk = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK);
        // CHUNK is a multiple of 8: whole words, the tail of the last one unused.
        let mut i = 0;
        while i < n {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            chunk[i..i + 8].copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
            i += 8;
        }
        file.write_all(&chunk[..n]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        sink.write_all(&chunk[..n]).expect("write to openssl dgst");
        left -= n;
    }
    drop(sink);
    let out = hasher.wait_with_output().expect("openssl dgst output");
    (path, parse_digest(&out.stdout))
}

/// The SHA-256 of a file in lowercase hex; panics if it cannot be read. `openssl dgst` rather than
/// `sha256sum`: it uses the CPU's SHA instructions (100 MiB in ~0.1 s instead of ~0.6 s).
pub fn sha256_file(path: &Path) -> String {
    let out =
        Command::new("openssl").args(["dgst", "-sha256", "-r"]).arg(path).output().expect("run openssl dgst");
    assert!(
        out.status.success(),
        "openssl dgst {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_digest(&out.stdout)
}

/// The hex digest of `openssl dgst -r` output (`HEX *NAME`).
fn parse_digest(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let hex = text.split_whitespace().next().unwrap_or_default();
    assert_eq!(hex.len(), 64, "unexpected openssl dgst output: {text}");
    hex.to_string()
}
