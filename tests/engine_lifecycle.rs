//! The TLS engine with real parts, beyond the happy path: half-close through the relay, keyring
//! renewal, the Client-role handshake timer, client certificates from another CA, and shutdown
//! (NOPURGE drains, PURGE closes).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::support::agent::peers::{
    Backend, client_config, read_until_closed, round_trip, s_client, tcp_connect, tls_connect,
};
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy, write_atomic};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn half_close_reaches_the_backend_and_its_reply_still_comes_back() {
    let setup = AgentSetup::new("halfclose");
    let pki = setup.pki("pki");
    let backend = Backend::count_after_eof();
    let agent = setup
        .listener_with("CLEAR1", backend.addr(), "Inbound", &["NoPolicy Clear"])
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("half~tls", "TLS1", &pki.server_ring, &[], None))
        .start();

    // Clear: FIN from the client, the backend answers after end of input.
    let mut s = tcp_connect(agent.addr("CLEAR1"));
    s.write_all(b"0123456789").expect("send");
    s.shutdown(Shutdown::Write).expect("half-close");
    let (got, end) = read_until_closed(&mut s);
    assert!(end.is_ok(), "clear: {end:?}");
    assert_eq!(String::from_utf8_lossy(&got), "got 10 bytes\n");

    // TLS: close_notify from the client, then the reply and the agent's close_notify.
    let mut t = tls_connect(agent.addr("TLS1"), &client_config(&pki.ca)).expect("handshake");
    t.write_all(b"0123456789abcdef").expect("send");
    t.conn.send_close_notify();
    t.flush().expect("flush close_notify");
    let mut got = Vec::new();
    let end = t.read_to_end(&mut got);
    assert_eq!(String::from_utf8_lossy(&got), "got 16 bytes\n", "TLS: {end:?}");
    assert!(end.is_ok(), "TLS: the agent did not end with close_notify: {end:?}");
}

#[test]
fn renewed_keyring_applies_on_refresh_and_live_connections_keep_the_old_certificate() {
    let setup = AgentSetup::new("renew");
    let old = setup.pki("old");
    let new = setup.pki("new");
    let backend = Backend::echo();
    let agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("renew~1", "TLS1", &old.server_ring, &[], None))
        .start();
    let (trust_old, trust_new) = (client_config(&old.ca), client_config(&new.ca));
    let mut live = tls_connect(agent.addr("TLS1"), &trust_old).expect("old certificate");

    install_keyring(&new, &old);
    let out = agent.refresh();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let mut renewed = tls_connect(agent.addr("TLS1"), &trust_new).expect("new certificate after refresh");
    assert_eq!(round_trip(&mut renewed, b"new\n").expect("echo"), b"new\n");
    assert!(tls_connect(agent.addr("TLS1"), &trust_old).is_err(), "the old certificate is still served");
    assert_eq!(round_trip(&mut live, b"old\n").expect("echo"), b"old\n", "the live connection broke");
}

/// Copies `from`'s server keyring files over `into`'s, each by rename (as a certificate tool would).
fn install_keyring(from: &Pki, into: &Pki) {
    for f in ["ca.pem", "server.pem", "server.key"] {
        let text = std::fs::read_to_string(from.server_ring.join(f)).expect("read keyring file");
        write_atomic(&into.server_ring.join(f), &text);
    }
}

#[test]
fn renewed_keyring_is_picked_up_by_file_watching() {
    let setup = AgentSetup::new("renew-watch");
    let old = setup.pki("old");
    let new = setup.pki("new");
    let backend = Backend::echo();
    let rule = policy::server_rule("renew~1", "TLS1", &old.server_ring, &[], None);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&rule).start();
    let file = agent.dir().join("policy.pol");
    agent.wait_for_watcher("TLS1", || write_atomic(&file, &rule));

    install_keyring(&new, &old);
    let trust_new = client_config(&new.ca);
    assert!(
        eventually(WAIT, || tls_connect(agent.addr("TLS1"), &trust_new).is_ok()),
        "the renewed certificate was not picked up:\n{}",
        agent.log_text()
    );
}

#[test]
fn client_role_handshake_timer_closes_when_the_server_never_answers() {
    let setup = AgentSetup::new("hstimer-client");
    let pki = setup.pki("pki");
    let silent = Backend::sink();
    let port = silent.addr().port();
    let env = policy::env("Client", &pki.ca_ring, &["HandshakeTimeout 1"], None);
    let rule = policy::tls_rule("out~silent", "OUT1", "Outbound", &format!("  RemotePortRange {port}"), &env);
    let agent = setup.listener("OUT1", format!("localhost:{port}"), "Outbound").policy(&rule).start();

    let mut s = tcp_connect(agent.addr("OUT1"));
    let start = Instant::now();
    let _ = s.write_all(b"hello in clear\n");
    let (got, end) = read_until_closed(&mut s);
    let took = start.elapsed();
    if let Err(e) = &end {
        assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "still open after {took:?}"
        );
    }
    assert!(got.is_empty(), "{got:?}");
    assert!(took <= Duration::from_secs(3), "closed only after {took:?}");
    let head = silent.head();
    assert_eq!(head.first(), Some(&0x16), "attls sent no ClientHello: {head:?}");
    assert!(!String::from_utf8_lossy(&head).contains("hello in clear"), "plaintext left in clear");
    assert!(agent.log_text().contains("rc=5004"), "{}", agent.log_text());
}

