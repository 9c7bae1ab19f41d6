//! OCSP (`TTLSGskOcspParms`) with real parts on loopback: leaves made with `openssl ca` name
//! `http://127.0.0.1:PORT` in their AIA extension, and `openssl ocsp` answers from the CA's index.
//! A revoked client is refused (rc=431) and a good one served (nonces sent and checked); a
//! responder that never answers leaves the status unknown within OcspResponseTimeout (Medium
//! serves, High refuses); a response signed by another key is not trusted, one signed by a
//! delegated responder the CA issued is; the Client role checks the server's certificate; and
//! with OcspServerStapling On, `openssl s_client -status` sees the stapled response.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::agent::peers::{Backend, Spawned, s_server_rev_with, tcp_connect};
use crate::support::agent::{AgentProc, AgentSetup, eventually, policy};
use crate::support::openssl_ca::{Ca, client, free_port, ring_with, served};

fn aia(port: u16) -> String {
    format!("authorityInfoAccess=OCSP;URI:http://127.0.0.1:{port}")
}

/// A keyring directory `ring` with the CA and a server certificate it issued (`extensions` added).
fn server_ring(ca: &Ca, ring: &Path, extensions: &[&str]) {
    let (pem, key) = ca.issue_with("server", extensions);
    ring_with(ring, &[(&pem, "server.pem"), (&key, "server.key"), (&ca.dir.join("ca.pem"), "ca.pem")]);
}

/// An environment body for `role` with keyring `ring`, `RevocationSecurityLevel level` and the
/// TTLSGskOcspParms lines `ocsp`.
fn env(role: &str, ring: &Path, level: &str, ocsp: &[&str]) -> String {
    let mut env = policy::env(role, ring, &[], None);
    env.push_str(&format!(
        "  TTLSGskAdvancedParms\n  {{\n    RevocationSecurityLevel {level}\n    TTLSGskOcspParms\n    {{\n{}    }}\n  }}\n",
        ocsp.iter().map(|l| format!("      {l}\n")).collect::<String>()
    ));
    env
}

/// An agent in `role`: one listener per (name, level, ocsp lines), each with its own rule.
fn agent(
    setup: AgentSetup,
    role: &str,
    ring: &Path,
    listeners: &[(&str, &str, &[&str])],
    backend: &Backend,
) -> AgentProc {
    let mut policy_text = String::new();
    let mut setup = setup;
    for (name, level, ocsp) in listeners {
        let body = env(role, ring, level, ocsp);
        policy_text.push_str(&policy::tls_rule(&format!("ocsp~{name}"), name, "Inbound", "", &body));
        setup = setup.listener(name, backend.addr(), "Inbound");
    }
    setup.policy(&policy_text).start()
}

const AIA_ON: &[&str] = &["OcspAiaEnable On"];

