//! The engine harness: a running `pagent start` in a private temporary directory ([`AgentProc`]),
//! the test PKI, policy text builders and [`eventually`]. Peers (backends, openssl, curl, a rustls
//! client) are in [`peers`].
//!
//! Every agent gets its own directory under the system temp dir with its main configuration, policy
//! files, keyrings and control socket, so tests run in parallel. Listeners bind `127.0.0.1:0`; the
//! ports come from the `listening NAME ADDR` lines `pagent start` prints once bound. The guard kills
//! and reaps the agent on drop and prints its log when the test failed.

pub mod peers;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long an agent may take to print every `listening` line.
const START_WAIT: Duration = Duration::from_secs(20);

/// Polls `cond` until it holds or `timeout` passes; true if it held. Polls every 20 ms.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory under the system temp dir, unique per test, removed on drop (kept when
/// `ATTLS_KEEP_TEST_DIRS` is set).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("attls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ATTLS_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Writes `contents` to `path` by writing a temporary file beside it and renaming it over `path`
/// (what editors do on save), creating parent directories.
pub fn write_atomic(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, contents).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

/// The test PKI of one agent: a CA, a server certificate for `localhost`, a client certificate.
pub struct Pki {
    /// `ca.pem` (trust anchor for clients of attls).
    pub ca: PathBuf,
    /// Server keyring: a directory with ca.pem, server.pem (leaf + CA) and server.key.
    pub server_ring: PathBuf,
    /// server.pem and server.key (for openssl s_server).
    pub server_pem: PathBuf,
    pub server_key: PathBuf,
    /// client.pem (leaf + CA) and client.key (clientAuth certificate, CN client1).
    pub client_pem: PathBuf,
    pub client_key: PathBuf,
    /// A directory with ca.pem only (a Client-role keyring that trusts this CA).
    pub ca_ring: PathBuf,
}