#[test]
fn client_auth_required_refuses_a_certificate_from_another_ca_and_passthru_takes_it() {
    let setup = AgentSetup::new("mtls-foreign");
    let pki = setup.pki("pki");
    let foreign = setup.pki("foreign");
    let backend = Backend::echo();
    let env = |auth: &str| {
        policy::env("ServerWithClientAuth", &pki.server_ring, &[&format!("ClientAuthType {auth}")], None)
    };
    let agent = setup
        .listener("REQ1", backend.addr(), "Inbound")
        .listener("PASS1", backend.addr(), "Inbound")
        .policy(
            &(policy::tls_rule("mtls~req", "REQ1", "Inbound", "", &env("Required"))
                + &policy::tls_rule("mtls~pass", "PASS1", "Inbound", "", &env("PassThru"))),
        )
        .start();
    let cert = foreign.client_pem.to_str().expect("utf-8");
    let key = foreign.client_key.to_str().expect("utf-8");

    let mut refused = s_client(agent.addr("REQ1"), &pki.ca, &["-cert", cert, "-key", key]);
    refused.write(b"foreign\n");
    let ended = eventually(WAIT, || refused.child.try_wait().ok().flatten().is_some());
    refused.close_stdin();
    refused.wait(WAIT);
    assert!(ended, "a certificate from another CA was kept");
    assert!(refused.stdout().is_empty(), "data came back: {:?}", refused.stdout());
    assert_eq!(backend.accepted(), 0);

    let mut passed = s_client(agent.addr("PASS1"), &pki.ca, &["-cert", cert, "-key", key]);
    passed.write(b"passthru\n");
    assert!(
        eventually(WAIT, || passed.stdout().ends_with(b"passthru\n")),
        "PassThru refused an unverified certificate:\n{}",
        passed.stderr()
    );
    passed.close_stdin();
    passed.wait(WAIT);
    assert_eq!(backend.accepted(), 1);
}

/// An agent with a clear listener CLEAR1 (TTLSEnabled Off rule) and one live, echoing connection.
fn agent_with_a_live_connection(
    tag: &str,
    options: &'static str,
) -> (AgentProc, Backend, std::net::TcpStream) {
    let backend = Backend::echo();
    let agent = AgentSetup::new(tag)
        .listener("CLEAR1", backend.addr(), "Inbound")
        .ttls_config_options(options)
        .policy(&policy::off_rule("end~off", "CLEAR1"))
        .start();
    let mut live = tcp_connect(agent.addr("CLEAR1"));
    assert_eq!(round_trip(&mut live, b"before\n").expect("echo"), b"before\n");
    agent.wait_conn(live.local_addr().expect("local"));
    (agent, backend, live)
}

/// SIGTERM, then waits for the agent to log that it is draining.
fn terminate_and_wait_for_drain(agent: &AgentProc) {
    agent.terminate();
    assert!(
        eventually(WAIT, || agent.log_text().contains("draining")),
        "no drain logged:\n{}",
        agent.log_text()
    );
}

#[test]
fn sigterm_under_nopurge_drains_live_connections_then_exits() {
    let (mut agent, _backend, mut live) = agent_with_a_live_connection("drain", "FLUSH NOPURGE");
    terminate_and_wait_for_drain(&agent);
    assert_eq!(round_trip(&mut live, b"during\n").expect("echo while draining"), b"during\n");
    assert!(agent.wait_exit(Duration::from_millis(500)).is_none(), "exited with a live connection");
    drop(live);
    let status = agent.wait_exit(WAIT).expect("the agent exits once drained");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_under_nopurge_accepts_no_new_connections() {
    let (agent, backend, _live) = agent_with_a_live_connection("drain-accept", "FLUSH NOPURGE");
    terminate_and_wait_for_drain(&agent);
    if let Ok(mut late) = std::net::TcpStream::connect(agent.addr("CLEAR1")) {
        let _ = late.set_read_timeout(Some(Duration::from_secs(2)));
        assert!(round_trip(&mut late, b"late\n").is_err(), "a new connection was relayed while draining");
    }
    assert_eq!(backend.accepted(), 1, "a new connection reached the backend while draining");
}

#[test]
fn sigterm_under_purge_closes_live_connections_at_once() {
    let (mut agent, _backend, mut live) = agent_with_a_live_connection("purge", "FLUSH PURGE");
    agent.terminate();
    let (got, end) = read_until_closed(&mut live);
    if let Err(e) = &end {
        assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "the live connection stayed open under PURGE"
        );
    }
    assert!(got.is_empty(), "{got:?}");
    let status = agent.wait_exit(WAIT).expect("the agent exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_under_purge_ends_tls_connections_with_close_notify() {
    let setup = AgentSetup::new("purge-tls");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let mut agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .ttls_config_options("FLUSH PURGE")
        .policy(&policy::server_rule("purge~tls", "TLS1", &pki.server_ring, &[], None))
        .start();
    let mut t = crate::support::agent::peers::tls_connect(
        agent.addr("TLS1"),
        &crate::support::agent::peers::client_config(&pki.ca),
    )
    .expect("handshake");
    assert_eq!(round_trip(&mut t, b"before\n").expect("echo"), b"before\n");
    agent.terminate();
    let mut rest = Vec::new();
    let end = std::io::Read::read_to_end(&mut t, &mut rest);
    assert!(end.is_ok(), "PURGE must end a TLS connection with close_notify, not a cut: {end:?}");
    let status = agent.wait_exit(WAIT).expect("the agent exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_second_sigterm_ends_a_nopurge_drain_at_once() {
    let (mut agent, _backend, live) = agent_with_a_live_connection("drain-twice", "FLUSH NOPURGE");
    terminate_and_wait_for_drain(&agent);
    assert!(agent.wait_exit(Duration::from_millis(500)).is_none(), "exited with a live connection");
    agent.terminate();
    let status = agent.wait_exit(WAIT).expect("the second SIGTERM ends the drain");
    assert!(status.success(), "{status:?}");
    drop(live);
}
