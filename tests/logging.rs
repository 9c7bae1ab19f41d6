//! Where the agent's log goes and the message IDs it carries: with `Log Syslog` a real agent sends
//! each line as a datagram to a syslog socket the test owns (relocated with ATTLS_SYSLOG_SOCKET),
//! with the PRI of its rule's group `SyslogFacility` (daemon or auth) and its level, the tag
//! `pagent[PID]`, the message ID in front of the text (and as MSGID with `Log Syslog Rfc5424`); a
//! full socket drops lines and never holds a connection up; a missing one sends the log to stderr.
//! On stderr, text and JSON lines carry the ID as the `msgid` field.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{self, Backend};
use crate::support::agent::{AgentProc, AgentSetup, Pki, TempDir, eventually};

const WAIT: Duration = Duration::from_secs(15);

/// The policy: rule `authRule` (Jobname AUTHAPP) in a group with `SyslogFacility Auth`, rule
/// `dmnRule` (Jobname DMNAPP) in one without (Daemon); both Trace 6 (errors and information).
fn policy(ring: &Path) -> String {
    format!(
        "TTLSRule authRule\n{{\n  Jobname AUTHAPP\n  Direction Inbound\n  TTLSGroupActionRef gAuth\n  \
         TTLSEnvironmentActionRef eSrv\n}}\n\
         TTLSGroupAction gAuth\n{{\n  TTLSEnabled On\n  Trace 6\n  TTLSGroupAdvancedParms\n  {{\n    \
         SyslogFacility Auth\n  }}\n}}\n\
         TTLSRule dmnRule\n{{\n  Jobname DMNAPP\n  Direction Inbound\n  TTLSGroupActionRef gDmn\n  \
         TTLSEnvironmentActionRef eSrv\n}}\n\
         TTLSGroupAction gDmn\n{{\n  TTLSEnabled On\n  Trace 6\n}}\n\
         TTLSEnvironmentAction eSrv\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n}}\n",
        ring.display()
    )
}

/// A syslog socket the test owns; a thread reads every datagram into `got` while `reading`.
struct SyslogSink {
    path: PathBuf,
    got: Arc<Mutex<Vec<String>>>,
}

impl SyslogSink {
    /// Binds `dir/syslog.sock`; reads it from the start unless `read` is false (then nothing
    /// reads until [`SyslogSink::start_reading`]).
    fn bind(dir: &Path, read: bool) -> (SyslogSink, Option<UnixDatagram>) {
        let path = dir.join("syslog.sock");
        let sock = UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sink = SyslogSink { path, got: Arc::default() };
        if read {
            sink.start_reading(sock);
            return (sink, None);
        }
        (sink, Some(sock))
    }

    fn start_reading(&self, sock: UnixDatagram) {
        let got = self.got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                got.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
    }

    fn all(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }

    /// The first datagram with `msgid` in front of its text that contains `text`, waiting for it.
    fn wait_for(&self, msgid: &str, text: &str) -> Datagram {
        let mut found = None;
        eventually(WAIT, || {
            found = self
                .all()
                .iter()
                .filter_map(|d| Datagram::parse(d))
                .find(|d| d.text.starts_with(&format!("{msgid} ")) && d.text.contains(text));
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no {msgid} datagram with `{text}`; got:\n{}", self.all().join("\n")))
    }
}

/// An RFC 3164 datagram as the agent frames it: `<PRI>pagent[PID]: TEXT`.
#[derive(Debug)]
struct Datagram {
    pri: u16,
    tag: String,
    text: String,
}

impl Datagram {
    fn parse(d: &str) -> Option<Datagram> {
        let rest = d.strip_prefix('<')?;
        let (pri, rest) = rest.split_once('>')?;
        let (tag, text) = rest.split_once(": ")?;
        Some(Datagram { pri: pri.parse().ok()?, tag: tag.to_string(), text: text.to_string() })
    }
}

const DAEMON: u16 = 3 * 8;
const AUTH: u16 = 4 * 8;
const ERR: u16 = 3;
const WARNING: u16 = 4;
const INFO: u16 = 6;

/// An agent with listeners AUTHAPP and DMNAPP (echo backends) and the main-configuration `lines`.
fn agent_with(setup: AgentSetup, pki: &Pki, lines: &[&str], echo: &Backend) -> AgentProc {
    let mut setup = setup
        .policy(&policy(&pki.server_ring))
        .listener("AUTHAPP", echo.addr(), "Inbound")
        .listener("DMNAPP", echo.addr(), "Inbound");
    for l in lines {
        setup = setup.main_line(l);
    }
    setup.start()
}

/// A client that sends plaintext to a TLS listener: the handshake fails.
fn failed_handshake(agent: &AgentProc, listener: &str) {
    let mut s = peers::tcp_connect(agent.addr(listener));
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
    let _ = peers::read_until_closed(&mut s);
}

/// A TLS client that completes a round trip, then closes.
fn good_connection(agent: &AgentProc, pki: &Pki, listener: &str) {
    let mut tls =
        peers::tls_connect(agent.addr(listener), &peers::client_config(&pki.ca)).expect("handshake");
    assert_eq!(peers::round_trip(&mut tls, b"ping").expect("round trip"), b"ping");
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}

#[test]
fn syslog_gets_every_line_with_the_rules_facility_the_tag_and_the_id() {
    let setup = AgentSetup::new("log-syslog");
    let pki = setup.pki("pki");
    let (sink, _) = SyslogSink::bind(setup.dir(), true);
    let echo = Backend::echo();
    let setup = setup.env("ATTLS_SYSLOG_SOCKET", sink.path.display());
    let agent = agent_with(setup, &pki, &["Log Syslog"], &echo);
    let tag = format!("pagent[{}]", agent.pid());

    // Agent events: daemon.
    let loaded = sink.wait_for("ATL0100I", "policy loaded");
    assert_eq!((loaded.pri, loaded.tag.as_str()), (DAEMON + INFO, tag.as_str()), "{loaded:?}");
    let started = sink.wait_for("ATL0001I", "started");
    assert_eq!(started.pri, DAEMON + INFO, "{started:?}");
    assert!(started.text.contains("listeners=2"), "{started:?}");

    // A failed handshake under the Auth group: auth, warning, with the z/OS return code.
    failed_handshake(&agent, "AUTHAPP");
    let open = sink.wait_for("ATL1281I", "listener=AUTHAPP");
    assert_eq!(open.pri, AUTH + INFO, "{open:?}");
    assert!(open.text.contains(": open rule=\"authRule\" status=\"ENABLED\""), "{open:?}");
    let failed = sink.wait_for("ATL1286W", "handshake failed");
    assert_eq!((failed.pri, failed.tag.as_str()), (AUTH + WARNING, tag.as_str()), "{failed:?}");
    assert!(failed.text.contains("rc=") && failed.text.contains("rule=authRule"), "{failed:?}");
    assert!(failed.text.contains("conn{conn=") && failed.text.contains("listener=AUTHAPP"), "{failed:?}");
    assert!(!failed.text.contains("facility="), "the facility is in the PRI only: {failed:?}");

    // A good connection under the Daemon group: daemon, information.
    good_connection(&agent, &pki, "DMNAPP");
    let open = sink.wait_for("ATL1281I", "listener=DMNAPP");
    assert_eq!(open.pri, DAEMON + INFO, "{open:?}");
    let secure = sink.wait_for("ATL1283I", "listener=DMNAPP");
    assert_eq!(secure.pri, DAEMON + INFO, "{secure:?}");
    assert!(
        secure.text.contains(": secure version=") && secure.text.contains("handshake=\"full\""),
        "{secure:?}"
    );
    let close = sink.wait_for("ATL1290I", "listener=DMNAPP");
    assert_eq!(close.pri, DAEMON + INFO, "{close:?}");
    assert!(close.text.contains(": close bytes_in=4 bytes_out=4"), "{close:?}");

    // And a good one under Auth: information at auth.
    good_connection(&agent, &pki, "AUTHAPP");
    let secure = sink.wait_for("ATL1283I", "listener=AUTHAPP");
    assert_eq!(secure.pri, AUTH + INFO, "{secure:?}");

    // Every datagram has the tag and an ID; nothing of this went to stderr.
    for d in sink.all() {
        let p = Datagram::parse(&d).unwrap_or_else(|| panic!("not `<PRI>TAG: TEXT`: {d}"));
        assert_eq!(p.tag, tag, "{d}");
        assert!(p.text.starts_with("ATL") && p.text.as_bytes()[8] == b' ', "no ID in front: {d}");
    }
    let stderr = agent.log_text();
    assert!(!stderr.contains("ATL1281I") && !stderr.contains("policy loaded"), "{stderr}");
}

#[test]
fn rfc5424_framing_carries_the_id_as_msgid() {
    let setup = AgentSetup::new("log-5424");
    let pki = setup.pki("pki");
    let (sink, _) = SyslogSink::bind(setup.dir(), true);
    let echo = Backend::echo();
    let setup = setup.env("ATTLS_SYSLOG_SOCKET", sink.path.display());
    let agent = agent_with(setup, &pki, &["Log Syslog Rfc5424"], &echo);
    failed_handshake(&agent, "AUTHAPP");
    let mut found = None;
    eventually(WAIT, || {
        found = sink.all().into_iter().find(|d| d.contains("handshake failed"));
        found.is_some()
    });
    let d = found.unwrap_or_else(|| panic!("no handshake failed datagram: {:?}", sink.all()));
    // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
    let f: Vec<&str> = d.splitn(8, ' ').collect();
    assert_eq!(f.len(), 8, "{d}");
    assert_eq!(f[0], format!("<{}>1", AUTH + WARNING), "{d}");
    assert!(f[1].ends_with('Z') && f[1].contains('T'), "timestamp: {d}");
    let pid = agent.pid().to_string();
    assert_eq!((f[3], f[4], f[5], f[6]), ("pagent", pid.as_str(), "ATL1286W", "-"), "{d}");
    assert!(f[7].starts_with("ATL1286W conn{"), "{d}");
}

#[test]
fn a_full_syslog_socket_drops_lines_and_never_holds_connections_up() {
    let setup = AgentSetup::new("log-full");
    let pki = setup.pki("pki");
    // Nobody reads: the socket's queue (net.unix.max_dgram_qlen datagrams) fills at start, then
    // the agent's own queue (attls::logging::QUEUE) behind it.
    let (sink, unread) = SyslogSink::bind(setup.dir(), false);
    let echo = Backend::echo();
    let setup = setup.env("ATTLS_SYSLOG_SOCKET", sink.path.display()).listener_with(
        "NOPOL",
        echo.addr(),
        "Inbound",
        &["NoPolicy Refuse"],
    );
    let agent = agent_with(setup, &pki, &["Log Syslog"], &echo);
    let refused = |n: usize| {
        for _ in 0..n {
            let mut s = peers::tcp_connect(agent.addr("NOPOL"));
            let (_, end) = peers::read_until_closed(&mut s);
            assert!(end.is_err(), "a refused connection is reset, at once");
        }
    };
    // Two lines each (open, refused): more than the agent's queue holds.
    let started = std::time::Instant::now();
    refused(attls::logging::QUEUE / 2 + 100);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "connections were held up: {took:?}");
    // Reading again: after the next line the socket takes comes the count of those dropped.
    sink.start_reading(unread.expect("unread socket"));
    eventually(WAIT, || {
        refused(1);
        sink.all().iter().any(|d| d.contains("ATL0013W"))
    });
    let dropped = sink.wait_for("ATL0013W", "dropped");
    assert_eq!(dropped.pri, DAEMON + WARNING, "{dropped:?}");
    let n: u64 = dropped.text.split_whitespace().nth(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(n >= 100, "at least the lines past the queue were dropped and counted: {dropped:?}");
    // The lines queued before the socket filled up arrive after it (the drop notice goes out
    // right after the first datagram the socket takes, before the rest of the queue).
    let refusals = || sink.all().iter().filter(|d| d.contains("ATL1301W")).count();
    eventually(WAIT, || refusals() >= attls::logging::QUEUE / 4);
    assert!(refusals() >= attls::logging::QUEUE / 4, "only {} refusals arrived", refusals());
}

#[test]
fn without_a_syslog_socket_the_log_goes_to_stderr_with_a_warning() {
    let setup = AgentSetup::new("log-nosock");
    let pki = setup.pki("pki");
    let echo = Backend::echo();
    let missing = setup.dir().join("no-such.sock");
    let setup = setup.env("ATTLS_SYSLOG_SOCKET", missing.display());
    let agent = agent_with(setup, &pki, &["Log Syslog"], &echo);
    good_connection(&agent, &pki, "DMNAPP");
    let mut log = String::new();
    eventually(WAIT, || {
        log = agent.log_text();
        log.contains("msgid=\"ATL1290I\"")
    });
    assert!(log.contains("msgid=\"ATL0012W\"") && log.contains("the log goes to standard error"), "{log}");
    assert!(log.contains(&missing.display().to_string()), "{log}");
    assert!(log.contains("policy loaded msgid=\"ATL0100I\""), "{log}");
}

#[test]
fn stderr_text_lines_carry_the_ids_after_the_words_tests_and_scripts_read() {
    let setup = AgentSetup::new("log-stderr");
    let pki = setup.pki("pki");
    let echo = Backend::echo();
    let agent = agent_with(setup, &pki, &[], &echo);
    failed_handshake(&agent, "AUTHAPP");
    good_connection(&agent, &pki, "DMNAPP");
    let mut log = String::new();
    eventually(WAIT, || {
        log = agent.log_text();
        log.contains("msgid=\"ATL1290I\"") && log.contains("msgid=\"ATL1286W\"")
    });
    let line = |msgid: &str| {
        log.lines()
            .find(|l| l.contains(&format!("msgid=\"{msgid}\"")))
            .unwrap_or_else(|| panic!("{msgid}:\n{log}"))
    };
    assert!(line("ATL1281I").contains(": open msgid=\"ATL1281I\" rule="), "{log}");
    assert!(line("ATL1286W").contains("WARN") && line("ATL1286W").contains("handshake failed"), "{log}");
    assert!(line("ATL1286W").contains("rc="), "{log}");
    assert!(line("ATL1283I").contains(": secure msgid=\"ATL1283I\""), "{log}");
    assert!(line("ATL1283I").contains("handshake=\"full\""), "{log}");
    assert!(line("ATL1290I").contains(": close msgid=\"ATL1290I\" bytes_in=4 bytes_out=4"), "{log}");
    assert!(line("ATL0100I").contains("policy loaded"), "{log}");
    // The connection span shows the facility its rule's group names once it is mapped.
    assert!(line("ATL1290I").contains("facility=\"Daemon\""), "{log}");
}

/// Runs `pagent start` on a configuration whose listener's port is taken: the agent loads the
/// policy, then does not start.
fn start_on_a_taken_port(
    dir: &TempDir,
    pki: &Pki,
    log_line: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (i32, String) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let policy = dir.path().join("policy.pol");
    std::fs::write(&policy, self::policy(&pki.server_ring)).expect("policy");
    let conf = dir.path().join("pagent.conf");
    let text = format!(
        "TTLSConfig {}\nControlSocket {}\n{log_line}\nListener AUTHAPP\n{{\n  Listen {}\n  Direction Inbound\n  Backend 127.0.0.1:9\n}}\n",
        policy.display(),
        dir.path().join("ctl.sock").display(),
        taken.local_addr().expect("addr")
    );
    std::fs::write(&conf, text).expect("conf");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagent"));
    cmd.args(["start", "-c"]).arg(&conf).args(args).env_remove("RUST_LOG").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pagent");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn json_lines_carry_the_id_as_a_field() {
    let dir = TempDir::new("log-json");
    let pki = Pki::write(dir.path(), "pki");
    let (code, stderr) = start_on_a_taken_port(&dir, &pki, "Log Stderr", &["--log-format", "json"], &[]);
    assert_eq!(code, 1, "{stderr}");
    let loaded: Value = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "policy loaded")
        .unwrap_or_else(|| panic!("no JSON `policy loaded` line:\n{stderr}"));
    assert_eq!(loaded["fields"]["msgid"], "ATL0100I", "{loaded}");
    assert_eq!(loaded["level"], "INFO", "{loaded}");
    assert!(stderr.contains("agent not started"), "{stderr}");
}

#[test]
fn a_start_failure_reaches_syslog_and_stderr() {
    let dir = TempDir::new("log-notstarted");
    let pki = Pki::write(dir.path(), "pki");
    let (sink, _) = SyslogSink::bind(dir.path(), true);
    let env = [("ATTLS_SYSLOG_SOCKET", sink.path.as_path())];
    let (code, stderr) = start_on_a_taken_port(&dir, &pki, "Log Syslog", &[], &env);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot listen on") && stderr.contains("agent not started"), "{stderr}");
    let d = sink.wait_for("ATL0011E", "agent not started");
    assert_eq!(d.pri, DAEMON + ERR, "{d:?}");
    assert!(d.text.contains("Listener AUTHAPP: cannot listen on"), "{d:?}");
    // A configuration error reaches stderr, whatever Log says.
    std::fs::write(dir.path().join("bad.conf"), "Log Syslog\nTTLSConfig\n").expect("conf");
    let out = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["start", "-c"])
        .arg(dir.path().join("bad.conf"))
        .env("ATTLS_SYSLOG_SOCKET", &sink.path)
        .output()
        .expect("run pagent");
    let mut err = String::new();
    let _ = out.stderr.as_slice().read_to_string(&mut err);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("configuration invalid: nothing started"), "{err}");
}
