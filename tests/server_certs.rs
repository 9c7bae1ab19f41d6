//! Several server certificates in one environment, with keys made by the openssl CLI:
//! `ServerCertificateLabel` gives each client the first certificate it can verify (RSA beside
//! ECDSA), and `ServerHandshakeSNI` with `ServerHandshakeSNIList` picks a certificate by the name
//! the client sends, refusing a client without one (or with an unlisted one) when told to.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::agent::peers::{Backend, Spawned};
use crate::support::agent::{AgentProc, AgentSetup, policy};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A keyring directory made with openssl: `ca.pem` (an ECDSA CA) and one leaf per `(stem, key, cn)`
/// (`stem.pem` + `stem.key`, so the stem is its label), each with the SAN `localhost` and its CN.
fn keyring(dir: &Path, leaves: &[(&str, &str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=attls test CA",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (stem, key, cn) in leaves {
        let newkey = match *key {
            "rsa" => vec!["-newkey", "rsa:2048"],
            _ => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        };
        let (keyfile, csr, pem) = (format!("{stem}.key"), format!("{stem}.csr"), format!("{stem}.pem"));
        let subject = format!("/CN={cn}");
        let mut req = vec!["req", "-new", "-nodes", "-keyout", &keyfile, "-out", &csr, "-subj", &subject];
        req.extend(newkey);
        openssl(dir, &req);
        let ext = format!("{stem}.ext");
        std::fs::write(
            dir.join(&ext),
            format!("subjectAltName=DNS:localhost,DNS:{cn}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        std::fs::remove_file(dir.join(&csr)).unwrap();
        std::fs::remove_file(dir.join(&ext)).unwrap();
    }
    std::fs::remove_file(dir.join("ca.key")).unwrap();
    let _ = std::fs::remove_file(dir.join("ca.srl"));
}

/// An agent whose server rule's environment has `lines` (certificate choice) beside its keyring.
fn agent(tag: &str, lines: &[&str]) -> (AgentProc, std::path::PathBuf, Backend) {
    let setup = AgentSetup::new(tag);
    let ring = setup.dir().join("ring");
    keyring(
        &ring,
        &[
            ("ecdsa", "ec", "ecdsa.test"),
            ("rsa", "rsa", "rsa.test"),
            ("a", "ec", "a.example"),
            ("b", "rsa", "b.example"),
        ],
    );
    let backend = Backend::echo();
    let mut env = policy::env("Server", &ring, &[], None);
    env.push_str("  TTLSEnvironmentAdvancedParms\n  {\n");
    for l in lines {
        env.push_str(&format!("    {l}\n"));
    }
    env.push_str("  }\n");
    let rule = policy::tls_rule("certs~1", "TLS1", "Inbound", "", &env);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&rule).start();
    (agent, ring, backend)
}

/// The CN of the certificate openssl s_client got, or `None` when the handshake failed.
fn presented(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Option<String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), "-CAfile"]).arg(ca).args(extra);
    let mut c = Spawned::spawn(cmd);
    c.close_stdin();
    c.wait(Duration::from_secs(10));
    let out = String::from_utf8_lossy(&c.stdout()).into_owned();
    let subject = out.lines().find(|l| l.starts_with("subject="))?;
    // `subject=CN = a.example` (OpenSSL 3) or `subject=CN=a.example`.
    subject.rsplit('=').next().map(|cn| cn.trim().to_string())
}

const TWO_CERTS: &[&str] = &["ServerCertificateLabel ecdsa", "ServerCertificateLabel rsa"];