impl Pki {
    /// Writes a fresh PKI under `dir/NAME`.
    pub fn write(dir: &Path, name: &str) -> Pki {
        let base = dir.join(name);
        let all = base.join("all");
        attls::keyring::write_test_pki(&all, &[("server", "localhost", false), ("client", "client1", true)])
            .unwrap_or_else(|e| panic!("test PKI: {e}"));
        let copy = |sub: &str, files: &[&str]| {
            let d = base.join(sub);
            std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            for f in files {
                std::fs::copy(all.join(f), d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            }
            d
        };
        let server_ring = copy("server-ring", &["ca.pem", "server.pem", "server.key"]);
        let ca_ring = copy("ca-ring", &["ca.pem"]);
        Pki {
            ca: all.join("ca.pem"),
            server_pem: all.join("server.pem"),
            server_key: all.join("server.key"),
            client_pem: all.join("client.pem"),
            client_key: all.join("client.key"),
            server_ring,
            ca_ring,
        }
    }
}

/// One `Listener` block of the main configuration (always `Listen 127.0.0.1:0`).
struct ListenerSpec {
    name: String,
    /// `Listen` (default `127.0.0.1:0`).
    listen: String,
    /// Empty: no `Backend` line (a transparent listener relays to the original destination).
    backend: String,
    direction: &'static str,
    /// More keyword lines inside the block (`Protocol Ftp`, `SecureFtp Required`, …).
    extra: Vec<String>,
}

/// An agent being prepared: its directory exists; files, PKI and listeners are added, then
/// [`AgentSetup::start`].
pub struct AgentSetup {
    dir: TempDir,
    listeners: Vec<ListenerSpec>,
    /// The policy file named by TTLSConfig, relative to the directory.
    policy_file: String,
    /// FLUSH/PURGE options of the TTLSConfig line.
    options: &'static str,
    /// The network namespace to run the agent in.
    netns: Option<String>,
    /// More top-level lines of the main configuration (`TicketKeyFile …`).
    main_lines: Vec<String>,
    /// Environment variables for the agent process.
    env: Vec<(String, String)>,
}

impl AgentSetup {
    pub fn new(tag: &str) -> AgentSetup {
        AgentSetup {
            dir: TempDir::new(tag),
            listeners: Vec::new(),
            policy_file: "policy.pol".into(),
            options: "FLUSH NOPURGE",
            netns: None,
            main_lines: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh PKI under `DIR/NAME`.
    pub fn pki(&self, name: &str) -> Pki {
        Pki::write(self.dir(), name)
    }

    /// Adds `Listener NAME { Listen 127.0.0.1:0  Backend BACKEND  Direction DIRECTION }`; its
    /// Jobname is NAME (D7), which is what the test policies match on.
    pub fn listener(self, name: &str, backend: impl ToString, direction: &'static str) -> Self {
        self.listener_with(name, backend, direction, &[])
    }

    /// As [`AgentSetup::listener`], with more keyword lines in the block (`Protocol Ftp`, …).
    pub fn listener_with(
        mut self,
        name: &str,
        backend: impl ToString,
        direction: &'static str,
        extra: &[&str],
    ) -> Self {
        let extra = extra.iter().map(|l| l.to_string()).collect();
        let (listen, backend) = ("127.0.0.1:0".into(), backend.to_string());
        self.listeners.push(ListenerSpec { name: name.into(), listen, backend, direction, extra });
        self
    }

    /// A listener on a fixed `listen` address, with `backend` only if given (transparent listeners).
    pub fn listener_at(
        mut self,
        name: &str,
        listen: &str,
        backend: Option<&str>,
        direction: &'static str,
        extra: &[&str],
    ) -> Self {
        let extra = extra.iter().map(|l| l.to_string()).collect();
        let backend = backend.unwrap_or_default().to_string();
        self.listeners.push(ListenerSpec {
            name: name.into(),
            listen: listen.into(),
            backend,
            direction,
            extra,
        });
        self
    }

    /// Sets an environment variable of the agent process.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a top-level line to the main configuration.
    pub fn main_line(mut self, line: &str) -> Self {
        self.main_lines.push(line.to_string());
        self
    }

    /// Runs the agent inside network namespace `ns` (`ip netns exec`).
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    /// Writes the policy file (`policy.pol`).
    pub fn policy(self, text: &str) -> Self {
        write_atomic(&self.dir().join(&self.policy_file), text);
        self
    }

    /// Names another file as the TTLSConfig policy (the test writes it, e.g. as a symlink).
    pub fn policy_file(mut self, rel: &str) -> Self {
        self.policy_file = rel.into();
        self
    }

    /// The TTLSConfig options (default `FLUSH NOPURGE`).
    pub fn ttls_config_options(mut self, options: &'static str) -> Self {
        self.options = options;
        self
    }

    /// Starts `pagent start -c DIR/pagent.conf` and waits for every listener's `listening` line.
    pub fn start(self) -> AgentProc {
        let dir = self.dir.path().to_path_buf();
        let socket = dir.join("ctl.sock");
        let mut conf = format!(
            "TTLSConfig {} {}\nControlSocket {}\nRefreshInterval 0\n",
            dir.join(&self.policy_file).display(),
            self.options,
            socket.display()
        );
        // netstat and refresh need root or the ControlGroup: the test user's own group.
        if let Some(group) = own_group(&dir) {
            conf.push_str(&format!("ControlGroup {group}\n"));
        }
        for line in &self.main_lines {
            conf.push_str(&format!("{line}\n"));
        }
        for l in &self.listeners {
            conf.push_str(&format!(
                "Listener {}\n{{\n  Listen {}\n  Direction {}\n",
                l.name, l.listen, l.direction
            ));
            if !l.backend.is_empty() {
                conf.push_str(&format!("  Backend {}\n", l.backend));
            }
            for line in &l.extra {
                conf.push_str(&format!("  {line}\n"));
            }
            conf.push_str("}\n");
        }
        let config = dir.join("pagent.conf");
        write_atomic(&config, &conf);
        let log = dir.join("agent.log");
        let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_pagent")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_pagent")),
        };
        let mut child = cmd
            .args(["start", "-c"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn pagent start");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        // Reads every stdout line for the agent's whole life so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut agent = AgentProc { child, dir: self.dir, socket, log, listeners: HashMap::new() };
        let wanted: Vec<String> = self.listeners.iter().map(|l| l.name.clone()).collect();
        let deadline = Instant::now() + START_WAIT;
        while !wanted.iter().all(|w| agent.listeners.contains_key(w)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let mut f = line.split_whitespace();
                    if let (Some("listening"), Some(name), Some(addr)) = (f.next(), f.next(), f.next()) {
                        let addr = addr.parse().unwrap_or_else(|e| panic!("bad line `{line}`: {e}"));
                        agent.listeners.insert(name.to_string(), addr);
                    }
                }
                Err(e) => {
                    let status = agent.child.try_wait().ok().flatten();
                    panic!(
                        "pagent start: not every listener reported ({e}; exit status {status:?}); got {:?}\n\
                         --- agent log\n{}",
                        agent.listeners,
                        agent.log_text()
                    );
                }
            }
        }
        agent
    }
}

