//! The audit file itself (docs/audit.md): SIGUSR1 reopens it after a rotation, by hand or by the
//! shipped logrotate snippet (`dist/logrotate/attls`), and is harmless without an audit log; a burst
//! of 200 connections gives 200 records; a path that cannot be opened stops the start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::audit::{clear_once, record_of, records};
use crate::support::agent::peers::{Backend, Spawned};
use crate::support::agent::{AgentProc, AgentSetup, eventually, policy, write_atomic};

const WAIT: Duration = Duration::from_secs(20);

/// An agent with one clear listener (NoPolicy Clear) and `AuditLog DIR/audit.jsonl`.
fn clear_agent(tag: &str, backend: &Backend) -> (AgentProc, PathBuf) {
    let setup = AgentSetup::new(tag);
    let audit = setup.dir().join("audit.jsonl");
    let agent = setup
        .main_line(&format!("AuditLog {}", audit.display()))
        .listener_with("CLEAR", backend.addr(), "Inbound", &["NoPolicy Clear"])
        .policy(&policy::off_rule("unused~1", "NOBODY"))
        .start();
    (agent, audit)
}

fn usr1(agent: &AgentProc) {
    let st = Command::new("kill").args(["-USR1", &agent.pid().to_string()]).status().expect("run kill");
    assert!(st.success(), "kill -USR1");
}

#[test]
fn sigusr1_reopens_the_file_after_a_rotation() {
    use std::os::unix::fs::PermissionsExt;
    let backend = Backend::echo();
    let (agent, audit) = clear_agent("audit-rotate", &backend);
    let before = clear_once(agent.addr("CLEAR"), b"before\n");
    record_of(&audit, before);
    let rotated = audit.with_extension("jsonl.1");
    std::fs::rename(&audit, &rotated).expect("rotate");
    usr1(&agent);
    assert!(
        eventually(WAIT, || audit.exists()),
        "no new file at the path after SIGUSR1:\n{}",
        agent.log_text()
    );
    let mode = std::fs::metadata(&audit).expect("new file").permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "created at most 0640: {mode:o}");
    let after = clear_once(agent.addr("CLEAR"), b"after\n");
    let r = record_of(&audit, after);
    assert_eq!(r["bytes_in"].as_u64(), Some(6), "{r}");
    assert_eq!(records(&audit).len(), 1, "only the new record in the new file");
    let old = records(&rotated);
    assert_eq!(old.len(), 1, "the old file keeps the old record: {old:?}");
    assert_eq!(old[0]["remote"], before.to_string().as_str());
}

#[test]
fn sigusr1_without_an_audit_log_is_harmless() {
    let setup = AgentSetup::new("audit-none");
    let backend = Backend::echo();
    let mut agent = setup
        .listener_with("CLEAR", backend.addr(), "Inbound", &["NoPolicy Clear"])
        .policy(&policy::off_rule("unused~1", "NOBODY"))
        .start();
    usr1(&agent);
    assert!(eventually(WAIT, || agent.log_text().contains("no AuditLog to reopen")), "{}", agent.log_text());
    assert_eq!(agent.wait_exit(Duration::from_millis(200)), None, "SIGUSR1 ended the agent");
    clear_once(agent.addr("CLEAR"), b"still serving\n");
}

#[test]
fn a_burst_of_200_connections_gives_200_records() {
    let backend = Backend::echo();
    let (agent, audit) = clear_agent("audit-burst", &backend);
    let addr = agent.addr("CLEAR");
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                (0..25).map(|i| clear_once(addr, format!("burst {t} {i}\n").as_bytes())).collect::<Vec<_>>()
            })
        })
        .collect();
    let clients: Vec<SocketAddr> =
        threads.into_iter().flat_map(|t| t.join().expect("client thread")).collect();
    assert!(eventually(WAIT, || records(&audit).len() >= 200), "{} records", records(&audit).len());
    let all = records(&audit);
    eprintln!("200 connections and their records in {:?}", started.elapsed());
    assert_eq!(all.len(), 200);
    let mut conns: Vec<&str> = all.iter().map(|r| r["conn"].as_str().expect("conn")).collect();
    conns.sort_unstable();
    conns.dedup();
    assert_eq!(conns.len(), 200, "200 distinct ConnIDs");
    for c in &clients {
        let r = all
            .iter()
            .find(|r| r["remote"] == c.to_string().as_str())
            .unwrap_or_else(|| panic!("no record for {c}"));
        let sent = r["bytes_in"].as_u64().expect("bytes_in");
        assert!((10..=12).contains(&sent) && r["bytes_out"].as_u64() == Some(sent), "{r}");
    }
    assert!(!agent.log_text().contains("records dropped"), "{}", agent.log_text());
}

