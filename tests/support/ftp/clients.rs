//! FTP clients run as processes, each bounded by a timeout: curl, lftp, Python ftplib
//! (`tests/support/ftp_client.py`) and `openssl s_client -starttls ftp`.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::Login;
use crate::support::agent::eventually;
use crate::support::agent::peers::Spawned;

/// How long a client run may take before it is killed (its own network timeouts are shorter).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The Debian interpreter: it has `python3-pyftpdlib`; the `python3` on PATH may be a pyenv shim.
pub const PYTHON: &str = "/usr/bin/python3";

/// The outcome of one client run.
#[derive(Debug)]
pub struct ClientRun {
    /// The command line, for messages.
    pub what: String,
    /// `None`: killed after the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl ClientRun {
    /// Exited 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Killed after the timeout.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// Panics with the whole run unless it exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &ClientRun {
        assert!(self.success(), "client failed:\n{self}");
        self
    }

    /// Panics with the whole run unless it exited non-zero (a timeout is not a failure).
    #[track_caller]
    pub fn assert_failed(&self) -> &ClientRun {
        assert!(!self.success() && !self.timed_out(), "client should have failed:\n{self}");
        self
    }
}

impl fmt::Display for ClientRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or_else(|| "killed after the timeout".into(), |s| s.to_string());
        write!(
            f,
            "{}\n--- {status} after {:?}\n--- stdout\n{}\n--- stderr\n{}--- end",
            self.what, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with `input` (or nothing) on stdin and waits up to `timeout`, then kills it.
pub fn run_client(cmd: Command, input: Option<&[u8]>, timeout: Duration) -> ClientRun {
    let what = format!("{cmd:?}");
    let start = Instant::now();
    let mut p = Spawned::spawn(cmd);
    match input {
        Some(data) => p.feed_and_close(data.to_vec()),
        None => p.close_stdin(),
    }
    let exited = eventually(timeout, || matches!(p.child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = p.child.kill();
    }
    let status = p.wait(Duration::from_secs(5));
    ClientRun {
        what,
        status: exited.then_some(status),
        stdout: String::from_utf8_lossy(&p.stdout()).into_owned(),
        stderr: p.stderr(),
        elapsed: start.elapsed(),
    }
}

/// `curl --disable -sS --connect-timeout 5 --max-time 25 ARGS...` (later options override these).
/// Typical: `-o FILE URL` (RETR), `-T FILE URL` (STOR), `URL/` (LIST), `-P -` (active),
/// `--ssl-reqd` (explicit FTPS on ftp://), `ftps://` (implicit), `-k` / `--cacert FILE`.
/// Beware: curl 7.87-7.88 (Debian 12 has 7.88.1) hangs on active-mode FTPS data connections
/// (curl#10666, fixed in 8.0); use ftplib or lftp for active FTPS.
pub fn curl(args: &[&str]) -> ClientRun {
    let mut cmd = Command::new("curl");
    cmd.args(["--disable", "--silent", "--show-error", "--connect-timeout", "5", "--max-time", "25"])
        .args(args);
    run_client(cmd, None, CLIENT_TIMEOUT)
}

/// An lftp run: `lftp -c "set ...; SCRIPT"`. Defaults: `cmd:fail-exit yes` (the first failing
/// command ends the run, non-zero), `net:max-retries 1`, `net:timeout 10`, IPv4 first, no TLS
/// (`ftp:ssl-allow no`), passive mode, `xfer:clobber on`.
#[derive(Clone, Debug)]
pub struct Lftp {
    settings: Vec<(String, String)>,
}

impl Default for Lftp {
    fn default() -> Lftp {
        Lftp::new()
    }
}

impl Lftp {
    pub fn new() -> Lftp {
        let defaults = [
            ("cmd:fail-exit", "yes"),
            ("net:max-retries", "1"),
            ("net:timeout", "10"),
            ("net:reconnect-interval-base", "1"),
            ("dns:order", "inet inet6"),
            ("ftp:ssl-allow", "no"),
            ("ftp:passive-mode", "on"),
            ("xfer:clobber", "on"),
        ];
        let settings = defaults.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Lftp { settings }
    }

    /// `set NAME VALUE`, replacing an earlier value.
    pub fn set(mut self, name: &str, value: &str) -> Lftp {
        self.settings.retain(|(k, _)| k != name);
        self.settings.push((name.into(), value.into()));
        self
    }

    /// AUTH TLS required (`ftp:ssl-allow`, `ftp:ssl-force`), data protected (`ftp:ssl-protect-data`)
    /// or not.
    pub fn ssl_force(self, protect_data: bool) -> Lftp {
        self.set("ftp:ssl-allow", "yes")
            .set("ftp:ssl-force", "yes")
            .set("ftp:ssl-protect-data", if protect_data { "yes" } else { "no" })
    }

    /// Verifies the server certificate against `ca` (`ssl:ca-file`, `ssl:verify-certificate yes`).
    pub fn ca_file(self, ca: &Path) -> Lftp {
        self.set("ssl:ca-file", &ca.display().to_string()).set("ssl:verify-certificate", "yes")
    }

    /// No certificate check (`ssl:verify-certificate no`).
    pub fn no_verify(self) -> Lftp {
        self.set("ssl:verify-certificate", "no")
    }

    /// Active mode (`ftp:passive-mode off`): PORT.
    pub fn active(self) -> Lftp {
        self.set("ftp:passive-mode", "off")
    }

    /// Runs the settings, then `script` (lftp commands separated by `;` or newlines). Start it with
    /// [`lftp_open`].
    pub fn run(&self, script: &str) -> ClientRun {
        let mut all: Vec<String> = self.settings.iter().map(|(k, v)| format!("set {k} \"{v}\"")).collect();
        all.push(script.to_string());
        let mut cmd = Command::new("lftp");
        cmd.arg("-c").arg(all.join("\n")).env("HOME", std::env::temp_dir());
        run_client(cmd, None, CLIENT_TIMEOUT)
    }
}

/// lftp with the default settings (see [`Lftp`]).
pub fn lftp(script: &str) -> ClientRun {
    Lftp::new().run(script)
}

/// The lftp command that connects and logs in: `open -u USER,PASSWORD ftp://ADDR`.
pub fn lftp_open(addr: SocketAddr, login: Login) -> String {
    format!("open -u {},{} ftp://{addr}", login.user, login.password)
}

/// Runs `ftp_client.py ARGS...` with [`PYTHON`] (see the script's doc for options and operations).
pub fn ftplib(args: &[&str]) -> ClientRun {
    let script = crate::support::root().join("tests/support/ftp_client.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script).args(args);
    run_client(cmd, None, CLIENT_TIMEOUT)
}

/// `ftp_client.py`'s connection options for `addr` and `login` (extend with more options, then
/// operations).
pub fn ftplib_args(addr: SocketAddr, login: Login) -> Vec<String> {
    let mut v: Vec<String> =
        ["--host", &addr.ip().to_string(), "--port", &addr.port().to_string()].map(String::from).into();
    v.extend(["--user", login.user, "--password", login.password].map(String::from));
    v
}

/// `openssl s_client -starttls ftp` to 127.0.0.1:`port` with SNI `localhost`, verifying the
/// certificate against `cafile` for the name `localhost` (a failed check ends the run), then sends
/// `input` (lines, LF converted to CRLF; end it with `QUIT` so the server closes). The transcript
/// is stdout (replies, certificate chain, session) and stderr (verification, errors). Judge by the
/// transcript: openssl exits 1 when the server closes without a close_notify (vsftpd after QUIT).
pub fn openssl_starttls_ftp(port: u16, cafile: &Path, input: &str) -> ClientRun {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-starttls", "ftp", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost", "-verify_return_error"])
        .arg("-CAfile")
        .arg(cafile)
        .args(["-crlf", "-ign_eof", "-nocommands"]);
    run_client(cmd, Some(input.as_bytes()), Duration::from_secs(15))
}