/// The name of the group files created by this process get (its effective group), from /etc/group.
fn own_group(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(dir).ok()?.gid().to_string();
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[2] == gid).then(|| f[0].to_string())
    })
}

/// A running agent; killed and reaped on drop, its directory removed.
pub struct AgentProc {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
    log: PathBuf,
    listeners: HashMap<String, SocketAddr>,
}

impl AgentProc {
    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many file descriptors the agent has open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    /// The address listener `name` is bound to.
    pub fn addr(&self, name: &str) -> SocketAddr {
        *self.listeners.get(name).unwrap_or_else(|| panic!("no listener {name}: {:?}", self.listeners))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The control socket (ControlSocket in the test's configuration).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The agent's stderr so far (its log).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `pagent ARGS --socket SOCKET` (for `netstat` and `refresh`).
    pub fn pagent(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pagent"))
            .args(args)
            .arg("--socket")
            .arg(self.socket())
            .output()
            .expect("run pagent")
    }

    /// `pagent refresh`.
    pub fn refresh(&self) -> Output {
        self.pagent(&["refresh"])
    }

    /// The `pagent netstat` text (asserts exit 0).
    pub fn netstat(&self) -> String {
        let out = self.pagent(&["netstat"]);
        assert_eq!(out.status.code(), Some(0), "netstat: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("netstat text is UTF-8")
    }

    /// The netstat list's data rows, split on whitespace (ConnID JobName Local Remote TLS Map Version
    /// Cipher Rule).
    pub fn rows(&self) -> Vec<Vec<String>> {
        let text = self.netstat();
        text.lines().skip(1).map(|l| l.split_whitespace().map(String::from).collect()).collect()
    }

    /// `pagent netstat --json`, parsed: the `connections` array.
    pub fn connections(&self) -> Vec<Value> {
        let out = self.pagent(&["netstat", "--json"]);
        assert_eq!(out.status.code(), Some(0), "netstat --json: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("netstat --json is not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
        });
        v["connections"].as_array().cloned().unwrap_or_else(|| panic!("no `connections` array: {v}"))
    }

    /// The netstat JSON object of the live connection whose remote (client) address is `peer`,
    /// waiting up to 10 s for it to be listed.
    pub fn wait_conn(&self, peer: SocketAddr) -> Value {
        let want = peer.to_string();
        let mut found = None;
        let listed = eventually(Duration::from_secs(10), || {
            found = self.connections().into_iter().find(|c| c["remote_addr"] == want.as_str());
            found.is_some()
        });
        assert!(listed, "connection from {peer} never listed; netstat:\n{}", self.netstat());
        found.expect("found")
    }

    /// `pagent netstat --conn ID --detail` text (asserts exit 0).
    pub fn detail(&self, id: &str) -> String {
        let out = self.pagent(&["netstat", "--conn", id, "--detail"]);
        assert_eq!(out.status.code(), Some(0), "netstat detail: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("detail text is UTF-8")
    }

    /// The `Generation:` of a live connection, from its detail report.
    pub fn generation_of(&self, id: &str) -> u64 {
        let text = self.detail(id);
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Generation:"))
            .and_then(|g| g.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Generation line in:\n{text}"))
    }

    /// The rule (`-` for none) and generation of a fresh plain connection to `listener`, held open
    /// while netstat looks at it.
    pub fn fresh_mapping(&self, listener: &str) -> (String, u64) {
        let probe = std::net::TcpStream::connect(self.addr(listener)).expect("connect a probe");
        let c = self.wait_conn(probe.local_addr().expect("local"));
        let id = c["conn"].as_str().expect("conn id").to_string();
        (c["rule"].as_str().unwrap_or("-").to_string(), self.generation_of(&id))
    }

    /// Makes sure the file watcher is live before a change under test: repeats `poke` (a change
    /// that keeps the policy's meaning) until a new connection to `listener` maps with a generation
    /// after 1. Needed because the watcher is installed only after the `listening` lines (see
    /// `engine_refresh::file_watch_sees_a_change_made_right_after_the_listening_lines`). Returns
    /// that generation.
    pub fn wait_for_watcher(&self, listener: &str, mut poke: impl FnMut()) -> u64 {
        // One poke at a time, each given a second to be seen, so no reload is still pending when
        // this returns (the watcher debounces a burst of events into one reload).
        for _ in 0..10 {
            poke();
            let mut generation = 1;
            if eventually(Duration::from_secs(1), || {
                generation = self.fresh_mapping(listener).1;
                generation >= 2
            }) {
                return generation;
            }
        }
        panic!("the file watcher never reloaded the policy:\n{}", self.log_text());
    }

    /// Sends SIGHUP to the agent.
    pub fn sighup(&self) {
        self.signal("-HUP");
    }

    /// Sends SIGTERM to the agent (shutdown: NOPURGE drains, PURGE closes).
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("run kill");
        assert!(st.success(), "kill {sig} failed");
    }

    /// The agent's exit status if it exits within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        eventually(timeout, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let mut log = String::new();
            if let Ok(mut f) = std::fs::File::open(&self.log) {
                let _ = f.read_to_string(&mut log);
            }
            eprintln!("--- agent log ({})\n{log}--- end of agent log", self.log.display());
        }
    }
}

/// Policy text builders: rules that match on the listener's Jobname (its name) and direction.
pub mod policy {
    use std::path::Path;