#[test]
fn an_audit_log_that_cannot_be_opened_stops_the_start() {
    let setup = AgentSetup::new("audit-bad-path");
    let pki = setup.pki("pki");
    let dir = setup.dir();
    write_atomic(&dir.join("policy.pol"), &policy::server_rule("web~1", "WEB", &pki.server_ring, &[], None));
    let missing = dir.join("no-such-dir/audit.jsonl");
    let conf = dir.join("pagent.conf");
    let text = format!(
        "TTLSConfig policy.pol\nControlSocket {}\nAuditLog {}\nListener WEB\n{{\n  Listen 127.0.0.1:0\n  Backend 127.0.0.1:9\n  Direction Inbound\n}}\n",
        dir.join("ctl.sock").display(),
        missing.display()
    );
    write_atomic(&conf, &text);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagent"));
    cmd.args(["start", "-c"]).arg(&conf).env("NO_COLOR", "1");
    let mut p = Spawned::spawn(cmd);
    let status = p.wait(WAIT);
    assert!(!status.success(), "started without its audit log");
    let err = p.stderr();
    assert!(err.contains(&format!("AuditLog {}", missing.display())), "{err}");
    assert!(!String::from_utf8_lossy(&p.stdout()).contains("listening"), "served: {err}");
}

/// The shipped snippet, run by logrotate against an agent: the path is the test's, the owner the
/// test's (`create 0640` without one) and the postrotate command signals this agent instead of
/// the systemd unit. logrotate moves the file and creates an empty one; after SIGUSR1 the agent
/// writes there.
#[test]
fn the_shipped_logrotate_snippet_rotates_and_the_agent_follows() {
    let backend = Backend::echo();
    let (agent, audit) = clear_agent("audit-logrotate", &backend);
    let before = clear_once(agent.addr("CLEAR"), b"before logrotate\n");
    record_of(&audit, before);
    let snippet =
        std::fs::read_to_string(crate::support::root().join("dist/logrotate/attls")).expect("snippet");
    let signal = "systemctl kill --kill-whom=main --signal=USR1 pagent.service";
    for shipped in ["/var/log/attls/audit.jsonl {", "create 0640 root root", signal] {
        assert!(snippet.contains(shipped), "the snippet no longer has `{shipped}`:\n{snippet}");
    }
    let conf = snippet
        .replace("/var/log/attls/audit.jsonl", &audit.display().to_string())
        .replace("create 0640 root root", "create 0640")
        .replace(signal, &format!("kill -USR1 {}", agent.pid()));
    let conf_path = agent.dir().join("logrotate.conf");
    write_atomic(&conf_path, &conf);
    let state = agent.dir().join("logrotate.state");
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(&state)
        .arg(&conf_path)
        .output()
        .unwrap_or_else(|e| panic!("logrotate: {e} (scripts/test installs logrotate)"));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "logrotate: {said}");
    let rotated: Vec<PathBuf> = std::fs::read_dir(agent.dir())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("audit.jsonl-")))
        .collect();
    assert_eq!(rotated.len(), 1, "one rotated file (dateext, not yet compressed): {rotated:?} {said}");
    assert!(
        eventually(WAIT, || agent.log_text().contains("reopening the audit log")),
        "{}",
        agent.log_text()
    );
    let after = clear_once(agent.addr("CLEAR"), b"after logrotate\n");
    record_of(&audit, after);
    let new: Vec<String> = records(&audit).iter().map(|r| r["remote"].to_string()).collect();
    assert_eq!(new, [format!("\"{after}\"")], "only the new record at the path");
    let old = records(&rotated[0]);
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["remote"], before.to_string().as_str());
}
