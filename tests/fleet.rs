//! A fleet of agents sharing `TicketKeyFile` (docs/fleet.md): each resumes the others' sessions
//! (TLS 1.2 tickets and TLS 1.3), a rotated file keeps old sessions resumable, a file others can read
//! stops the agent, and a real L4 balancer (HAProxy in TCP mode, round robin) in front of two
//! agents sees every connection after the first resume, whichever agent it lands on.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::sessions::{Version, s_client_session};
use crate::support::agent::peers::{Backend, Spawned};
use crate::support::agent::{AgentProc, AgentSetup, Pki, TempDir, eventually, policy};

const OLD_KEY: &str = "0b1f6a2c9d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccdde";
const NEW_KEY: &str = "7f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";

/// Writes a ticket key file with `keys` (mode 0600).
fn key_file(dir: &Path, keys: &[&str]) -> PathBuf {
    let path = dir.join("ticket.keys");
    let text = format!("# attls ticket keys: the first seals, all open\n{}\n", keys.join("\n"));
    let tmp = dir.join(".ticket.keys.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// An agent for listener TLS1 in front of `backend`, with the shared `pki` and `keys` file.
fn agent(tag: &str, pki: &Pki, backend: SocketAddr, keys: &Path) -> AgentProc {
    let rule = policy::server_rule("fleet~1", "TLS1", &pki.server_ring, &[], None);
    let setup = AgentSetup::new(tag).main_line(&format!("TicketKeyFile {}", keys.display()));
    setup.listener("TLS1", backend, "Inbound").policy(&rule).start()
}

/// How many connections the agent has opened so far (its `open` log lines).
fn opened(agent: &AgentProc) -> usize {
    agent.log_text().lines().filter(|l| l.contains(": open ")).count()
}

fn shared_keys_resume_across_agents(v: Version) {
    let shared = TempDir::new(&format!("fleet-keys-{v:?}").to_lowercase());
    let pki = Pki::write(shared.path(), "pki");
    let keys = key_file(shared.path(), &[OLD_KEY]);
    let backend = Backend::echo();
    let a = agent(&format!("fleet-a-{v:?}").to_lowercase(), &pki, backend.addr(), &keys);
    let b = agent(&format!("fleet-b-{v:?}").to_lowercase(), &pki, backend.addr(), &keys);
    let (sa, sb) = (shared.path().join("a.sess"), shared.path().join("b.sess"));
    assert_eq!(s_client_session(a.addr("TLS1"), &pki.ca, v, None, Some(&sa)), "New");
    assert_eq!(
        s_client_session(b.addr("TLS1"), &pki.ca, v, Some(&sa), None),
        "Reused",
        "{v:?}: B resumes A's"
    );

    // Rotation: a new key first; both agents read it; A's old session still resumes on B, and a
    // session B seals with the new key resumes on A.
    let generation = |x: &AgentProc| x.log_text().matches("policy loaded").count();
    let (ga, gb) = (generation(&a), generation(&b));
    key_file(shared.path(), &[NEW_KEY, OLD_KEY]);
    assert!(
        eventually(Duration::from_secs(10), || generation(&a) > ga && generation(&b) > gb),
        "the agents did not reload the key file:\n{}",
        a.log_text()
    );
    assert_eq!(s_client_session(b.addr("TLS1"), &pki.ca, v, Some(&sa), None), "Reused", "{v:?}: old key");
    assert_eq!(s_client_session(b.addr("TLS1"), &pki.ca, v, None, Some(&sb)), "New");
    assert_eq!(s_client_session(a.addr("TLS1"), &pki.ca, v, Some(&sb), None), "Reused", "{v:?}: new key");

    // An agent with other keys resumes none of them.
    let other_dir = TempDir::new("fleet-other-keys");
    let other_keys = key_file(other_dir.path(), &["11".repeat(32).as_str()]);
    let c = agent(&format!("fleet-c-{v:?}").to_lowercase(), &pki, backend.addr(), &other_keys);
    assert_eq!(s_client_session(c.addr("TLS1"), &pki.ca, v, Some(&sb), None), "New", "{v:?}: other keys");
}

#[test]
fn tls13_agents_sharing_a_ticket_key_file_resume_each_others_sessions_across_a_rotation() {
    shared_keys_resume_across_agents(Version::Tls13);
}

#[test]
fn tls12_agents_sharing_a_ticket_key_file_resume_each_others_tickets_across_a_rotation() {
    shared_keys_resume_across_agents(Version::Tls12);
}

#[test]
fn a_ticket_key_file_others_can_read_is_refused_with_a_clear_error() {
    let dir = TempDir::new("fleet-key-mode");
    let pki = Pki::write(dir.path(), "pki");
    let keys = key_file(dir.path(), &[OLD_KEY]);
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let rule = policy::server_rule("fleet~1", "TLS1", &pki.server_ring, &[], None);
    std::fs::write(dir.path().join("policy.pol"), rule).unwrap();
    let conf = dir.path().join("pagent.conf");
    let text = format!(
        "TTLSConfig {}\nControlSocket {}\nTicketKeyFile {}\nListener TLS1\n{{\n  Listen 127.0.0.1:0\n  Direction Inbound\n  Backend 127.0.0.1:9\n}}\n",
        dir.path().join("policy.pol").display(),
        dir.path().join("ctl.sock").display(),
        keys.display()
    );
    std::fs::write(&conf, text).unwrap();
    let want =
        format!("TicketKeyFile {}: mode 0644 lets others read or change the keys: chmod 600", keys.display());
    let check = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["check", "-c"])
        .arg(&conf)
        .arg(dir.path().join("policy.pol"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success() && said.contains(&want), "pagent check:\n{said}");
    let mut start = Command::new(env!("CARGO_BIN_EXE_pagent"));
    start.args(["start", "-c"]).arg(&conf);
    let mut agent = Spawned::spawn(start);
    let status = agent.wait(Duration::from_secs(10));
    assert!(!status.success(), "the agent started with a readable key file");
    assert!(agent.stderr().contains(&want), "pagent start:\n{}", agent.stderr());
}

#[test]
fn sysplex_sidcache_without_a_ticket_key_file_warns_that_nothing_is_shared() {
    let setup = AgentSetup::new("fleet-sysplex");
    let pki = setup.pki("pki");
    let gsk = "  TTLSGskAdvancedParms\n  {\n    GSK_SYSPLEX_SIDCACHE On\n  }\n";
    let env = policy::env("Server", &pki.server_ring, &[], None) + gsk;
    let rule = policy::tls_rule("plex~1", "TLS1", "Inbound", "", &env);
    let agent = setup.listener("TLS1", "127.0.0.1:9", "Inbound").policy(&rule).start();
    let log = agent.log_text();
    assert!(
        log.contains(
            "GSK_SYSPLEX_SIDCACHE On, but the main configuration has no TicketKeyFile: no session is shared"
        ),
        "{log}"
    );
}

/// HAProxy in TCP mode, round robin over `servers`, on a free port.
fn haproxy(dir: &Path, servers: &[SocketAddr]) -> (Spawned, SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
    let front: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cfg = format!(
        "global\n  maxconn 256\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend tls_in\n  bind {front}\n  default_backend agents\nbackend agents\n  balance roundrobin\n"
    );
    for (i, s) in servers.iter().enumerate() {
        cfg.push_str(&format!("  server agent{i} {s}\n"));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db").arg("-f").arg(&path);
    let proxy = Spawned::spawn(cmd);
    let up = eventually(Duration::from_secs(10), || std::net::TcpStream::connect(front).is_ok());
    assert!(up, "haproxy did not listen: {}", proxy.stderr());
    (proxy, front)
}

#[test]
fn behind_a_round_robin_balancer_every_connection_after_the_first_resumes_on_either_agent() {
    let shared = TempDir::new("fleet-balancer");
    let pki = Pki::write(shared.path(), "pki");
    let keys = key_file(shared.path(), &[OLD_KEY]);
    let backend = Backend::echo();
    let a = agent("fleet-lb-a", &pki, backend.addr(), &keys);
    let b = agent("fleet-lb-b", &pki, backend.addr(), &keys);
    let (_proxy, front) = haproxy(shared.path(), &[a.addr("TLS1"), b.addr("TLS1")]);
    for v in [Version::Tls13, Version::Tls12] {
        let sess = shared.path().join(format!("{v:?}.sess"));
        assert_eq!(s_client_session(front, &pki.ca, v, None, Some(&sess)), "New");
        let (before_a, before_b) = (opened(&a), opened(&b));
        for i in 0..6 {
            assert_eq!(
                s_client_session(front, &pki.ca, v, Some(&sess), None),
                "Reused",
                "{v:?} connection {i}"
            );
        }
        let (on_a, on_b) = (opened(&a) - before_a, opened(&b) - before_b);
        assert_eq!((on_a, on_b), (3, 3), "{v:?}: round robin put {on_a} on A and {on_b} on B");
    }
}
