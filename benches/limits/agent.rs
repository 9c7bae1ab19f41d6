//! One scenario's pagent: its directory (policy, main configuration), the shared generated keyring
//! (`DevKeyring`), its control socket and log outside the watched directories, its start (bounded
//! by `START`; optionally under a descriptor limit, soft and hard, set by `sh -c 'ulimit -n N'`
//! before `exec`), the addresses from its `listening NAME ADDR` lines, and its end: killed and
//! reaped when dropped, and killed by [`cleanup_on_signal`] when the run is interrupted.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Instant;

use tokio::runtime::Runtime;

use crate::{Ctx, START};

/// The policy's HandshakeTimeout (TTLSEnvironmentAdvancedParms), in seconds.
pub const HANDSHAKE_TIMEOUT: u64 = 5;

/// Process IDs of the agents alive (spawned and not yet reaped, so never reused).
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// What a scenario's agent is started with.
pub struct Spec<'a> {
    /// The scenario's directory name (and control socket name).
    pub name: &'a str,
    /// Listener names and their extra keyword lines (`MaxConnectionsPerSource 4000`).
    pub listeners: &'a [(&'a str, &'a str)],
    /// RLIMIT_NOFILE (soft and hard) for the agent; `None`: this process's.
    pub nofile: Option<u64>,
}

/// A running agent; killed and reaped when dropped, panics included.
pub struct Agent {
    child: Child,
    addrs: HashMap<String, SocketAddr>,
    pub socket: PathBuf,
    /// The generated CA the clients trust.
    pub ca: PathBuf,
    log: PathBuf,
}

impl Agent {
    pub fn start(ctx: &Ctx, spec: &Spec) -> Result<Agent, String> {
        let dir = ctx.work.join(spec.name);
        let run = ctx.work.join("run");
        let keyring = ctx.work.join("keyring");
        for d in [&dir, &run] {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let socket = run.join(format!("{}.sock", spec.name));
        let log = run.join(format!("{}.log", spec.name));
        let conf = write_config(&dir, &keyring, &socket, ctx.echo, spec.listeners)?;
        let pagent = env!("CARGO_BIN_EXE_pagent");
        let mut cmd = match spec.nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", "ulimit -n \"$1\" && shift && exec \"$@\"", "sh"])
                    .arg(n.to_string())
                    .arg(pagent);
                c
            }
            None => Command::new(pagent),
        };
        cmd.args(["start", "-c"]).arg(&conf).args(["--log-level", &ctx.log_level]);
        let stderr = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start pagent: {e}"))?;
        live().push(child.id());
        let mut agent = Agent { child, addrs: HashMap::new(), socket, ca: keyring.join("ca.pem"), log };
        agent.read_listening(spec.listeners.iter().map(|(n, _)| *n))?;
        eprintln!("  pagent pid {} {:?}", agent.pid(), agent.addrs);
        Ok(agent)
    }

    /// Waits (bounded by `START`) for a `listening NAME ADDR` line per listener; stdout is then
    /// drained until the agent exits, so it never blocks on a full pipe.
    fn read_listening<'a>(&mut self, names: impl Iterator<Item = &'a str>) -> Result<(), String> {
        let stdout = self.child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((name, addr)) = line.strip_prefix("listening ").and_then(|r| r.split_once(' ')) {
                    let _ = tx.send((name.to_string(), addr.trim().to_string()));
                }
            }
        });
        let deadline = Instant::now() + START;
        for name in names {
            while !self.addrs.contains_key(name) {
                let left = deadline.saturating_duration_since(Instant::now());
                let (n, a) = rx.recv_timeout(left).map_err(|_| {
                    format!("no `listening {name}` line within {START:?}\n{}", self.log_tail())
                })?;
                let addr = a.parse().map_err(|e| format!("listening address `{a}`: {e}"))?;
                self.addrs.insert(n, addr);
            }
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.addrs[listener]
    }

    /// `Ok` while the agent runs; how it ended otherwise.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("exited ({status})")),
            Err(e) => Err(format!("cannot wait for it: {e}")),
        }
    }

    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        fs::read_to_string(&self.log).unwrap_or_default().lines().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        live().retain(|&p| p != pid);
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The policy (one TLS server rule for every listener, HandshakeTimeout 5) and the main
/// configuration; returns the configuration's path.
fn write_config(
    dir: &Path,
    keyring: &Path,
    socket: &Path,
    echo: SocketAddr,
    listeners: &[(&str, &str)],
) -> Result<PathBuf, String> {
    let pol = dir.join("limits.pol");
    let policy = format!(
        "TTLSRule limits~all\n{{\n  LocalAddr 127.0.0.1\n  Direction Inbound\n  TTLSGroupActionRef gLimits\n  \
         TTLSEnvironmentActionRef eLimits\n}}\nTTLSGroupAction gLimits\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction eLimits\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n  \
         TTLSEnvironmentAdvancedParms\n  {{\n    HandshakeTimeout {HANDSHAKE_TIMEOUT}\n  }}\n}}\n",
        keyring.display()
    );
    fs::write(&pol, policy).map_err(|e| format!("{}: {e}", pol.display()))?;
    let mut text = format!(
        "TTLSConfig {}\nDevKeyring {}\nControlSocket {}\nRefreshInterval 0\n",
        pol.display(),
        keyring.display(),
        socket.display()
    );
    for (name, extra) in listeners {
        text.push_str(&format!(
            "Listener {name}\n{{\n  Listen 127.0.0.1:0\n  Backend {echo}\n  Direction Inbound\n  {extra}\n}}\n"
        ));
    }
    let conf = dir.join("pagent.conf");
    fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    Ok(conf)
}

/// On SIGINT or SIGTERM: kill the live agents, remove the work directory, exit 130.
pub fn cleanup_on_signal(rt: &Runtime, work: PathBuf) {
    rt.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        for pid in live().iter() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = fs::remove_dir_all(&work);
        eprintln!("interrupted: agents killed");
        std::process::exit(130);
    });
}
