//! The TN3270 helper through the agent, with real parts: s3270 as the terminal, Hercules's console
//! port and a TN3270E test server as the unmodified plaintext TN3270 servers, and
//! `openssl s_client -starttls telnet` for the raw sequence. Each ConnType
//! (docs/policy-reference.md#tn3270-helper): the screen text arrives, refusals close or fall back
//! as specified, and netstat says how each connection went secure or why it stayed clear.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::agent::peers::s_client;
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy};
use crate::support::tn3270::hercules::LOGO_TEXT;
use crate::support::tn3270::server::SCREEN_TEXT;
use crate::support::tn3270::{Hercules, Mode, S3270, Tn3270eServer, WaitFor};

const WAIT: Duration = Duration::from_secs(10);

/// An agent with listener TN1 (`Protocol Tn3270` plus `extra`) in front of `backend`, under an
/// application-controlled server rule (z/OS TTLSPORT) with the extra advanced parms `parms`.
fn tn_agent(tag: &str, backend: SocketAddr, extra: &[&str], parms: &[&str]) -> (AgentProc, Pki) {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let mut all = vec!["ApplicationControlled On"];
    all.extend_from_slice(parms);
    let rule = policy::server_rule("tn~3270", "TN1", &pki.server_ring, &all, None);
    let mut lines = vec!["Protocol Tn3270", "StartTlsWait 1"];
    lines.extend_from_slice(extra);
    let agent = setup.listener_with("TN1", backend, "Inbound", &lines).policy(&rule).start();
    (agent, pki)
}

/// The `secured_how` netstat reports for the one connection that went through (it may be gone
/// already: then the log line says it).
fn secured_how(agent: &AgentProc) -> String {
    let mut how = String::new();
    eventually(WAIT, || {
        how = agent
            .connections()
            .first()
            .and_then(|c| c["secured_how"].as_str().map(String::from))
            .unwrap_or_default();
        !how.is_empty()
    });
    how
}

#[test]
fn secure_offers_start_tls_to_s3270_and_the_tn3270e_screen_arrives_inside_tls() {
    let server = Tn3270eServer::start();
    let (agent, pki) = tn_agent("tn-secure", server.addr(), &[], &[]);
    let s3270 = S3270::tls(&pki.ca).wait_for(WaitFor::InputField).arg("-xrm").arg("s3270.reconnect: false");
    let run = s3270.run(agent.addr("TN1").port());
    run.expect_screen(SCREEN_TEXT).expect_screen("NEGOTIATED TN3270E");
    assert_eq!(
        (run.tls.as_str(), run.state.as_str()),
        ("secure host-verified", "connected-tn3270e"),
        "{run}"
    );
    let s = server.wait_screen(0, WAIT).expect("the server sent its screen");
    assert_eq!(s.mode, Mode::Tn3270e, "the server's own TN3270E negotiation ran inside TLS: {s:?}");
    assert!(agent.log_text().contains("how=\"Negotiated\""), "{}", agent.log_text());
}

#[test]
fn direct_tls_from_s3270_gets_the_hercules_logo() {
    let herc = Hercules::start();
    let (agent, pki) = tn_agent("tn-direct", herc.addr(), &[], &[]);
    let run = S3270::tls(&pki.ca).prefix("L:").wait_for(WaitFor::Output).run(agent.addr("TN1").port());
    run.expect_screen(LOGO_TEXT);
    assert!(run.secure(), "{run}");
    assert!(agent.log_text().contains("how=\"Direct\""), "{}", agent.log_text());
}

#[test]
fn negtsecure_offers_at_once_and_openssl_sees_the_server_start_over_inside_tls() {
    let server = Tn3270eServer::start();
    let (agent, pki) = tn_agent("tn-negt", server.addr(), &["ConnType NegTSecure", "StartTlsWait 30"], &[]);
    let mut client = s_client(agent.addr("TN1"), &pki.ca, &["-starttls", "telnet"]);
    // Inside TLS the server's first bytes are its own IAC DO TN3270E (FF FD 28).
    let offered = eventually(WAIT, || client.stdout().windows(3).any(|w| w == [0xFF, 0xFD, 0x28]));
    let how = secured_how(&agent);
    let id = agent.connections().first().map(|c| c["conn"].as_str().unwrap_or_default().to_string());
    let detail = id.map(|id| agent.detail(&id)).unwrap_or_default();
    client.close_stdin();
    client.wait(WAIT);
    assert!(offered, "no TN3270E offer inside TLS; stderr:\n{}", client.stderr());
    assert!(client.stderr().contains("Verification: OK"), "{}", client.stderr());
    assert_eq!(how, "Negotiated");
    assert!(detail.contains("Secured:       Negotiated"), "{detail}");
}

