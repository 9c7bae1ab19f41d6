//! Certificate revocation lists in the keyring, made with `openssl ca`: a revoked client certificate
//! is refused (return code 431) and a good one served; a CRL in DER as a `.crl` file works too;
//! `RevocationSecurityLevel High` refuses a certificate whose issuer has no CRL where Medium serves
//! it; a session taken before the CRL revoked its certificate does not resume after; in the Client
//! role a revoked server certificate is refused.

use std::path::Path;
use std::time::Duration;

use crate::support::agent::peers::{Backend, s_server_rev_with, tcp_connect};
use crate::support::agent::{AgentProc, AgentSetup, policy, write_atomic};
use crate::support::openssl_ca::{Ca, client, openssl, ring_with, served};

/// A ServerWithClientAuth agent for listener TLS1 with keyring `ring` and extra GSK lines.
fn agent(setup: AgentSetup, ring: &Path, gsk: &[&str], backend: &Backend) -> AgentProc {
    let mut env = policy::env("ServerWithClientAuth", ring, &[], None);
    if !gsk.is_empty() {
        env.push_str(&format!("  TTLSGskAdvancedParms\n  {{\n    {}\n  }}\n", gsk.join("\n    ")));
    }
    let rule = policy::tls_rule("crl~1", "TLS1", "Inbound", "", &env);
    setup.listener("TLS1", backend.addr(), "Inbound").policy(&rule).start()
}

#[test]
fn a_revoked_client_certificate_is_refused_with_431_and_a_good_one_served() {
    let setup = AgentSetup::new("crl-client-certs");
    let ca = Ca::new(setup.dir().join("ca"), "attls CRL test CA");
    let (server_pem, server_key) = ca.issue("server");
    let (good_pem, good_key) = ca.issue("good");
    let (bad_pem, bad_key) = ca.issue("bad");
    ca.revoke("bad");
    ca.crl();
    let ring = setup.dir().join("ring");
    let ca_pem = ca.dir.join("ca.pem");
    ring_with(&ring, &[(&server_pem, "server.pem"), (&server_key, "server.key"), (&ca_pem, "ca.pem")]);
    // The CRL in DER, as a .crl file.
    openssl(&ca.dir, &["crl", "-in", "crl.pem", "-outform", "DER", "-out", "issuer.crl"]);
    ring_with(&ring, &[(&ca.dir.join("issuer.crl"), "issuer.crl")]);
    let backend = Backend::echo();
    let agent = agent(setup, &ring, &[], &backend);
    let addr = agent.addr("TLS1");
    assert!(served(addr, &ca_pem, &client(&good_pem, &good_key)), "the good client was refused");
    assert!(!served(addr, &ca_pem, &client(&bad_pem, &bad_key)), "the revoked client was served");
    let log = agent.log_text();
    assert!(log.contains("rc=431"), "{log}");
}

#[test]
fn high_refuses_a_certificate_whose_issuer_has_no_crl_where_medium_serves_it() {
    for (level, expect) in [("Medium", true), ("High", false)] {
        let setup = AgentSetup::new(&format!("crl-level-{level}").to_lowercase());
        let ca = Ca::new(setup.dir().join("ca"), "attls CRL test CA");
        let other = Ca::new(setup.dir().join("other"), "attls CA without a CRL");
        let (server_pem, server_key) = ca.issue("server");
        let (stranger_pem, stranger_key) = other.issue("stranger");
        let (good_pem, good_key) = ca.issue("good");
        let crl = ca.crl();
        let ring = setup.dir().join("ring");
        let (ca_pem, other_pem) = (ca.dir.join("ca.pem"), other.dir.join("ca.pem"));
        ring_with(&ring, &[(&server_pem, "server.pem"), (&server_key, "server.key"), (&ca_pem, "ca.pem")]);
        ring_with(&ring, &[(&other_pem, "other-ca.pem")]);
        std::fs::write(ring.join("ca-crl.pem"), crl).unwrap();
        let backend = Backend::echo();
        let line = format!("RevocationSecurityLevel {level}");
        let agent = agent(setup, &ring, &[&line], &backend);
        let addr = agent.addr("TLS1");
        assert!(
            served(addr, &ca_pem, &client(&good_pem, &good_key)),
            "{level}: a client with a CRL'd issuer"
        );
        let got = served(addr, &ca_pem, &client(&stranger_pem, &stranger_key));
        assert_eq!(got, expect, "{level}: a client whose issuer has no CRL");
    }
}

