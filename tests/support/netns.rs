//! Network namespaces for the transparent-mode tests: a [`Topology`] of three namespaces, client `c`,
//! proxy `p` and server `s`, joined by veth pairs c<->p (10.N.1.0/24, fd41:5454:N:1::/64) and p<->s
//! (10.N.2.0/24, fd41:5454:N:2::/64), default routes via p, forwarding on in p. Commands run in a
//! namespace with `ip netns exec`, bounded by a timeout; long-running ones are [`NsChild`] guards.
//!
//! N is unique across concurrent test processes: a topology claims it by creating the namespace
//! `attlsNc` (`ip netns add` fails when it exists), so two tests never share a name or a subnet.
//! The veths are created inside the namespaces, so the host's network is never touched; `Drop`
//! kills what runs in the namespaces, deletes the veths and removes the namespaces, also when the
//! test panicked. [`Topology::new`] returns `None` after `skipping: …` on stderr when the kernel or
//! the permissions refuse (not root, no `ip` or `nft`, `ip netns add` or veths refused).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long [`Topology::exec`] lets a command run.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// The Python the peers run as (Debian's, with nothing extra needed).
pub const PYTHON: &str = "/usr/bin/python3";

/// One of the three namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    Client,
    Proxy,
    Server,
}

impl Ns {
    const ALL: [Ns; 3] = [Ns::Client, Ns::Proxy, Ns::Server];
    fn letter(self) -> char {
        match self {
            Ns::Client => 'c',
            Ns::Proxy => 'p',
            Ns::Server => 's',
        }
    }
}

/// Three namespaces wired c <-> p <-> s; removed on drop.
pub struct Topology {
    n: u8,
    /// Namespaces created so far (all three once `new` returns).
    created: Vec<Ns>,
}

/// Why a topology cannot be built here: printed as `skipping: …`.
fn refuse(tag: &str, why: impl std::fmt::Display) -> Option<Topology> {
    eprintln!("skipping {tag}: {why}");
    None
}

impl Topology {
    /// Builds the topology, or says why not (`skipping: …` on stderr) and returns `None`.
    pub fn new(tag: &str) -> Option<Topology> {
        if !is_root() {
            return refuse(tag, "network namespace tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
        }
        for tool in ["ip", "nft"] {
            if Command::new(tool).arg("-V").output().is_err() {
                return refuse(tag, format!("`{tool}` is not installed (scripts/test installs it)"));
            }
        }
        if !std::path::Path::new(PYTHON).exists() {
            return refuse(tag, format!("{PYTHON} is not installed"));
        }
        let mut topo = match claim() {
            Ok(n) => Topology { n, created: vec![Ns::Client] },
            Err(e) => return refuse(tag, format!("the kernel refused a network namespace: {e}")),
        };
        if let Err(e) = topo.build() {
            return refuse(tag, format!("the kernel refused the topology: {e}"));
        }
        Some(topo)
    }

    fn build(&mut self) -> Result<(), String> {
        for ns in [Ns::Proxy, Ns::Server] {
            ip(&["netns", "add", &self.name(ns)])?;
            self.created.push(ns);
        }
        let (c, p, s) = (self.name(Ns::Client), self.name(Ns::Proxy), self.name(Ns::Server));
        // Each end is created in its namespace: the host never sees these interfaces.
        ip(&["link", "add", "to-p", "netns", &c, "type", "veth", "peer", "name", "to-c", "netns", &p])?;
        ip(&["link", "add", "to-s", "netns", &p, "type", "veth", "peer", "name", "to-p", "netns", &s])?;
        let links: [(Ns, &[&str]); 3] =
            [(Ns::Client, &["to-p"]), (Ns::Proxy, &["to-c", "to-s"]), (Ns::Server, &["to-p"])];
        for (ns, ifaces) in links {
            let name = self.name(ns);
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            for iface in ifaces {
                ip(&["-n", &name, "link", "set", iface, "up"])?;
            }
        }
        let n = self.n;
        let addrs = [
            (Ns::Client, "to-p", 1, 2),
            (Ns::Proxy, "to-c", 1, 1),
            (Ns::Proxy, "to-s", 2, 1),
            (Ns::Server, "to-p", 2, 2),
        ];
        for (ns, iface, net, host) in addrs {
            let name = self.name(ns);
            ip(&["-n", &name, "addr", "add", &format!("10.{n}.{net}.{host}/24"), "dev", iface])?;
            let v6 = format!("fd41:5454:{n}:{net}::{host}/64");
            ip(&["-n", &name, "-6", "addr", "add", &v6, "dev", iface, "nodad"])?;
        }
        for (ns, net) in [(Ns::Client, 1), (Ns::Server, 2)] {
            let name = self.name(ns);
            ip(&["-n", &name, "route", "add", "default", "via", &format!("10.{n}.{net}.1")])?;
            ip(&["-n", &name, "-6", "route", "add", "default", "via", &format!("fd41:5454:{n}:{net}::1")])?;
        }
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            self.exec(Ns::Proxy, &["sysctl", "-q", "-w", key]).and_then(checked)?;
        }
        Ok(())
    }

    /// The namespace's name (`attlsNc`, `attlsNp`, `attlsNs`).
    pub fn name(&self, ns: Ns) -> String {
        format!("attls{}{}", self.n, ns.letter())
    }