#[test]
fn refusing_clients_are_closed_under_secure_and_carry_on_in_clear_under_any() {
    let server = Tn3270eServer::start();
    let refuse = |s: S3270| s.arg("-xrm").arg("s3270.startTls: false").timeout(Duration::from_secs(8));
    let (agent, pki) = tn_agent("tn-refuse", server.addr(), &[], &[]);
    let run = refuse(S3270::tls(&pki.ca)).run(agent.addr("TN1").port());
    assert!(!run.connected, "a client refusing START_TLS under Secure got through: {run}");
    assert!(server.sessions().is_empty(), "the backend was opened for a refused client");
    assert!(agent.log_text().contains("refused START_TLS"), "{}", agent.log_text());

    let (agent, pki) = tn_agent("tn-any", server.addr(), &["ConnType Any"], &[]);
    let run = refuse(S3270::tls(&pki.ca)).wait_for(WaitFor::InputField).run(agent.addr("TN1").port());
    run.expect_screen(SCREEN_TEXT);
    assert_eq!(run.tls, "not secure", "{run}");
    // By hand, to read netstat while the refusing client is still connected.
    let mut raw = std::net::TcpStream::connect(agent.addr("TN1")).expect("connect");
    raw.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut got = [0u8; 3];
    raw.read_exact(&mut got).expect("the offer");
    assert_eq!(got, [0xFF, 0xFD, 0x2E], "IAC DO START_TLS after StartTlsWait");
    raw.write_all(&[0xFF, 0xFC, 0x2E]).expect("IAC WONT START_TLS");
    raw.read_exact(&mut got).expect("the server's own negotiation, in clear");
    assert_eq!(got, [0xFF, 0xFD, 0x28], "IAC DO TN3270E from the unmodified server");
    let conn =
        agent.connections().into_iter().find(|c| c["secured_how"].is_string()).expect("the connection");
    let how = conn["secured_how"].as_str().unwrap_or_default();
    assert!(how.starts_with("Clear: ") && how.contains("WONT"), "{how}");
    let detail = agent.detail(conn["conn"].as_str().unwrap_or_default());
    assert!(detail.contains("Secured:       Clear: "), "{detail}");
}

#[test]
fn basic_is_clear_at_once_and_none_is_refused() {
    let server = Tn3270eServer::start();
    let (agent, _pki) = tn_agent("tn-basic", server.addr(), &["ConnType Basic"], &[]);
    let run = S3270::new().wait_for(WaitFor::InputField).run(agent.addr("TN1").port());
    run.expect_screen(SCREEN_TEXT);
    assert_eq!(run.tls, "not secure", "{run}");
    let (agent, pki) = tn_agent("tn-none", server.addr(), &["ConnType None"], &[]);
    let run = S3270::tls(&pki.ca).timeout(Duration::from_secs(5)).run(agent.addr("TN1").port());
    assert!(!run.connected || run.connect_error().is_some(), "{run}");
    assert!(agent.log_text().contains("ConnType None"), "{}", agent.log_text());
}

#[test]
fn client_auth_sslcert_closes_a_client_without_a_certificate() {
    let server = Tn3270eServer::start();
    let (agent, pki) = tn_agent("tn-cert", server.addr(), &["ClientAuth SslCert"], &["ClientAuthType Full"]);
    let run = S3270::tls(&pki.ca).timeout(Duration::from_secs(8)).run(agent.addr("TN1").port());
    assert!(!run.screen.contains(SCREEN_TEXT), "{run}");
    assert!(
        eventually(WAIT, || agent.log_text().contains("no validated client certificate")),
        "{}",
        agent.log_text()
    );
    assert!(server.sessions().is_empty(), "the backend was opened without a client certificate");
}

