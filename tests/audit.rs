//! `AuditLog PATH` (docs/audit.md) through a real agent and real clients: every ended connection is
//! one JSON line whose fields say what a user checks: a TLS 1.3 connection with a client
//! certificate mapped to a user, a TLS 1.2 one and its resumption, a refused handshake and its
//! return code, a clear NO_POLICY connection and a Client-role one, byte counts equal to what the
//! client sent and received, and dates equal to openssl's view of the certificates, the one SNI
//! picked included. The file itself (rotation, bursts) is tested in `audit_files`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use crate::support::agent::peers::{self, Backend, TlsStream, round_trip, tcp_connect, tls_connect};
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy, write_atomic};
use crate::support::openssl_ca::Ca;

const WAIT: Duration = Duration::from_secs(20);

/// The records in `path` so far: every complete line, each parsed (a line that is not JSON fails).
pub fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// The record whose `remote` is `peer`, waiting for it.
pub fn record_of(path: &Path, peer: SocketAddr) -> Value {
    let want = peer.to_string();
    let mut found = None;
    let written = eventually(WAIT, || {
        found = records(path).into_iter().find(|r| r["remote"] == want.as_str());
        found.is_some()
    });
    assert!(written, "no record for {peer} in {}:\n{:?}", path.display(), records(path));
    found.expect("found")
}

/// The notAfter of the first certificate of `pem` as openssl prints it, in RFC 3339.
fn end_date(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(pem)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl x509: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().trim_start_matches("notAfter=").replacen(' ', "T", 1)
}

/// The IANA names of the suites these tests may negotiate.
fn iana(code: u16) -> &'static str {
    match code {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xCCA9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        other => panic!("unexpected suite {other:04X}"),
    }
}