    /// The client's address (10.N.1.2).
    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, 1, 2)
    }
    /// The proxy's address facing `side`: 10.N.1.1 (the client) or 10.N.2.1 (the server).
    pub fn proxy_ip(&self, side: Ns) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, if side == Ns::Server { 2 } else { 1 }, 1)
    }
    /// The server's address (10.N.2.2).
    pub fn server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, 2, 2)
    }
    pub fn client_ip6(&self) -> Ipv6Addr {
        format!("fd41:5454:{}:1::2", self.n).parse().expect("an IPv6 address")
    }
    pub fn server_ip6(&self) -> Ipv6Addr {
        format!("fd41:5454:{}:2::2", self.n).parse().expect("an IPv6 address")
    }

    /// Runs `args` in `ns` for at most [`EXEC_TIMEOUT`]; `Err` if it could not run or timed out.
    pub fn exec(&self, ns: Ns, args: &[&str]) -> Result<Output, String> {
        self.exec_with(ns, args, None, EXEC_TIMEOUT)
    }

    /// As [`Topology::exec`], with `stdin` written to the command and a timeout of the caller's.
    pub fn exec_with(
        &self,
        ns: Ns,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let mut cmd = self.command(ns, args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        run_bounded(cmd, stdin.map(str::to_string), timeout)
    }

    /// Runs `args` in `ns` and panics with its output unless it exits 0; returns its stdout.
    pub fn must(&self, ns: Ns, args: &[&str]) -> String {
        let out =
            self.exec(ns, args).and_then(checked).unwrap_or_else(|e| panic!("in {}: {e}", self.name(ns)));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Loads an nft script in `ns` (`nft -f -`).
    pub fn nft(&self, ns: Ns, script: &str) -> Result<(), String> {
        self.exec_with(ns, &["nft", "-f", "-"], Some(script), EXEC_TIMEOUT).and_then(checked).map(drop)
    }

    /// Starts a long-running `args` in `ns`, in its own process group (killed on drop).
    pub fn spawn(&self, ns: Ns, args: &[&str]) -> NsChild {
        // A program given inline (`python3 -c SCRIPT`) is shown as `…`.
        let shown: Vec<&str> = args.iter().map(|a| if a.contains('\n') { "…" } else { a }).collect();
        NsChild::spawn(self.command(ns, args), format!("{} in {}", shown.join(" "), self.name(ns)))
    }

    fn command(&self, ns: Ns, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name(ns)]).args(args);
        cmd
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for &ns in Ns::ALL.iter().filter(|ns| self.created.contains(ns)) {
            let name = self.name(ns);
            // Whatever still runs there (an NsChild leaked by a panic, a grandchild).
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &name]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).stderr(Stdio::null()).status();
                }
            }
            if ns == Ns::Proxy {
                for iface in ["to-c", "to-s"] {
                    let _ = ip(&["-n", &name, "link", "del", iface]);
                }
            }
        }
        // The client's name is the claim on N: it goes last.
        for ns in [Ns::Server, Ns::Proxy, Ns::Client] {
            if self.created.contains(&ns)
                && let Err(e) = ip(&["netns", "del", &self.name(ns)])
            {
                eprintln!("netns cleanup: {e}");
            }
        }
    }
}

/// Claims a free N (1-250) by creating `attlsNc`; the start depends on the process and a counter,
/// so concurrent tests rarely try the same N twice.
fn claim() -> Result<u8, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) * 13);
    let mut last = String::new();
    for i in 0..250u32 {
        let n = ((start + i) % 250 + 1) as u8;
        match ip(&["netns", "add", &format!("attls{n}c")]) {
            Ok(()) => return Ok(n),
            Err(e) if e.contains("File exists") => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(format!("every N from 1 to 250 is taken: {last}"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)) == Some("0")
    })
}

/// `ip ARGS` in the host's namespace; the error carries its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("ip");
    cmd.args(args).stdin(Stdio::null());
    run_bounded(cmd, None, EXEC_TIMEOUT).and_then(checked).map(drop)
}

/// `Ok` if the command exited 0, else its status and output.
pub fn checked(out: Output) -> Result<Output, String> {
    if out.status.success() { Ok(out) } else { Err(describe("failed", out.status, &out.stdout, &out.stderr)) }
}

fn describe(what: &str, status: impl std::fmt::Debug, out: &[u8], err: &[u8]) -> String {
    format!(
        "{what} ({status:?})\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(err)
    )
}

/// Kills a process group (the leader's pid is its id).
fn kill_group(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
}

/// Runs `cmd` in its own process group with its output captured; kills the group after `timeout`.
fn run_bounded(mut cmd: Command, stdin: Option<String>, timeout: Duration) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped stdout")));
    let err = read(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => break None,
        }
    };
    if status.is_none() {
        kill_group(child.id());
        let _ = child.wait();
    }
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    match status {
        Some(status) => Ok(Output { status, stdout: out, stderr: err }),
        None => Err(describe(&format!("{what}: timed out after {timeout:?}"), "killed", &out, &err)),
    }
}

/// A long-running process in a namespace, leading its own process group: its stdout lines arrive
/// on a channel, stdout and stderr are kept for the failure report; the group is killed on drop.
pub struct NsChild {
    child: Child,
    what: String,
    lines: Receiver<String>,
    log: Arc<Mutex<String>>,
}

impl NsChild {
    fn spawn(mut cmd: Command, what: String) -> NsChild {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = channel();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        for (reader, tx) in
            [(Box::new(stdout) as Box<dyn BufRead + Send>, Some(tx)), (Box::new(stderr), None)]
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in reader.lines().map_while(Result::ok) {
                    log.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("{line}\n"));
                    if let Some(tx) = &tx {
                        let _ = tx.send(line);
                    }
                }
            });
        }
        NsChild { child, what, lines, log }
    }

    /// Waits for a stdout line containing `text`; panics with the log after `timeout` or if the
    /// process exits first.
    pub fn wait_line(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("{}: no line with `{text}` within {timeout:?}\n{}", self.what, self.log()),
            }
        }
    }

    /// Everything it wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {}\n{}--- end", self.what, self.log());
        }
    }
}
