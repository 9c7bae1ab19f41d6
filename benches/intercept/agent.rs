//! The agent under test and its interception: a policy with one rule for the server's port matched
//! by the server's Jobname ([`server::COMM`]), a main configuration with one Inbound `Transparent
//! Redirect` listener and a generated `DevKeyring`, the pagent under test (`ATTLS_INTERCEPT_PAGENT`
//! or this build's) started on it, and the nft rules this build's `pagent setup-intercept --local`
//! prints for it loaded (clients on this host dial the server's port on 127.0.0.1: only the
//! `output` hook sees those connections).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::server;

/// The transparent listener's port.
pub const LISTEN_PORT: u16 = 15001;
/// Bound on the agent's start.
const START: Duration = Duration::from_secs(30);

/// A running agent; killed and reaped when dropped.
pub struct Agent {
    child: Child,
    pub ca: PathBuf,
    log: PathBuf,
    pub binary: PathBuf,
}

/// The pagent under test.
pub fn binary() -> PathBuf {
    std::env::var_os("ATTLS_INTERCEPT_PAGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pagent")))
}

impl Agent {
    /// Writes the files, starts the agent, waits for its listener, loads the nft rules.
    pub fn start(work: &Path, server_port: u16, log_level: &str) -> Result<Agent, String> {
        let conf = write_config(work, server_port)?;
        let log = work.join("pagent.log");
        let stderr = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let binary = binary();
        let mut child = Command::new(&binary)
            .args(["start", "-c"])
            .arg(&conf)
            .args(["--log-level", log_level])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("listening ") {
                    let _ = tx.send(line);
                }
            }
        });
        let agent = Agent { child, ca: work.join("keyring").join("ca.pem"), log, binary };
        rx.recv_timeout(START)
            .map_err(|_| format!("no `listening` line within {START:?}\n{}", agent.log_tail()))?;
        load_rules(&conf)?;
        Ok(agent)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }

    /// Log lines that contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        fs::read_to_string(&self.log).unwrap_or_default().lines().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The policy and the main configuration; returns the configuration's path.
fn write_config(work: &Path, server_port: u16) -> Result<PathBuf, String> {
    let keyring = work.join("keyring");
    let pol = work.join("intercept.pol");
    let policy = format!(
        "TTLSRule web~{server_port}\n{{\n  LocalPortRange {server_port}\n  Jobname {comm}\n  Direction Inbound\n  \
         TTLSGroupActionRef gWeb\n  TTLSEnvironmentActionRef eWeb\n}}\n\
         TTLSGroupAction gWeb\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction eWeb\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {ring}\n  }}\n}}\n",
        comm = server::COMM,
        ring = keyring.display()
    );
    fs::write(&pol, policy).map_err(|e| format!("{}: {e}", pol.display()))?;
    // Room for every live connection and the new ones, all from 127.0.0.1.
    let text = format!(
        "TTLSConfig {}\nDevKeyring {}\nControlSocket {}\nRefreshInterval 0\nMaxConnections 20000\n\
         Listener INTERCEPT\n{{\n  Listen 0.0.0.0:{LISTEN_PORT}\n  Direction Inbound\n  Transparent Redirect\n  \
         MaxConnections 20000\n  MaxConnectionsPerSource 20000\n  Backlog 4096\n}}\n",
        pol.display(),
        keyring.display(),
        work.join("control.sock").display()
    );
    let conf = work.join("pagent.conf");
    fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    Ok(conf)
}

/// `pagent setup-intercept -c CONF --local | nft -f -`, with this build's pagent (an older one
/// under test may not have `--local`).
fn load_rules(conf: &Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["setup-intercept", "--local", "-c"])
        .arg(conf)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("setup-intercept: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut nft = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    std::io::Write::write_all(&mut nft.stdin.take().ok_or("no stdin")?, &out.stdout)
        .map_err(|e| e.to_string())?;
    let done = nft.wait_with_output().map_err(|e| e.to_string())?;
    if done.status.success() {
        Ok(())
    } else {
        Err(format!("nft -f refused the rules: {}", String::from_utf8_lossy(&done.stderr)))
    }
}
