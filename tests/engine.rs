//! The TLS engine with real parts, inbound: `pagent start` in front of plaintext backends written
//! here, reached with openssl s_client, curl and plain TCP. What a user checks: the bytes arrive
//! intact, the policy decides the TLS, netstat shows it, and a failed handshake passes nothing on.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{
    Backend, random_bytes, read_until_closed, round_trip, s_client, tcp_connect,
};
use crate::support::agent::{AgentSetup, eventually, policy};

const MIB: usize = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn openssl_client_gets_1mib_back_intact_over_tls13() {
    let setup = AgentSetup::new("term");
    let pki = setup.pki("pki");
    let backend = Backend::echo_then_close(MIB);
    let agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("term~tls1", "TLS1", &pki.server_ring, &[], None))
        .start();
    let data = random_bytes(MIB, 0x5eed);

    // -ign_eof: keep reading after the input ends; the backend closes after echoing 1 MiB.
    let mut client = s_client(agent.addr("TLS1"), &pki.ca, &["-ign_eof"]);
    client.feed_and_close(data.clone());
    client.wait(Duration::from_secs(30));

    let (back, err) = (client.stdout(), client.stderr());
    assert_eq!(back.len(), data.len(), "bytes back; s_client stderr:\n{err}");
    assert!(back == data, "the 1 MiB came back changed");
    assert!(err.contains("Protocol version: TLSv1.3"), "{err}");
    assert!(err.contains("Verification: OK"), "{err}");
    assert_eq!(backend.accepted(), 1);
    assert_eq!(backend.bytes(), MIB as u64, "the backend saw the plaintext exactly once");
}