#[test]
fn s3270_negotiates_start_tls_in_front_of_hercules() {
    let herc = Hercules::start();
    let (agent, pki) = tn_agent("tn-herc-starttls", herc.addr(), &[], &[]);
    let run = S3270::tls(&pki.ca).wait_for(WaitFor::Output).run(agent.addr("TN1").port());
    run.expect_screen(LOGO_TEXT);
    assert_eq!(run.tls, "secure host-verified", "{run}");
    assert!(agent.log_text().contains("how=\"Negotiated\""), "{}", agent.log_text());
}

#[test]
fn a_rule_that_is_not_application_controlled_handshakes_at_accept_whatever_conntype_says() {
    // D25: implicit TLS. ConnType Basic would be clear; the ENABLED rule wins.
    let server = Tn3270eServer::start();
    let setup = AgentSetup::new("tn-implicit");
    let pki = setup.pki("pki");
    let rule = policy::server_rule("tn~implicit", "TN1", &pki.server_ring, &[], None);
    let lines = ["Protocol Tn3270", "ConnType Basic"];
    let agent = setup.listener_with("TN1", server.addr(), "Inbound", &lines).policy(&rule).start();
    let run = S3270::tls(&pki.ca).prefix("L:").wait_for(WaitFor::InputField).run(agent.addr("TN1").port());
    run.expect_screen(SCREEN_TEXT);
    assert!(run.secure(), "{run}");
    let plain = S3270::new().timeout(Duration::from_secs(2)).run(agent.addr("TN1").port());
    assert!(!plain.screen.contains(SCREEN_TEXT), "a clear client got the screen: {plain}");
}

#[test]
fn a_client_role_rule_on_a_tn3270_listener_is_refused_not_relayed_in_clear() {
    let server = Tn3270eServer::start();
    let setup = AgentSetup::new("tn-client-role");
    let pki = setup.pki("pki");
    // A TLS rule whose role cannot serve a TN3270 client; ConnType Any used to relay it in clear.
    let env = policy::env("Client", &pki.server_ring, &["ApplicationControlled On"], None);
    let rule = policy::tls_rule("tn~client", "TN1", "Inbound", "", &env);
    let lines = ["Protocol Tn3270", "ConnType Any", "StartTlsWait 1"];
    let agent = setup.listener_with("TN1", server.addr(), "Inbound", &lines).policy(&rule).start();
    let mut c = std::net::TcpStream::connect(agent.addr("TN1")).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut c, &mut got);
    assert!(got.is_empty(), "the server's bytes arrived in clear: {got:?}");
    assert!(agent.log_text().contains("cannot serve a TN3270 client"), "{}", agent.log_text());
}

#[test]
fn check_with_the_configuration_rejects_a_client_role_rule_that_can_match_a_tn3270_listener() {
    let dir = crate::support::agent::TempDir::new("tn-check-role");
    let pki = Pki::write(dir.path(), "pki");
    let env = policy::env("Client", &pki.ca_ring, &[], None);
    let pol = dir.path().join("p.pol");
    std::fs::write(&pol, policy::tls_rule("tn~client", "TN1", "Inbound", "", &env)).expect("policy");
    let conf = dir.path().join("pagent.conf");
    let text = format!(
        "TTLSConfig {}\nControlSocket {}\nListener TN1\n{{\n  Listen 127.0.0.1:0\n  Backend 127.0.0.1:1\n  \
         Direction Inbound\n  Protocol Tn3270\n}}\n",
        pol.display(),
        dir.path().join("ctl.sock").display()
    );
    std::fs::write(&conf, text).expect("config");
    let args = ["check", "-c", conf.to_str().expect("utf-8"), pol.to_str().expect("utf-8")];
    let out = crate::support::pagent(&args);
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TTLSRule tn~client: HandshakeRole Client can match Listener TN1"), "{err}");
    // Without the configuration the policy alone is valid: only the listener makes it wrong.
    let out = crate::support::pagent(&["check", pol.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::stderr(&out));
}
