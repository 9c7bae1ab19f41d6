//! The TLS engine with real parts, outbound and timers: attls as the TLS client of
//! `openssl s_server` for plaintext local clients, and the handshake timer on inbound connections.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use crate::support::agent::peers::{Backend, read_until_closed, s_server_rev, tcp_connect};
use crate::support::agent::{AgentProc, AgentSetup, Pki, policy};

/// An agent with an outbound listener OUT1 to `openssl s_server -rev` on localhost, whose rule
/// (matched on the server's port) trusts the CA in `trust`.
fn outbound_agent(setup: AgentSetup, port: u16, trust: &Pki) -> AgentProc {
    let env = policy::env("Client", &trust.ca_ring, &[], None);
    let rule = policy::tls_rule("out~rev", "OUT1", "Outbound", &format!("  RemotePortRange {port}"), &env);
    setup.listener("OUT1", format!("localhost:{port}"), "Outbound").policy(&rule).start()
}

#[test]
fn outbound_listener_speaks_tls_to_a_real_server_for_a_plain_client() {
    let setup = AgentSetup::new("outbound");
    let pki = setup.pki("pki");
    let (server, port) = s_server_rev(&pki.server_pem, &pki.server_key);
    let agent = outbound_agent(setup, port, &pki);

    let mut s = tcp_connect(agent.addr("OUT1"));
    s.write_all(b"hello\n").expect("send");
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).expect("read the reply");
    assert_eq!(line, "olleh\n", "s_server output:\n{}", String::from_utf8_lossy(&server.stdout()));

    // Netstat: the remote is the TLS server, the rule is the outbound one, attls is secure.
    let c = agent.wait_conn(format!("127.0.0.1:{port}").parse().expect("addr"));
    assert_eq!(c["conn_status"], "SECURE", "{c}");
    assert_eq!(c["rule"], "out~rev", "{c}");
    assert_eq!(c["policy_status"], "ENABLED", "{c}");
    assert_eq!(c["tls_version"], "TLSv1.3", "{c}");
}

#[test]
fn outbound_to_a_server_the_keyring_does_not_trust_passes_nothing() {
    let setup = AgentSetup::new("outbound-untrusted");
    let pki = setup.pki("pki");
    let stranger = setup.pki("other-ca");
    let (server, port) = s_server_rev(&pki.server_pem, &pki.server_key);
    let agent = outbound_agent(setup, port, &stranger);

    let mut s = tcp_connect(agent.addr("OUT1"));
    // The agent may already have closed the connection: a failed write is the expected outcome too.
    let _ = s.write_all(b"hello\n");
    let (got, end) = read_until_closed(&mut s);
    if let Err(e) = &end {
        assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "the agent kept the connection open"
        );
    }
    assert!(got.is_empty(), "data came back through an unverified server: {got:?}");
    assert!(
        !String::from_utf8_lossy(&server.stdout()).contains("hello"),
        "the plaintext reached the untrusted server"
    );
    assert!(agent.log_text().contains("handshake failed"), "{}", agent.log_text());
}

#[test]
fn handshake_timer_closes_a_silent_client_and_the_backend_is_never_opened() {
    let setup = AgentSetup::new("hstimer");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let policy = policy::server_rule("timer~1s", "TLS1", &pki.server_ring, &["HandshakeTimeout 1"], None)
        + &policy::server_rule("timer~30s", "SLOW1", &pki.server_ring, &["HandshakeTimeout 30"], None);
    let agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .listener("SLOW1", backend.addr(), "Inbound")
        .policy(&policy)
        .start();

    // While the handshake waits, netstat says so.
    let waiting = tcp_connect(agent.addr("SLOW1"));
    let c = agent.wait_conn(waiting.local_addr().expect("local"));
    assert_eq!(c["conn_status"], "HANDSHAKE", "{c}");
    assert_eq!(c["rule"], "timer~30s", "{c}");
    drop(waiting);

    let mut s = tcp_connect(agent.addr("TLS1"));
    let start = Instant::now();
    let (got, end) = read_until_closed(&mut s);
    let took = start.elapsed();
    if let Err(e) = &end {
        assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "still open after {took:?}"
        );
    }
    assert!(got.is_empty(), "{got:?}");
    assert!(took >= Duration::from_millis(800), "closed after {took:?}, before the 1 s timer");
    assert!(took <= Duration::from_secs(3), "closed only after {took:?}");
    assert_eq!(backend.accepted(), 0);
    assert!(agent.log_text().contains("rc=5004"), "RC 5004 expected:\n{}", agent.log_text());
}