/// A rustls client trusting the test CA, limited to `version`, presenting `cert` (PEM, key).
fn client(
    pki: &Pki,
    version: &'static rustls::SupportedProtocolVersion,
    cert: Option<&(PathBuf, PathBuf)>,
) -> Arc<ClientConfig> {
    let roots = attls::keyring::load(&pki.ca, None).and_then(|k| k.root_store()).expect("client trust");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("versions")
        .with_root_certificates(roots);
    let config = match cert {
        Some((pem, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(pem).expect("PEM file").map(|c| c.expect("PEM")).collect();
            let key = PrivateKeyDer::from_pem_file(key).expect("key file");
            builder.with_client_auth_cert(chain, key).expect("client certificate")
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A client certificate for `CN=client1` that `openssl ca` issues for 2 days (so its notAfter is
/// not the test PKI's), by a CA the server keyring then trusts too.
fn openssl_client_cert(pki: &Pki) -> (PathBuf, PathBuf) {
    let ca = Ca::new(pki.server_ring.parent().expect("pki dir").join("openssl-ca"), "audit client CA");
    std::fs::copy(ca.dir.join("ca.pem"), pki.server_ring.join("clients-ca.pem"))
        .expect("trust the client CA");
    ca.issue("client1")
}

/// Sends `data`, reads the echo, holds the connection `hold`, closes (close_notify); the client's
/// view: its address, suite, group and whether it resumed.
fn tls_session(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    data: &[u8],
    hold: Duration,
) -> (SocketAddr, u16, Option<String>, bool) {
    let mut s: TlsStream = tls_connect(addr, config).expect("handshake");
    assert_eq!(round_trip(&mut s, data).expect("echo"), data);
    std::thread::sleep(hold);
    let suite = u16::from(s.conn.negotiated_cipher_suite().expect("suite").suite());
    // None on a resumed TLS 1.2 handshake (no key exchange).
    let group = s.conn.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name()));
    let resumed = s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let me = s.sock.local_addr().expect("local address");
    s.conn.send_close_notify();
    let _ = s.flush();
    (me, suite, group, resumed)
}

/// The agent of the first test: MTLS (ServerWithClientAuth, SAFCheck, `CN=client1` is alice),
/// WEB (Server), CLEAR (no rule, NoPolicy Clear), OUT (Client role to an openssl s_server).
fn agent(setup: AgentSetup, pki: &Pki, backend: &Backend, out_port: u16) -> (AgentProc, PathBuf) {
    let audit = setup.dir().join("audit.jsonl");
    let map = setup.dir().join("users.map");
    write_atomic(&map, "CN=client1 alice\n");
    let mtls = policy::env("ServerWithClientAuth", &pki.server_ring, &["ClientAuthType SAFCheck"], None);
    let out = policy::env("Client", &pki.ca_ring, &[], None);
    let text = policy::tls_rule("mtls~1", "MTLS", "Inbound", "", &mtls)
        + &policy::server_rule("web~1", "WEB", &pki.server_ring, &[], None)
        + &policy::tls_rule("out~1", "OUT", "Outbound", "", &out);
    let agent = setup
        .main_line(&format!("AuditLog {}", audit.display()))
        .main_line(&format!("CertUserMap {}", map.display()))
        .listener("MTLS", backend.addr(), "Inbound")
        .listener("WEB", backend.addr(), "Inbound")
        .listener_with("CLEAR", backend.addr(), "Inbound", &["NoPolicy Clear"])
        .listener("OUT", format!("localhost:{out_port}"), "Outbound")
        .policy(&text)
        .start();
    (agent, audit)
}

/// The agent of [`records_say_what_each_connection_was`] and what its checks compare with.
struct Scene {
    agent: AgentProc,
    audit: PathBuf,
    pki: Pki,
    client_cert: (PathBuf, PathBuf),
    /// openssl's view of the server's and the client's certificates.
    server_not_after: String,
    client_not_after: String,
    out_port: u16,
}

#[test]
fn records_say_what_each_connection_was() {
    let setup = AgentSetup::new("audit-records");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (_server, out_port) = peers::s_server_rev(&pki.server_pem, &pki.server_key);
    let client_cert = openssl_client_cert(&pki);
    let (agent, audit) = agent(setup, &pki, &backend, out_port);
    let (server_not_after, client_not_after) = (end_date(&pki.server_pem), end_date(&client_cert.0));
    assert_ne!(server_not_after, client_not_after, "dates that tell the certificates apart");
    assert_eq!(std::fs::metadata(&audit).expect("created at start").len(), 0);
    let scene = Scene { agent, audit, pki, client_cert, server_not_after, client_not_after, out_port };
    tls13_with_a_mapped_client_certificate(&scene);
    tls12_and_its_resumption(&scene);
    a_refused_handshake(&scene);
    clear_without_a_rule(&scene);
    client_role(&scene);
    assert_eq!(records(&scene.audit).len(), 6, "one record per connection");
}

fn tls13_with_a_mapped_client_certificate(sc: &Scene) {
    let data = peers::random_bytes(5000, 7);
    let tls13 = client(&sc.pki, &rustls::version::TLS13, Some(&sc.client_cert));
    let addr = sc.agent.addr("MTLS");
    let (me, suite, group, resumed) = tls_session(addr, &tls13, &data, Duration::from_millis(300));
    let r = record_of(&sc.audit, me);
    assert_eq!((r["rule"].as_str(), r["listener"].as_str()), (Some("mtls~1"), Some("MTLS")), "{r}");
    assert_eq!(
        (r["local"].as_str(), r["remote"].as_str()),
        (Some(&*addr.to_string()), Some(&*me.to_string()))
    );
    assert_eq!((r["status"].as_str(), r["protocol"].as_str()), (Some("SECURE"), Some("TLSv1.3")), "{r}");
    assert_eq!((r["cipher"].as_str(), r["key_share"].as_str()), (Some(iana(suite)), group.as_deref()), "{r}");
    assert_eq!((r["resumed"].as_bool(), resumed), (Some(false), false), "{r}");
    let (subject, user) = (r["peer_subject"].as_str(), r["cert_userid"].as_str());
    assert_eq!((subject, user), (Some("CN=client1"), Some("alice")), "{r}");
    assert_eq!(r["peer_not_after"], sc.client_not_after.as_str(), "{r}");
    assert_eq!(r["server_cert_not_after"], sc.server_not_after.as_str(), "{r}");
    assert_eq!((r["bytes_in"].as_u64(), r["bytes_out"].as_u64()), (Some(5000), Some(5000)), "{r}");
    assert_eq!(r["rc"].as_u64(), Some(0), "{r}");
    let ms = r["duration_ms"].as_u64().expect("duration_ms");
    assert!((300..20_000).contains(&ms), "held 300 ms: {r}");
    let conn = r["conn"].as_str().expect("conn");
    assert!(conn.len() == 8 && conn.bytes().all(|b| b.is_ascii_hexdigit()), "{r}");
    assert_eq!((r["helper"].as_str(), r["secured_how"].as_str()), (Some("Raw"), Some("Direct")), "{r}");
}

/// TLS 1.2 without a client certificate, twice: the second resumes.
fn tls12_and_its_resumption(sc: &Scene) {
    let tls12 = client(&sc.pki, &rustls::version::TLS12, None);
    for (round, want_resumed) in [(1, false), (2, true)] {
        let data = format!("tls12 round {round}\n");
        let (me, suite, group, resumed) =
            tls_session(sc.agent.addr("WEB"), &tls12, data.as_bytes(), Duration::ZERO);
        assert_eq!(resumed, want_resumed, "round {round}: the client's view");
        let r = record_of(&sc.audit, me);
        assert_eq!(
            (r["protocol"].as_str(), r["cipher"].as_str()),
            (Some("TLSv1.2"), Some(iana(suite))),
            "{r}"
        );
        assert_eq!(
            (r["key_share"].as_str(), r["resumed"].as_bool()),
            (group.as_deref(), Some(resumed)),
            "{r}"
        );
        for key in ["peer_subject", "peer_not_after", "cert_userid"] {
            assert_eq!(r[key], Value::Null, "{key}: {r}");
        }
        assert_eq!(r["server_cert_not_after"], sc.server_not_after.as_str(), "also when resumed: {r}");
        assert_eq!(r["bytes_in"].as_u64(), Some(data.len() as u64), "{r}");
    }
}

/// No client certificate under SAFCheck: refused, return code 5001.
fn a_refused_handshake(sc: &Scene) {
    let refused = client(&sc.pki, &rustls::version::TLS13, None);
    let mut s = tls_connect(sc.agent.addr("MTLS"), &refused).expect("the client's half of the handshake");
    let me = s.sock.local_addr().expect("local address");
    let mut buf = [0u8; 16];
    assert!(!matches!(s.read(&mut buf), Ok(n) if n > 0), "no data after a refused handshake");
    let r = record_of(&sc.audit, me);
    let outcome = (r["status"].as_str(), r["rc"].as_u64(), r["protocol"].clone());
    assert_eq!(outcome, (Some("NOT_SECURE"), Some(5001), Value::Null), "{r}");
    assert_eq!(r["server_cert_not_after"], sc.server_not_after.as_str(), "presented before the refusal: {r}");
    assert_eq!((r["bytes_in"].as_u64(), r["bytes_out"].as_u64()), (Some(0), Some(0)), "{r}");
}

/// Clear, no rule (NO_POLICY relayed under NoPolicy Clear).
fn clear_without_a_rule(sc: &Scene) {
    let me = clear_once(sc.agent.addr("CLEAR"), b"in the clear\n");
    let r = record_of(&sc.audit, me);
    let outcome = (r["rule"].clone(), r["status"].as_str(), r["rc"].as_u64());
    assert_eq!(outcome, (Value::Null, Some("NOT_SECURE"), Some(0)), "{r}");
    let tls = [
        "protocol",
        "cipher",
        "key_share",
        "resumed",
        "peer_subject",
        "peer_not_after",
        "server_cert_not_after",
    ];
    for key in tls {
        assert_eq!(r[key], Value::Null, "{key}: {r}");
    }
    assert_eq!((r["bytes_in"].as_u64(), r["bytes_out"].as_u64()), (Some(13), Some(13)), "{r}");
}

/// Client role: the peer is the server (its certificate's date); attls presented none as a server.
fn client_role(sc: &Scene) {
    let mut out = tcp_connect(sc.agent.addr("OUT"));
    assert_eq!(round_trip(&mut out, b"abc\n").expect("s_server -rev answers"), b"cba\n");
    drop(out);
    let r = record_of(&sc.audit, SocketAddr::from(([127, 0, 0, 1], sc.out_port)));
    assert_eq!((r["status"].as_str(), r["rule"].as_str()), (Some("SECURE"), Some("out~1")), "{r}");
    let dates = (r["peer_not_after"].as_str(), r["server_cert_not_after"].clone());
    assert_eq!(dates, (Some(sc.server_not_after.as_str()), Value::Null), "{r}");
    assert_eq!((r["bytes_in"].as_u64(), r["bytes_out"].as_u64()), (Some(4), Some(4)), "{r}");
}

/// With `ServerHandshakeSNIList localhost/sni` a client that sends `localhost` gets the `sni`
/// certificate (made by openssl), not the rule's default: the live netstat detail and the record
/// give that one's date.
#[test]
fn the_date_is_that_of_the_certificate_the_handshake_chose() {
    let setup = AgentSetup::new("audit-sni");
    let pki = setup.pki("pki");
    let ca = Ca::new(setup.dir().join("sni-ca"), "audit SNI CA");
    let (pem, key) = ca.issue("localhost");
    std::fs::copy(&pem, pki.server_ring.join("sni.pem")).expect("sni.pem");
    std::fs::copy(&key, pki.server_ring.join("sni.key")).expect("sni.key");
    let trust = setup.dir().join("trust");
    std::fs::create_dir_all(&trust).expect("trust dir");
    std::fs::copy(&pki.ca, trust.join("ca.pem")).expect("test CA");
    std::fs::copy(ca.dir.join("ca.pem"), trust.join("sni-ca.pem")).expect("SNI CA");
    let (want, default) = (end_date(&pem), end_date(&pki.server_pem));
    assert_ne!(want, default, "dates that tell the certificates apart");
    let sni = [
        "ServerCertificateLabel server",
        "ServerHandshakeSNI Optional",
        "ServerHandshakeSNIList localhost/sni",
    ];
    let audit = setup.dir().join("audit.jsonl");
    let backend = Backend::echo();
    let agent = setup
        .main_line(&format!("AuditLog {}", audit.display()))
        .listener("WEB", backend.addr(), "Inbound")
        .policy(&policy::server_rule("web~1", "WEB", &pki.server_ring, &sni, None))
        .start();
    let mut s = tls_connect(agent.addr("WEB"), &peers::client_config(&trust)).expect("handshake");
    assert_eq!(round_trip(&mut s, b"sni\n").expect("echo"), b"sni\n");
    let me = s.sock.local_addr().expect("local address");
    assert_eq!(agent.wait_conn(me)["not_after"], want.as_str(), "netstat while the connection lives");
    drop(s);
    assert_eq!(record_of(&audit, me)["server_cert_not_after"], want.as_str());
}

/// One clear round trip through `addr`; the client's address.
pub fn clear_once(addr: SocketAddr, data: &[u8]) -> SocketAddr {
    let mut s = tcp_connect(addr);
    assert_eq!(round_trip(&mut s, data).expect("echo"), data);
    s.local_addr().expect("local address")
}
