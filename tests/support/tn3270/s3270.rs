//! s3270 (`/usr/bin/s3270`, x3270 4.1) driven by a script on stdin, bounded by a timeout.
//!
//! The script is `Connect(PREFIX:HOST:PORT)`, `Wait(N,Output|InputField)`, `Query(ConnectionState)`,
//! `Query(Tls)`, `Query(LuName)`, `Ascii()`, `Disconnect()`, `Quit()`; every action answers with
//! `data:` lines, a status line and `ok` or `error`, and later actions still run after an `error`.
//!
//! What s3270 4.1 does, found by running it here:
//! - `Connect()` returns only once the session is in 3270 (or NVT) mode, so it hangs against a server
//!   that never negotiates; the process timeout bounds it. Then `Query(ConnectionState)` says
//!   `connected-tn3270e` (RFC 2355) or `connected-3270` (traditional TN3270), and `Query(Tls)` says
//!   `not secure`, `secure host-verified` or `secure host-unverified`.
//! - Telnet START_TLS is on by default (resource `startTls: true`): after `IAC DO START_TLS` it sends
//!   `IAC WILL START_TLS IAC SB START_TLS FOLLOWS IAC SE` in one segment, waits for the server's
//!   FOLLOWS, then sends its ClientHello; `-xrm 's3270.startTls: false'` makes it refuse (WONT).
//! - Prefix `L:` = TLS from the first byte (direct); `Y:` = do not verify the host certificate (as
//!   `-noverifycert`); `N:` = refuse TN3270E (traditional TN3270). Certificates are verified by
//!   default (`-verifycert`) against `-cafile FILE` (or `-cadir`), for the host name connected to:
//!   use `localhost` with a localhost certificate, or `-accepthostname NAME` to accept another name.
//!   `-certfile`/`-keyfile` give a client certificate. `-trace -tracefile FILE` logs every byte.
//! - The Hercules logo screen has no input field: wait for `Output` there.
//! - Bug in 4.1ga10: with `startTls: false`, when the server closes after s3270's `WONT START_TLS`,
//!   s3270 loops printing `Connection failed:` and a garbage message, then dies of SIGSEGV before
//!   answering `Connect()`. A close in any other state gives a clean `Host disconnected` error.
//!   So a refusal that attls answers with a close shows as `connected == false` and no answers.
//! - A TLS failure (say, a host name that does not match the certificate) also reports
//!   `Connection failed:` with a garbage message; the `-trace` file has the real reason.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::support::agent::eventually;
use crate::support::agent::peers::Spawned;

/// What the script waits for after `Connect()`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Any screen output from the host.
    Output,
    /// An unprotected field with the keyboard unlocked.
    InputField,
}

/// How to run s3270: the host name and prefix, extra arguments, what to wait for, the timeout.
#[derive(Clone, Debug)]
pub struct S3270 {
    prefix: String,
    host: String,
    args: Vec<String>,
    wait: WaitFor,
    timeout: Duration,
}

impl Default for S3270 {
    fn default() -> Self {
        S3270::new()
    }
}

impl S3270 {
    /// Plain TN3270 (START_TLS still accepted if offered) to 127.0.0.1, waiting for output, 10 s.
    pub fn new() -> S3270 {
        S3270 {
            prefix: String::new(),
            host: "127.0.0.1".into(),
            args: Vec::new(),
            wait: WaitFor::Output,
            timeout: Duration::from_secs(10),
        }
    }

    /// Host `localhost`, trusting `ca`: for START_TLS, or direct TLS with [`S3270::prefix`]`("L:")`.
    pub fn tls(ca: &Path) -> S3270 {
        S3270::new().host("localhost").arg("-cafile").arg(&ca.display().to_string())
    }

    /// Host name prefixes such as `L:`, `Y:`, `N:` or `L:Y:`.
    pub fn prefix(mut self, prefix: &str) -> S3270 {
        self.prefix = prefix.into();
        self
    }

    pub fn host(mut self, host: &str) -> S3270 {
        self.host = host.into();
        self
    }

    /// One more command-line argument (before the script runs): `-cafile`, `-xrm`, `-trace`, ...
    pub fn arg(mut self, arg: &str) -> S3270 {
        self.args.push(arg.into());
        self
    }

    pub fn wait_for(mut self, wait: WaitFor) -> S3270 {
        self.wait = wait;
        self
    }

    /// The bound on the whole run; the screen wait gets this minus a second or two.
    pub fn timeout(mut self, timeout: Duration) -> S3270 {
        self.timeout = timeout;
        self
    }