#[test]
fn each_client_gets_the_first_listed_certificate_it_can_verify() {
    let (agent, ring, _b) = agent("certs-by-key-type", TWO_CERTS);
    let (addr, ca) = (agent.addr("TLS1"), ring.join("ca.pem"));
    assert_eq!(presented(addr, &ca, &[]).as_deref(), Some("ecdsa.test"), "a client that takes both");
    let rsa_only = ["-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"];
    assert_eq!(presented(addr, &ca, &rsa_only).as_deref(), Some("rsa.test"), "TLS 1.3, RSA signatures only");
    let tls12_rsa = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"];
    assert_eq!(presented(addr, &ca, &tls12_rsa).as_deref(), Some("rsa.test"), "TLS 1.2, RSA suites only");
    let tls12_ecdsa = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"];
    assert_eq!(
        presented(addr, &ca, &tls12_ecdsa).as_deref(),
        Some("ecdsa.test"),
        "TLS 1.2, ECDSA suites only"
    );
}

#[test]
fn a_listed_server_name_picks_its_certificate_and_others_get_the_default() {
    let lines = [
        TWO_CERTS,
        &[
            "ServerHandshakeSNI Optional",
            "ServerHandshakeSNIList a.example/a",
            "ServerHandshakeSNIList B.Example/b",
        ],
    ]
    .concat();
    let (agent, ring, _b) = agent("certs-sni-optional", &lines);
    let (addr, ca) = (agent.addr("TLS1"), ring.join("ca.pem"));
    assert_eq!(presented(addr, &ca, &["-servername", "a.example"]).as_deref(), Some("a.example"));
    assert_eq!(
        presented(addr, &ca, &["-servername", "b.example"]).as_deref(),
        Some("b.example"),
        "names match in any case"
    );
    assert_eq!(presented(addr, &ca, &["-servername", "other.example"]).as_deref(), Some("ecdsa.test"));
    assert_eq!(presented(addr, &ca, &["-noservername"]).as_deref(), Some("ecdsa.test"));
}

#[test]
fn sni_required_refuses_a_client_without_a_name_and_match_required_an_unlisted_one() {
    let lines = [
        TWO_CERTS,
        &[
            "ServerHandshakeSNI Required",
            "ServerHandshakeSNIMatch Required",
            "ServerHandshakeSNIList a.example/a",
        ],
    ]
    .concat();
    let (agent, ring, backend) = agent("certs-sni-required", &lines);
    let (addr, ca) = (agent.addr("TLS1"), ring.join("ca.pem"));
    assert_eq!(presented(addr, &ca, &["-servername", "a.example"]).as_deref(), Some("a.example"));
    assert_eq!(presented(addr, &ca, &["-noservername"]), None, "no name: refused");
    assert_eq!(presented(addr, &ca, &["-servername", "other.example"]), None, "unlisted name: refused");
    let log = agent.log_text();
    assert!(log.contains("refused: the client sent no server name (ServerHandshakeSNI Required)"), "{log}");
    assert!(
        log.contains("refused: the server name is not in ServerHandshakeSNIList")
            && log.contains("other.example"),
        "{log}"
    );
    assert!(log.contains("handshake failed") && log.contains("rc=5003"), "{log}");
    assert!(backend.accepted() <= 1, "a refused client reached the backend");
}

#[test]
fn a_server_name_list_entry_without_a_label_is_an_error_at_check() {
    let setup = AgentSetup::new("certs-sni-bad");
    let ring = setup.dir().join("ring");
    keyring(&ring, &[("ecdsa", "ec", "ecdsa.test")]);
    let env = policy::env("Server", &ring, &[], None)
        + "  TTLSEnvironmentAdvancedParms\n  {\n    ServerHandshakeSNI Optional\n    ServerHandshakeSNIList a.example\n  }\n";
    let rule = policy::tls_rule("certs~1", "TLS1", "Inbound", "", &env);
    let pol = setup.dir().join("p.pol");
    std::fs::write(&pol, rule).unwrap();
    let conf = setup.dir().join("c.conf");
    let text = format!(
        "TTLSConfig {}\nListener TLS1\n{{\n  Listen 127.0.0.1:0\n  Direction Inbound\n  Backend 127.0.0.1:9\n}}\n",
        pol.display()
    );
    std::fs::write(&conf, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["check", "-c"])
        .arg(&conf)
        .arg(&pol)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("ServerHandshakeSNIList `a.example`: expected NAME/LABEL"),
        "{said}"
    );
}