    /// A TLS-enabled rule `NAME` (Jobname `JOB`, `direction`, `conditions` as extra lines) with its
    /// own group and environment actions; `env` is the environment action's body.
    pub fn tls_rule(name: &str, job: &str, direction: &str, conditions: &str, env: &str) -> String {
        format!(
            "TTLSRule {name}\n{{\n  Jobname {job}\n  Direction {direction}\n{conditions}\
             \n  TTLSGroupActionRef gOn~{name}\n  TTLSEnvironmentActionRef e~{name}\n}}\n\
             TTLSGroupAction gOn~{name}\n{{\n  TTLSEnabled On\n}}\n\
             TTLSEnvironmentAction e~{name}\n{{\n{env}\n}}\n"
        )
    }

    /// A `TTLSEnabled Off` rule (a deliberate clear exemption).
    pub fn off_rule(name: &str, job: &str) -> String {
        format!(
            "TTLSRule {name}\n{{\n  Jobname {job}\n  Direction Inbound\n  TTLSGroupActionRef gOff~{name}\n}}\n\
             TTLSGroupAction gOff~{name}\n{{\n  TTLSEnabled Off\n}}\n"
        )
    }

    /// An environment action body: `role`, keyring `ring`, advanced parms lines and (optionally)
    /// a `V3CipherSuites4Char` list.
    pub fn env(role: &str, ring: &Path, advanced: &[&str], ciphers: Option<&str>) -> String {
        let mut s = format!(
            "  HandshakeRole {role}\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n",
            ring.display()
        );
        if !advanced.is_empty() {
            s.push_str("  TTLSEnvironmentAdvancedParms\n  {\n");
            for a in advanced {
                s.push_str(&format!("    {a}\n"));
            }
            s.push_str("  }\n");
        }
        if let Some(c) = ciphers {
            s.push_str(&format!("  TTLSCipherParms\n  {{\n    V3CipherSuites4Char {c}\n  }}\n"));
        }
        s
    }

    /// The common case: an inbound server rule for listener `job`.
    pub fn server_rule(
        name: &str,
        job: &str,
        ring: &Path,
        advanced: &[&str],
        ciphers: Option<&str>,
    ) -> String {
        tls_rule(name, job, "Inbound", "", &env("Server", ring, advanced, ciphers))
    }
}