#[test]
fn curl_gets_the_plaintext_backends_body_over_https() {
    let setup = AgentSetup::new("curl");
    let pki = setup.pki("pki");
    let body = "hello from the plaintext backend\n";
    let backend = Backend::http(body);
    let agent = setup
        .listener("WEB1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("web~1", "WEB1", &pki.server_ring, &[], None))
        .start();
    let port = agent.addr("WEB1").port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--resolve", &format!("localhost:{port}:127.0.0.1"), "--cacert"])
        .arg(&pki.ca)
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("run curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), body);
    assert!(String::from_utf8_lossy(&backend.head()).starts_with("GET / HTTP/1.1\r\n"));
}

#[test]
fn policy_sets_tls12_and_cipher_and_netstat_reports_the_connection() {
    let setup = AgentSetup::new("tls12");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let rule = "legacy~tls12";
    let agent = setup
        .listener("TLS12", backend.addr(), "Inbound")
        .policy(&policy::server_rule(rule, "TLS12", &pki.server_ring, &["TLSv1.3 Off"], Some("C02B")))
        .start();

    let mut client = s_client(agent.addr("TLS12"), &pki.ca, &[]);
    client.write(b"ping\n");
    assert!(
        eventually(WAIT, || client.stdout().ends_with(b"ping\n")),
        "no echo; s_client stderr:\n{}",
        client.stderr()
    );

    // The list, while the connection is open.
    let text = agent.netstat();
    assert_eq!(
        text.lines().next(),
        Some(
            "ConnID   JobName Local              Remote               TLS        Map       Version Cipher Rule"
        )
    );
    let rows = agent.rows();
    assert_eq!(rows.len(), 1, "{text}");
    let row = &rows[0];
    let local = format!("127.0.0.1..{}", agent.addr("TLS12").port());
    assert_eq!(row[1..3], ["TLS12".to_string(), local], "{text}");
    assert!(row[3].starts_with("127.0.0.1.."), "{text}");
    assert_eq!(row[4..], ["SECURE", "Primary", "TLSv1.2", "C02B", rule], "{text}");
    let id = row[0].clone();
    assert!(id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase()), "{id}");

    // The detail, by the ConnID with leading zeros dropped (`--conn 2C` works).
    let short = id.trim_start_matches('0');
    let detail = agent.detail(short);
    assert!(detail.starts_with(&format!("ConnID: {id}\n")), "{detail}");
    for want in [
        "  SecLevel:      TLS Version 1.2\n",
        "  Cipher:        C02B TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
        "  MapType:       Primary\n",
        &format!("TTLSRule: {rule}\n"),
        "    TLSV1.3:                 Off\n",
        "    HandshakeRole:           Server\n",
    ] {
        assert!(detail.contains(want), "missing {want:?} in:\n{detail}");
    }
    assert!(!detail.contains("KeyShare:"), "KeyShare is for TLS 1.3 only:\n{detail}");

    // JSON, list and detail.
    let conns = agent.connections();
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c["conn"], id.as_str());
    assert_eq!(c["policy_status"], "ENABLED");
    assert_eq!(c["conn_status"], "SECURE");
    assert_eq!(c["map_type"], "Primary");
    assert_eq!(c["tls_version"], "TLSv1.2");
    assert_eq!(c["cipher_code"], "C02B");
    assert_eq!(c["rule"], rule);
    let out = agent.pagent(&["netstat", "--conn", &id, "--detail", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let d: Value = serde_json::from_slice(&out.stdout).expect("detail --json parses");
    assert_eq!(d["conn"], id.as_str());
    assert!(d["rule_detail"].is_object(), "{d}");
    // "ping\n" each way, counted as plaintext.
    assert!(
        eventually(WAIT, || {
            let d = agent.detail(&id);
            d.contains("  BytesIn:       5\n") && d.contains("  BytesOut:      5\n")
        }),
        "{}",
        agent.detail(&id)
    );

    client.close_stdin();
    client.wait(WAIT);
    let err = client.stderr();
    assert!(err.contains("Protocol version: TLSv1.2"), "{err}");
    assert!(err.contains("Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"), "{err}");
    assert!(
        eventually(WAIT, || agent.rows().is_empty()),
        "the closed connection stays listed:\n{}",
        agent.netstat()
    );
}

#[test]
fn no_rule_and_ttlsenabled_off_relay_in_clear_and_netstat_says_so() {
    let setup = AgentSetup::new("clear");
    let backend = Backend::echo();
    let agent = setup
        .listener_with("CLEAR1", backend.addr(), "Inbound", &["NoPolicy Clear"])
        .listener("OFF1", backend.addr(), "Inbound")
        .policy(&policy::off_rule("exempt~off1", "OFF1"))
        .start();

    // (listener, policy status, Map, Rule column, rule in JSON)
    let cases = [
        ("CLEAR1", "NO_POLICY", "none", "-", Value::Null),
        ("OFF1", "NOT_ENABLED", "Primary", "exempt~off1", Value::from("exempt~off1")),
    ];
    let mut open = Vec::new();
    for (listener, status, map, rule_col, rule_json) in cases {
        let mut s = tcp_connect(agent.addr(listener));
        let msg = format!("plain through {listener}\n");
        assert_eq!(round_trip(&mut s, msg.as_bytes()).expect("echo"), msg.as_bytes(), "{listener}");
        let me = s.local_addr().expect("local addr");
        let c = agent.wait_conn(me);
        assert_eq!(c["policy_status"], status, "{listener}: {c}");
        assert_eq!(c["conn_status"], "NOT_SECURE", "{listener}: {c}");
        assert_eq!(c["map_type"], map, "{listener}: {c}");
        assert_eq!(c["rule"], rule_json, "{listener}: {c}");
        let remote = format!("127.0.0.1..{}", me.port());
        let rows = agent.rows();
        let row = rows.iter().find(|r| r[3] == remote).expect("listed in the text too");
        assert_eq!(row[4..], ["NOT_SECURE", map, "-", "-", rule_col], "{listener}: {row:?}");
        open.push(s);
    }
    assert_eq!(backend.accepted(), 2);

    // The same list (header and both connections) through the main configuration, not --socket.
    let config = agent.dir().join("pagent.conf");
    let out = crate::support::pagent(&["netstat", "-c", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::stderr(&out));
    assert_eq!(crate::support::stdout(&out).lines().count(), 3, "{}", crate::support::stdout(&out));
}

#[test]
fn cleartext_to_an_enabled_listener_is_closed_and_never_reaches_the_backend() {
    let setup = AgentSetup::new("d24c");
    let pki = setup.pki("pki");
    let backend = Backend::http("secret\n");
    let agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("d24c~tls1", "TLS1", &pki.server_ring, &[], None))
        .start();

    let mut s = tcp_connect(agent.addr("TLS1"));
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send cleartext");
    let (got, end) = read_until_closed(&mut s);
    if let Err(e) = &end {
        assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "the agent kept the connection open"
        );
    }
    assert!(got.is_empty() || got[0] == 0x15, "only a TLS alert may come back, got {got:?}");
    assert!(!String::from_utf8_lossy(&got).contains("HTTP/"), "the backend answered: {got:?}");
    assert!(eventually(WAIT, || agent.rows().is_empty()), "{}", agent.netstat());
    assert_eq!(backend.accepted(), 0, "D24c: the backend opens only after a handshake");
    assert!(agent.log_text().contains("handshake failed"), "{}", agent.log_text());
}

/// A server rule asking for client certificates (`ClientAuthType` as given).
fn client_auth_agent(
    tag: &str,
    auth: &str,
) -> (crate::support::agent::AgentProc, Backend, crate::support::agent::Pki) {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let env =
        policy::env("ServerWithClientAuth", &pki.server_ring, &[&format!("ClientAuthType {auth}")], None);
    let agent = setup
        .listener("MTLS1", backend.addr(), "Inbound")
        .policy(&policy::tls_rule("mtls~1", "MTLS1", "Inbound", "", &env))
        .start();
    (agent, backend, pki)
}

#[test]
fn client_auth_required_admits_a_certificate_and_refuses_its_absence() {
    let (agent, backend, pki) = client_auth_agent("mtls-req", "Required");
    let (cert, key) = (pki.client_pem.to_str().expect("utf-8"), pki.client_key.to_str().expect("utf-8"));

    let mut with = s_client(agent.addr("MTLS1"), &pki.ca, &["-cert", cert, "-key", key]);
    with.write(b"with a certificate\n");
    assert!(
        eventually(WAIT, || with.stdout().ends_with(b"with a certificate\n")),
        "no echo with a client certificate:\n{}",
        with.stderr()
    );
    let id = agent.rows()[0][0].clone();
    let detail = agent.detail(&id);
    assert!(detail.contains("CN=client1"), "peer subject missing:\n{detail}");
    with.close_stdin();
    with.wait(WAIT);
    assert_eq!(backend.accepted(), 1);

    let mut without = s_client(agent.addr("MTLS1"), &pki.ca, &[]);
    without.write(b"without a certificate\n");
    // The agent ends the connection; s_client exits on its own.
    let ended = eventually(WAIT, || without.child.try_wait().ok().flatten().is_some());
    without.close_stdin();
    without.wait(WAIT);
    assert!(ended, "the connection without a client certificate stayed open");
    assert!(
        !String::from_utf8_lossy(&without.stdout()).contains("without"),
        "data came back without a client certificate"
    );
    assert_eq!(backend.accepted(), 1, "the backend was reached without a client certificate");
    assert!(agent.log_text().contains("rc=5001"), "RC 5001 expected in the log:\n{}", agent.log_text());
}

#[test]
fn client_auth_full_admits_a_client_without_a_certificate() {
    let (agent, backend, pki) = client_auth_agent("mtls-full", "Full");
    let mut client = s_client(agent.addr("MTLS1"), &pki.ca, &[]);
    client.write(b"no certificate, Full\n");
    assert!(
        eventually(WAIT, || client.stdout().ends_with(b"no certificate, Full\n")),
        "no echo under ClientAuthType Full:\n{}",
        client.stderr()
    );
    client.close_stdin();
    client.wait(WAIT);
    assert_eq!(backend.accepted(), 1);
}