#[test]
fn a_revoked_client_is_refused_and_a_good_one_served_with_nonces() {
    let setup = AgentSetup::new("ocsp-revoked");
    let port = free_port();
    let ca = Ca::new(setup.dir().join("ca"), "attls OCSP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring, &[]);
    let (good_pem, good_key) = ca.issue_with("good", &[&aia(port)]);
    let (bad_pem, bad_key) = ca.issue_with("bad", &[&aia(port)]);
    ca.revoke("bad");
    let ca_pem = ca.dir.join("ca.pem");
    let _responder = ca.responder(port, &ca_pem, &ca.dir.join("ca.key"));
    let backend = Backend::echo();
    let lines: &[&str] = &["OcspAiaEnable On", "OcspNonceGenEnable On", "OcspNonceCheckEnable On"];
    let agent = agent(setup, "ServerWithClientAuth", &ring, &[("TLS1", "High", lines)], &backend);
    let addr = agent.addr("TLS1");
    for n in 0..3 {
        assert!(served(addr, &ca_pem, &client(&good_pem, &good_key)), "handshake {n}: {}", agent.log_text());
    }
    assert!(!served(addr, &ca_pem, &client(&bad_pem, &bad_key)), "the revoked client was served");
    let log = agent.log_text();
    assert!(log.contains("rc=431"), "{log}");
    assert!(!log.contains("OCSP status unknown"), "{log}");
}

#[test]
fn a_responder_that_never_answers_serves_under_medium_and_refuses_under_high_within_the_timeout() {
    let setup = AgentSetup::new("ocsp-silent");
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || silent.incoming().take(8).flatten().collect::<Vec<_>>());
    let ca = Ca::new(setup.dir().join("ca"), "attls OCSP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring, &[]);
    let (pem, key) = ca.issue_with("client", &[&aia(port)]);
    let backend = Backend::echo();
    // Different cache sizes: two caches, so each listener waits for a query of its own.
    let listeners: [(&str, &str, &[&str]); 2] = [
        ("TLS1", "Medium", &["OcspAiaEnable On", "OcspResponseTimeout 2"]),
        ("TLS2", "High", &["OcspAiaEnable On", "OcspResponseTimeout 2", "OcspCliCacheSize 31"]),
    ];
    let agent = agent(setup, "ServerWithClientAuth", &ring, &listeners, &backend);
    let ca_pem = ca.dir.join("ca.pem");
    for (listener, expect) in [("TLS1", true), ("TLS2", false)] {
        let started = Instant::now();
        let got = served(agent.addr(listener), &ca_pem, &client(&pem, &key));
        let took = started.elapsed();
        assert_eq!(got, expect, "{listener}: {}", agent.log_text());
        assert!(took < Duration::from_secs(5), "{listener}: the handshake took {took:?}");
        assert!(took >= Duration::from_millis(1500), "{listener}: no wait for the responder ({took:?})");
    }
    let log = agent.log_text();
    assert!(log.contains("OcspResponseTimeout"), "{log}");
    assert!(!log.contains("rc=431"), "{log}");
    drop(held);
}

#[test]
fn a_response_signed_by_another_key_is_not_trusted_and_one_by_a_delegated_responder_is() {
    let setup = AgentSetup::new("ocsp-signers");
    let (stranger_port, delegate_port) = (free_port(), free_port());
    let ca = Ca::new(setup.dir().join("ca"), "attls OCSP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring, &[]);
    let (a_pem, a_key) = ca.issue_with("a", &[&aia(stranger_port)]);
    let (b_pem, b_key) = ca.issue_with("b", &[&aia(delegate_port)]);
    let (delegate_pem, delegate_key) = ca.issue_responder("responder");
    ca.revoke("a");
    ca.revoke("b");
    // Same name as the CA, another key.
    let stranger = Ca::new(setup.dir().join("stranger"), "attls OCSP test CA");
    let _forged = ca.responder(stranger_port, &stranger.dir.join("ca.pem"), &stranger.dir.join("ca.key"));
    let _delegated = ca.responder(delegate_port, &delegate_pem, &delegate_key);
    let backend = Backend::echo();
    let listeners: [(&str, &str, &[&str]); 2] = [("TLS1", "Medium", AIA_ON), ("TLS2", "High", AIA_ON)];
    let agent = agent(setup, "ServerWithClientAuth", &ring, &listeners, &backend);
    let ca_pem = ca.dir.join("ca.pem");
    assert!(
        served(agent.addr("TLS1"), &ca_pem, &client(&a_pem, &a_key)),
        "Medium: a forged answer is unknown"
    );
    assert!(!served(agent.addr("TLS2"), &ca_pem, &client(&a_pem, &a_key)), "High: unknown is refused");
    let log = agent.log_text();
    assert!(log.contains("signed neither by the issuer nor by a responder it authorised"), "{log}");
    assert!(!log.contains("rc=431"), "a forged answer revoked: {log}");
    assert!(
        !served(agent.addr("TLS1"), &ca_pem, &client(&b_pem, &b_key)),
        "the delegated responder's revocation"
    );
    assert!(agent.log_text().contains("rc=431"), "{}", agent.log_text());
}

/// A line through an outbound listener: what came back.
fn reply(agent: &AgentProc, listener: &str) -> Vec<u8> {
    let mut s = tcp_connect(agent.addr(listener));
    let _ = s.write_all(b"abc\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Ok(n) = s.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
        if n == 0 || got.ends_with(b"\n") {
            break;
        }
    }
    got
}

#[test]
fn the_client_role_refuses_a_server_certificate_its_responder_revokes() {
    let setup = AgentSetup::new("ocsp-client-role");
    let port = free_port();
    let ca = Ca::new(setup.dir().join("ca"), "attls OCSP test CA");
    let (good_pem, good_key) = ca.issue_with("good-server", &[&aia(port)]);
    let (bad_pem, bad_key) = ca.issue_with("bad-server", &[&aia(port)]);
    ca.revoke("bad-server");
    let ca_pem = ca.dir.join("ca.pem");
    let _responder = ca.responder(port, &ca_pem, &ca.dir.join("ca.key"));
    let ring = setup.dir().join("ring");
    ring_with(&ring, &[(&ca_pem, "ca.pem")]);
    let (_good, good_port) = s_server_rev_with(&good_pem, &good_key, &[]);
    let (_bad, bad_port) = s_server_rev_with(&bad_pem, &bad_key, &[]);
    let body = env("Client", &ring, "Medium", AIA_ON);
    let rules = policy::tls_rule("out~1", "OUT1", "Outbound", "", &body)
        + &policy::tls_rule("out~2", "OUT2", "Outbound", "", &body);
    let agent = setup
        .listener("OUT1", format!("localhost:{good_port}"), "Outbound")
        .listener("OUT2", format!("localhost:{bad_port}"), "Outbound")
        .policy(&rules)
        .start();
    assert_eq!(reply(&agent, "OUT1"), b"cba\n", "the good server: {}", agent.log_text());
    assert!(reply(&agent, "OUT2").is_empty(), "data reached a revoked server");
    assert!(agent.log_text().contains("rc=431"), "{}", agent.log_text());
}

#[test]
fn a_server_staples_its_ocsp_response_and_s_client_sees_it() {
    let setup = AgentSetup::new("ocsp-stapling");
    let port = free_port();
    let ca = Ca::new(setup.dir().join("ca"), "attls OCSP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring, &[&aia(port)]);
    let ca_pem = ca.dir.join("ca.pem");
    let _responder = ca.responder(port, &ca_pem, &ca.dir.join("ca.key"));
    let backend = Backend::echo();
    let lines: &[&str] = &["OcspAiaEnable On", "OcspServerStapling On"];
    let agent = agent(setup, "Server", &ring, &[("TLS1", "Medium", lines)], &backend);
    let addr = agent.addr("TLS1");
    let mut seen = String::new();
    let stapled = eventually(Duration::from_secs(10), || {
        let mut cmd = std::process::Command::new("openssl");
        cmd.args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
            "-status",
            "-CAfile",
        ])
        .arg(&ca_pem);
        let mut c = Spawned::spawn(cmd);
        c.close_stdin();
        c.wait(Duration::from_secs(5));
        seen = String::from_utf8_lossy(&c.stdout()).into_owned();
        seen.contains("OCSP Response Status: successful") && seen.contains("Cert Status: good")
    });
    assert!(stapled, "no staple seen:\n{seen}\n{}", agent.log_text());
    assert!(agent.log_text().contains("OCSP response stapled"), "{}", agent.log_text());
}