    /// The `Connect()` target for `port`.
    pub fn target(&self, port: u16) -> String {
        format!("{}{}:{port}", self.prefix, self.host)
    }

    /// Runs the script against `port`; never panics on the session's failure (see [`S3270Run`]).
    pub fn run(&self, port: u16) -> S3270Run {
        let wait_secs = self.timeout.as_secs().saturating_sub(2).max(1);
        let wait = match self.wait {
            WaitFor::Output => "Output",
            WaitFor::InputField => "InputField",
        };
        let script = format!(
            "Connect({})\nWait({wait_secs},{wait})\nQuery(ConnectionState)\nQuery(Tls)\nQuery(LuName)\n\
             Ascii()\nDisconnect()\nQuit()\n",
            self.target(port)
        );
        let mut cmd = Command::new("s3270");
        cmd.args(&self.args);
        let mut p = Spawned::spawn(cmd);
        p.feed_and_close(script.into_bytes());
        let exited = eventually(self.timeout, || p.child.try_wait().ok().flatten().is_some());
        if !exited {
            let _ = p.child.kill();
        }
        let status = p.wait(Duration::from_secs(5));
        let transcript = String::from_utf8_lossy(&p.stdout()).into_owned();
        S3270Run { exit: Some(status), ..S3270Run::parse(transcript, p.stderr(), !exited) }
    }
}

/// One action's answer: `ok` or `error`, and its `data:` lines.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub ok: bool,
    pub data: Vec<String>,
}

/// What an s3270 run saw.
#[derive(Clone, Debug, Default)]
pub struct S3270Run {
    /// `Connect()` answered `ok`.
    pub connected: bool,
    /// The screen wait answered `ok`.
    pub waited: bool,
    /// `Query(ConnectionState)`: `connected-tn3270e`, `connected-3270`, `not-connected`, ...
    pub state: String,
    /// `Query(Tls)`: `not secure`, `secure host-verified`, ... (empty when not connected).
    pub tls: String,
    /// `Query(LuName)`: the device name a TN3270E server granted (empty otherwise).
    pub lu_name: String,
    /// `Ascii()`: the screen, one line per row, trailing blanks removed.
    pub screen: String,
    /// Every answer in script order.
    pub answers: Vec<Answer>,
    /// s3270's whole stdout and its stderr.
    pub transcript: String,
    pub stderr: String,
    /// s3270 was killed at the timeout.
    pub timed_out: bool,
    /// How s3270 ended (a crash shows here: see the module doc).
    pub exit: Option<ExitStatus>,
}

impl S3270Run {
    fn parse(transcript: String, stderr: String, timed_out: bool) -> S3270Run {
        let mut answers = Vec::new();
        let mut data = Vec::new();
        for line in transcript.lines() {
            if let Some(d) = line.strip_prefix("data: ") {
                data.push(d.to_string());
            } else if line == "data:" {
                data.push(String::new());
            } else if line == "ok" || line == "error" {
                answers.push(Answer { ok: line == "ok", data: std::mem::take(&mut data) });
            }
        }
        let get = |i: usize| answers.get(i).cloned().unwrap_or_default();
        let screen: Vec<String> = get(5).data.iter().map(|l| l.trim_end().to_string()).collect();
        S3270Run {
            connected: get(0).ok,
            waited: get(1).ok,
            state: get(2).data.join(" "),
            tls: get(3).data.join(" "),
            lu_name: get(4).data.join(" "),
            screen: screen.join("\n"),
            answers,
            transcript,
            stderr,
            timed_out,
            exit: None,
        }
    }

    /// TLS was on (direct or START_TLS).
    pub fn secure(&self) -> bool {
        self.tls.starts_with("secure")
    }

    /// `Connect()`'s error text, when it failed.
    pub fn connect_error(&self) -> Option<String> {
        let first = self.answers.first()?;
        (!first.ok).then(|| first.data.join(" "))
    }

    /// Panics with the transcript unless the screen shows `text`.
    pub fn expect_screen(&self, text: &str) -> &S3270Run {
        assert!(self.screen.contains(text), "s3270 screen lacks {text:?}\n{self}");
        self
    }
}

impl std::fmt::Display for S3270Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (c, w, t) = (self.connected, self.waited, self.timed_out);
        writeln!(f, "connected={c} waited={w} timed_out={t} exit={:?}", self.exit)?;
        writeln!(f, "state={:?} tls={:?} lu_name={:?}", self.state, self.tls, self.lu_name)?;
        writeln!(
            f,
            "--- s3270 stdout\n{}--- s3270 stderr\n{}--- end of s3270 output",
            self.transcript, self.stderr
        )
    }
}