#[test]
fn outbound_to_an_ip_checks_ip_sans_unless_host_reference_id_dns_names_the_server() {
    let setup = AgentSetup::new("outbound-d21");
    let pki = setup.pki("pki");
    let (_server, port) = s_server_rev(&pki.server_pem, &pki.server_key);
    // The server's certificate names DNS localhost only.
    let env = |advanced: &[&str]| policy::env("Client", &pki.ca_ring, advanced, None);
    let rule = |name: &str, job: &str, advanced: &[&str]| {
        policy::tls_rule(name, job, "Outbound", &format!("  RemotePortRange {port}"), &env(advanced))
    };
    let agent = setup
        .listener("BYIP1", format!("127.0.0.1:{port}"), "Outbound")
        .listener("NAMED1", format!("127.0.0.1:{port}"), "Outbound")
        .policy(
            &(rule("out~ip", "BYIP1", &[]) + &rule("out~named", "NAMED1", &["HostReferenceIdDNS localhost"])),
        )
        .start();

    let mut named = tcp_connect(agent.addr("NAMED1"));
    named.write_all(b"named\n").expect("send");
    let mut line = String::new();
    BufReader::new(&named).read_line(&mut line).expect("read the reply");
    assert_eq!(line, "deman\n");
    drop(named); // s_server serves one connection at a time

    let mut by_ip = tcp_connect(agent.addr("BYIP1"));
    let _ = by_ip.write_all(b"by ip\n");
    let (got, end) = read_until_closed(&mut by_ip);
    assert!(got.is_empty(), "an IP target passed a certificate without that IP: {got:?}");
    if let Err(e) = &end {
        assert!(!matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    }
    assert!(agent.log_text().contains("not valid for name \"127.0.0.1\""), "{}", agent.log_text());
}

#[test]
fn outbound_application_control_starts_tls_as_client_when_the_local_application_asks() {
    use attls::control::client::AppControl;
    let setup = AgentSetup::new("outbound-applctl");
    let pki = setup.pki("pki");
    let (server, port) = s_server_rev(&pki.server_pem, &pki.server_key);
    let env = policy::env("Client", &pki.ca_ring, &["ApplicationControlled On"], None);
    let rule = policy::tls_rule("out~ctl", "OUT2", "Outbound", &format!("  RemotePortRange {port}"), &env);
    let agent = setup.listener("OUT2", format!("localhost:{port}"), "Outbound").policy(&rule).start();
    let mut s = tcp_connect(agent.addr("OUT2"));
    let lib = AppControl::new(agent.socket());
    let q = lib.query(&s).expect("query");
    assert_eq!(
        (q["policy_status"].as_str(), q["conn_status"].as_str()),
        (Some("APPLCNTRL"), Some("NOT_SECURE"))
    );
    // INIT: attls is the TLS client of the remote server (Client role), checking it with the keyring.
    let reply = lib.init(&s).expect("INIT as TLS client");
    assert_eq!(reply["conn_status"], "SECURE", "{reply}");
    s.write_all(b"hello\n").expect("send");
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).expect("read the reply");
    assert_eq!(line, "olleh\n", "s_server output:\n{}", String::from_utf8_lossy(&server.stdout()));
    let q = lib.query(&s).expect("query");
    assert_eq!(q["protocol"], "TLSv1.3", "{q}");
}