#[test]
fn a_session_taken_before_its_certificate_was_revoked_does_not_resume_after() {
    let setup = AgentSetup::new("crl-session");
    let ca = Ca::new(setup.dir().join("ca"), "attls CRL test CA");
    let (server_pem, server_key) = ca.issue("server");
    let (soon_pem, soon_key) = ca.issue("soon");
    let ring = setup.dir().join("ring");
    let ca_pem = ca.dir.join("ca.pem");
    ring_with(&ring, &[(&server_pem, "server.pem"), (&server_key, "server.key"), (&ca_pem, "ca.pem")]);
    std::fs::write(ring.join("crl.pem"), ca.crl()).unwrap();
    let backend = Backend::echo();
    let agent = agent(setup, &ring, &[], &backend);
    let addr = agent.addr("TLS1");
    let sess = agent.dir().join("soon.sess");
    let sess_out = [client(&soon_pem, &soon_key).as_slice(), &["-sess_out", sess.to_str().unwrap()]].concat();
    assert!(served(addr, &ca_pem, &sess_out), "before the revocation");
    ca.revoke("soon");
    write_atomic(&ring.join("crl.pem"), &ca.crl());
    let out = agent.refresh();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sess_in = [client(&soon_pem, &soon_key).as_slice(), &["-sess_in", sess.to_str().unwrap()]].concat();
    assert!(!served(addr, &ca_pem, &sess_in), "the revoked client resumed its old session");
}

#[test]
fn the_client_role_refuses_a_revoked_server_certificate() {
    let setup = AgentSetup::new("crl-client-role");
    let ca = Ca::new(setup.dir().join("ca"), "attls CRL test CA");
    let (good_pem, good_key) = ca.issue("good-server");
    let (bad_pem, bad_key) = ca.issue("bad-server");
    ca.revoke("bad-server");
    let ring = setup.dir().join("ring");
    ring_with(&ring, &[(&ca.dir.join("ca.pem"), "ca.pem")]);
    std::fs::write(ring.join("crl.pem"), ca.crl()).unwrap();
    let (_good, good_port) = s_server_rev_with(&good_pem, &good_key, &[]);
    let (_bad, bad_port) = s_server_rev_with(&bad_pem, &bad_key, &[]);
    let env = policy::env("Client", &ring, &[], None);
    let rule = policy::tls_rule("out~crl", "OUT1", "Outbound", "", &env);
    let agent = setup
        .listener("OUT1", format!("localhost:{good_port}"), "Outbound")
        .listener("OUT2", format!("localhost:{bad_port}"), "Outbound")
        .policy(&(rule + &policy::tls_rule("out~crl2", "OUT2", "Outbound", "", &env)))
        .start();
    let reply = |listener: &str| {
        use std::io::{Read, Write};
        let mut s = tcp_connect(agent.addr(listener));
        let _ = s.write_all(b"abc\n");
        let mut got = Vec::new();
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 16];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || got.ends_with(b"\n") {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.ends_with(b"\n") {
                break;
            }
        }
        got
    };
    assert_eq!(reply("OUT1"), b"cba\n", "the good server");
    assert!(reply("OUT2").is_empty(), "data reached a revoked server");
    assert!(agent.log_text().contains("rc=431"), "{}", agent.log_text());
}
