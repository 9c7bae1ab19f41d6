//! CRLs fetched from HTTP distribution points (`TTLSGskHttpCdpParms`, `HttpCdpEnable On`): leaves
//! made with `openssl ca` name `http://127.0.0.1:PORT/…` in their CRL Distribution Points, served by
//! a loopback HTTP server in the test that counts requests. A revoked client is refused (rc=431)
//! and a good one served, with one fetch for many handshakes; a distribution point that never
//! answers leaves the status unknown within HttpCdpResponseTimeout (Medium serves, High refuses); a
//! CRL signed by another CA (another name, or the same name and another key) revokes nothing; a
//! response larger than HttpCdpMaxResponseSize is not used; in the Client role a revoked server
//! certificate is refused.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::agent::peers::{Backend, s_server_rev_with, tcp_connect};
use crate::support::agent::{AgentProc, AgentSetup, eventually, policy};
use crate::support::openssl_ca::{Ca, client, openssl, ring_with, served};

/// A loopback HTTP/1.1 server: each path's body (404 for others) and how often each was asked
/// for; a silent one accepts connections and never answers.
struct CrlServer {
    addr: SocketAddr,
    bodies: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl CrlServer {
    fn start(silent: bool) -> CrlServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the CRL server");
        let addr = listener.local_addr().unwrap();
        let bodies: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (b, h) = (bodies.clone(), hits.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                if silent {
                    held.push(stream);
                } else {
                    answer(stream, &b, &h);
                }
            }
        });
        CrlServer { addr, bodies, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn serve(&self, path: &str, body: Vec<u8>) {
        self.bodies.lock().unwrap().insert(path.to_string(), body);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn answer(
    mut stream: TcpStream,
    bodies: &Mutex<HashMap<String, Vec<u8>>>,
    hits: &Mutex<HashMap<String, usize>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let reply = match bodies.lock().unwrap().get(&path) {
        Some(body) => {
            let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
            r.extend_from_slice(body);
            r
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&reply);
}

/// The CA's current CRL in DER (as distribution points serve it).
fn crl_der(ca: &Ca) -> Vec<u8> {
    ca.crl();
    openssl(&ca.dir, &["crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der"]);
    std::fs::read(ca.dir.join("crl.der")).unwrap()
}

fn cdp(url: &str) -> String {
    format!("crlDistributionPoints=URI:{url}")
}

/// A keyring directory `ring` with the CA and a server certificate it issued.
fn server_ring(ca: &Ca, ring: &Path) {
    let (pem, key) = ca.issue("server");
    ring_with(ring, &[(&pem, "server.pem"), (&key, "server.key"), (&ca.dir.join("ca.pem"), "ca.pem")]);
}

/// An environment body for `role` with keyring `ring`, `RevocationSecurityLevel level` and the
/// TTLSGskHttpCdpParms lines `cdp` (with `HttpCdpEnable On`).
fn env(role: &str, ring: &Path, level: &str, cdp: &[&str]) -> String {
    let mut env = policy::env(role, ring, &[], None);
    env.push_str(&format!(
        "  TTLSGskAdvancedParms\n  {{\n    RevocationSecurityLevel {level}\n    TTLSGskHttpCdpParms\n    {{\n      HttpCdpEnable On\n{}    }}\n  }}\n",
        cdp.iter().map(|l| format!("      {l}\n")).collect::<String>()
    ));
    env
}

/// A ServerWithClientAuth agent: one listener per (name, level, cdp lines), each with its own rule.
fn agent(
    setup: AgentSetup,
    ring: &Path,
    listeners: &[(&str, &str, &[&str])],
    backend: &Backend,
) -> AgentProc {
    let mut policy_text = String::new();
    let mut setup = setup;
    for (name, level, cdp) in listeners {
        let body = env("ServerWithClientAuth", ring, level, cdp);
        policy_text.push_str(&policy::tls_rule(&format!("cdp~{name}"), name, "Inbound", "", &body));
        setup = setup.listener(name, backend.addr(), "Inbound");
    }
    setup.policy(&policy_text).start()
}

#[test]
fn a_revoked_client_is_refused_and_a_good_one_served_with_one_fetch_for_many_handshakes() {
    let setup = AgentSetup::new("cdp-revoked");
    let http = CrlServer::start(false);
    let url = http.url("/ca.crl");
    let ca = Ca::new(setup.dir().join("ca"), "attls CDP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring);
    let (good_pem, good_key) = ca.issue_with("good", &[&cdp(&url)]);
    let (bad_pem, bad_key) = ca.issue_with("bad", &[&cdp(&url)]);
    ca.revoke("bad");
    http.serve("/ca.crl", crl_der(&ca));
    let backend = Backend::echo();
    let agent = agent(setup, &ring, &[("TLS1", "Medium", &[])], &backend);
    let (addr, ca_pem) = (agent.addr("TLS1"), ca.dir.join("ca.pem"));
    for n in 0..4 {
        assert!(
            served(addr, &ca_pem, &client(&good_pem, &good_key)),
            "handshake {n}: the good client was refused"
        );
    }
    assert!(!served(addr, &ca_pem, &client(&bad_pem, &bad_key)), "the revoked client was served");
    let log = agent.log_text();
    assert!(log.contains("rc=431"), "{log}");
    assert_eq!(http.hits("/ca.crl"), 1, "the CRL was fetched more than once: {log}");
}

#[test]
fn a_distribution_point_that_never_answers_serves_under_medium_and_refuses_under_high_within_the_timeout() {
    let setup = AgentSetup::new("cdp-silent");
    let silent = CrlServer::start(true);
    let ca = Ca::new(setup.dir().join("ca"), "attls CDP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring);
    let (pem, key) = ca.issue_with("client", &[&cdp(&silent.url("/ca.crl"))]);
    let backend = Backend::echo();
    // Different cache sizes: two caches, so each listener waits for a fetch of its own.
    let listeners: [(&str, &str, &[&str]); 2] = [
        ("TLS1", "Medium", &["HttpCdpResponseTimeout 2"]),
        ("TLS2", "High", &["HttpCdpResponseTimeout 2", "HttpCdpCacheSize 31"]),
    ];
    let agent = agent(setup, &ring, &listeners, &backend);
    let ca_pem = ca.dir.join("ca.pem");
    for (listener, expect) in [("TLS1", true), ("TLS2", false)] {
        let started = Instant::now();
        let got = served(agent.addr(listener), &ca_pem, &client(&pem, &key));
        let took = started.elapsed();
        assert_eq!(got, expect, "{listener}: {}", agent.log_text());
        assert!(took < Duration::from_secs(5), "{listener}: the handshake took {took:?}");
        assert!(took >= Duration::from_millis(1500), "{listener}: no wait for the fetch ({took:?})");
    }
    // The failure is remembered: the next handshake does not wait.
    let started = Instant::now();
    assert!(served(agent.addr("TLS1"), &ca_pem, &client(&pem, &key)));
    assert!(started.elapsed() < Duration::from_millis(1500), "waited again: {:?}", started.elapsed());
    let failures = || agent.log_text().matches("CRL distribution point not used").count();
    assert!(eventually(Duration::from_secs(5), || failures() == 2), "{}", agent.log_text());
    assert!(agent.log_text().contains("HttpCdpResponseTimeout"), "{}", agent.log_text());
}

#[test]
fn a_crl_signed_by_another_ca_revokes_nothing() {
    let setup = AgentSetup::new("cdp-forged");
    let http = CrlServer::start(false);
    let ca = Ca::new(setup.dir().join("ca"), "attls CDP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring);
    let (forged_url, other_url) = (http.url("/forged.crl"), http.url("/other.crl"));
    let (a_pem, a_key) = ca.issue_with("a", &[&cdp(&forged_url)]);
    let (b_pem, b_key) = ca.issue_with("b", &[&cdp(&other_url)]);
    // Same issuer name, another key, issuing in the same order: its CRL revokes a's and b's serials.
    let forger = Ca::new(setup.dir().join("forger"), "attls CDP test CA");
    let other = Ca::new(setup.dir().join("other"), "attls another CA");
    for signer in [&forger, &other] {
        signer.issue("server");
        signer.issue("a");
        signer.issue("b");
        signer.revoke("a");
        signer.revoke("b");
    }
    http.serve("/forged.crl", crl_der(&forger));
    http.serve("/other.crl", crl_der(&other));
    let backend = Backend::echo();
    let agent = agent(setup, &ring, &[("TLS1", "Medium", &[])], &backend);
    let (addr, ca_pem) = (agent.addr("TLS1"), ca.dir.join("ca.pem"));
    assert!(served(addr, &ca_pem, &client(&a_pem, &a_key)), "a forged CRL revoked: {}", agent.log_text());
    assert!(served(addr, &ca_pem, &client(&b_pem, &b_key)), "another CA's CRL revoked: {}", agent.log_text());
    let log = agent.log_text();
    assert!(!log.contains("rc=431"), "{log}");
    assert!(log.contains("not a sound CRL of the certificate's issuer"), "{log}");
    assert_eq!((http.hits("/forged.crl"), http.hits("/other.crl")), (1, 1));
}

#[test]
fn a_response_larger_than_http_cdp_max_response_size_is_not_used() {
    let setup = AgentSetup::new("cdp-oversize");
    let http = CrlServer::start(false);
    let url = http.url("/ca.crl");
    let ca = Ca::new(setup.dir().join("ca"), "attls CDP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring);
    let (good_pem, good_key) = ca.issue_with("good", &[&cdp(&url)]);
    let (bad_pem, bad_key) = ca.issue_with("bad", &[&cdp(&url)]);
    ca.revoke("bad");
    let der = crl_der(&ca);
    assert!(der.len() > 100, "the CRL is only {} bytes", der.len());
    http.serve("/ca.crl", der);
    let backend = Backend::echo();
    let limit: &[&str] = &["HttpCdpMaxResponseSize 100"];
    let agent = agent(setup, &ring, &[("TLS1", "Medium", limit), ("TLS2", "High", limit)], &backend);
    let ca_pem = ca.dir.join("ca.pem");
    assert!(served(agent.addr("TLS1"), &ca_pem, &client(&bad_pem, &bad_key)), "Medium: unknown is served");
    assert!(!served(agent.addr("TLS2"), &ca_pem, &client(&good_pem, &good_key)), "High: unknown is refused");
    let log = agent.log_text();
    assert!(log.contains("larger than HttpCdpMaxResponseSize"), "{log}");
    assert!(!log.contains("rc=431"), "{log}");
}

#[test]
fn the_client_role_refuses_a_server_certificate_its_distribution_point_revokes() {
    let setup = AgentSetup::new("cdp-client-role");
    let http = CrlServer::start(false);
    let url = http.url("/ca.crl");
    let ca = Ca::new(setup.dir().join("ca"), "attls CDP test CA");
    let (good_pem, good_key) = ca.issue_with("good-server", &[&cdp(&url)]);
    let (bad_pem, bad_key) = ca.issue_with("bad-server", &[&cdp(&url)]);
    ca.revoke("bad-server");
    http.serve("/ca.crl", crl_der(&ca));
    let ring = setup.dir().join("ring");
    ring_with(&ring, &[(&ca.dir.join("ca.pem"), "ca.pem")]);
    let (_good, good_port) = s_server_rev_with(&good_pem, &good_key, &[]);
    let (_bad, bad_port) = s_server_rev_with(&bad_pem, &bad_key, &[]);
    let body = env("Client", &ring, "Medium", &[]);
    let rules = policy::tls_rule("out~1", "OUT1", "Outbound", "", &body)
        + &policy::tls_rule("out~2", "OUT2", "Outbound", "", &body);
    let agent = setup
        .listener("OUT1", format!("localhost:{good_port}"), "Outbound")
        .listener("OUT2", format!("localhost:{bad_port}"), "Outbound")
        .policy(&rules)
        .start();
    let reply = |listener: &str| {
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
    };
    assert_eq!(reply("OUT1"), b"cba\n", "the good server: {}", agent.log_text());
    assert!(reply("OUT2").is_empty(), "data reached a revoked server");
    assert!(agent.log_text().contains("rc=431"), "{}", agent.log_text());
    assert_eq!(http.hits("/ca.crl"), 1);
}

/// A resumed handshake checks no certificate: a session taken before a fetched CRL revoked its
/// certificate must not resume after the agent has fetched that CRL.
#[test]
fn a_session_taken_before_a_fetched_crl_revoked_its_certificate_does_not_resume() {
    let setup = AgentSetup::new("cdp-session");
    let http = CrlServer::start(false);
    let url = http.url("/ca.crl");
    let ca = Ca::new(setup.dir().join("ca"), "attls CDP test CA");
    let ring = setup.dir().join("ring");
    server_ring(&ca, &ring);
    let (soon_pem, soon_key) = ca.issue_with("soon", &[&cdp(&url)]);
    let (other_pem, other_key) = ca.issue_with("other", &[&cdp(&url)]);
    // A first CRL that revokes nothing and is stale in 3 s.
    let der = |pem: String, ca: &Ca| {
        std::fs::write(ca.dir.join("short.pem"), pem).unwrap();
        openssl(&ca.dir, &["crl", "-in", "short.pem", "-outform", "DER", "-out", "short.der"]);
        std::fs::read(ca.dir.join("short.der")).unwrap()
    };
    http.serve("/ca.crl", der(ca.crl_for(3), &ca));
    let backend = Backend::echo();
    let agent = agent(setup, &ring, &[("TLS1", "Medium", &[])], &backend);
    let (addr, ca_pem) = (agent.addr("TLS1"), ca.dir.join("ca.pem"));
    let sess = agent.dir().join("soon.sess");
    let sess_arg = sess.to_str().unwrap().to_string();
    let with = |flag: &'static str| -> Vec<String> {
        let mut args: Vec<String> = client(&soon_pem, &soon_key).iter().map(|a| a.to_string()).collect();
        args.extend([flag.to_string(), sess_arg.clone()]);
        args
    };
    let run = |args: Vec<String>| served(addr, &ca_pem, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run(with("-sess_out")), "before the revocation");
    assert!(run(with("-sess_in")), "resumed before the revocation");
    ca.revoke("soon");
    http.serve("/ca.crl", der(ca.crl_for(600), &ca));
    std::thread::sleep(Duration::from_millis(3500));
    // Another client's full handshake makes the agent fetch the new CRL.
    assert!(served(addr, &ca_pem, &client(&other_pem, &other_key)), "the other client");
    assert!(eventually(Duration::from_secs(5), || http.hits("/ca.crl") >= 2), "no second fetch");
    assert!(!run(with("-sess_in")), "the revoked client resumed");
    let log = agent.log_text();
    assert!(log.contains("a fetched CRL revokes a certificate it did not before"), "{log}");
}
