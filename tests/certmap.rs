//! `CertUserMap` (docs/decisions.md D37) through the real agent, with client certificates made by
//! the openssl CLI (a second CA the server keyring trusts) and by the test PKI:
//! - ClientAuthType SAFCheck serves a client whose certificate maps to a user (subject DN, `*`,
//!   SAN e-mail and DNS patterns, first match wins) and reports the user in `pagent netstat --json`,
//!   the detail text, the control `query` and `return_certificate` and the `secure` log line;
//!   an unmapped certificate is refused with rc=5002 and never reaches the backend; Required with
//!   a map reports the user but serves an unmapped certificate;
//! - a bad map line fails `pagent check -c` and `pagent start` naming FILE:LINE, and at a refresh
//!   leaves the generation in force; a corrected map is read at the next refresh, and a change is
//!   picked up by the file watcher; SAFCheck is warned by a bare `pagent check` only;
//! - FTP `SecureLogin VerifyUser`: USER must be the certificate's user (530 otherwise);
//! - TN3270 `ClientAuth SafCert`: an unmapped certificate is closed before the backend opens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{Backend, Spawned, s_client};
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy, write_atomic};
use crate::support::ftp::{FtpServer, Login, Vsftpd, ftplib, ftplib_args};
use crate::support::tn3270::Tn3270eServer;

const WAIT: Duration = Duration::from_secs(10);

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A client CA made with the openssl CLI; the server keyring trusts it too.
struct ClientCa {
    dir: PathBuf,
}

impl ClientCa {
    /// The CA in `PKI/clients`, its certificate copied into the server keyring.
    fn new(pki: &Pki) -> ClientCa {
        let dir = pki.server_ring.parent().expect("pki dir").join("clients");
        std::fs::create_dir_all(&dir).expect("clients dir");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=certmap client CA", "-days", "2"]);
        args.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(&dir, &args);
        std::fs::copy(dir.join("ca.pem"), pki.server_ring.join("clients-ca.pem"))
            .expect("trust the client CA");
        ClientCa { dir }
    }

    /// `NAME.pem` and `NAME.key`: a clientAuth leaf with `subject` (openssl's `/O=…/CN=…`, in
    /// encoding order) and the subjectAltNames `san` (`email:…,DNS:…`), if any.
    fn issue(&self, name: &str, subject: &str, san: Option<&str>) -> (PathBuf, PathBuf) {
        let (key, csr, pem, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let mut args = vec!["req", "-new"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(&self.dir, &args);
        let mut extensions =
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n".to_string();
        if let Some(san) = san {
            extensions.push_str(&format!("subjectAltName={san}\n"));
        }
        std::fs::write(self.dir.join(&ext), extensions).expect("extensions");
        let args = ["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
        let mut all = args.to_vec();
        all.extend(["-days", "2", "-sha256", "-extfile", &ext, "-out", &pem]);
        openssl(&self.dir, &all);
        (self.dir.join(pem), self.dir.join(key))
    }
}

/// The map file every test writes (`DIR/users.map`), named by `CertUserMap` in the configuration.
fn map_path(setup: &AgentSetup) -> PathBuf {
    setup.dir().join("users.map")
}

/// An agent whose listener MTLS (in front of `backend`) asks for client certificates under
/// `ClientAuthType auth`, with `map` as its CertUserMap; Trace 6 logs every `secure` line (a Raw
/// connection's is otherwise at debug level).
fn mtls_agent(setup: AgentSetup, pki: &Pki, auth: &str, backend: &Backend, map: &str) -> AgentProc {
    let path = map_path(&setup);
    write_atomic(&path, map);
    let env =
        policy::env("ServerWithClientAuth", &pki.server_ring, &[&format!("ClientAuthType {auth}")], None);
    setup
        .main_line(&format!("CertUserMap {}", path.display()))
        .listener("MTLS", backend.addr(), "Inbound")
        .policy(
            &policy::tls_rule("mtls~map", "MTLS", "Inbound", "", &env)
                .replace("  TTLSEnabled On\n", "  TTLSEnabled On\n  Trace 6\n"),
        )
        .start()
}

/// s_client with `cert` through MTLS: its line echoed (`true`) or not within `wait`.
fn client(agent: &AgentProc, pki: &Pki, (cert, key): &(PathBuf, PathBuf), wait: Duration) -> (Spawned, bool) {
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let mut c = s_client(agent.addr("MTLS"), &pki.ca, &["-cert", cert, "-key", key]);
    c.write(b"certmap-ping\n");
    let echoed = eventually(wait, || c.stdout().ends_with(b"certmap-ping\n"));
    (c, echoed)
}

fn json_of(agent: &AgentProc, args: &[&str]) -> Value {
    let out = agent.pagent(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

/// The live connection `pagent netstat --json` lists with CertUserID `user`.
fn conn_of(agent: &AgentProc, user: &str) -> Value {
    let mut found = None;
    let listed = eventually(WAIT, || {
        found = agent.connections().into_iter().find(|c| c["cert_user_id"] == user);
        found.is_some()
    });
    assert!(listed, "no connection with cert_user_id {user}:\n{:?}", agent.connections());
    found.expect("found")
}

/// Every report of connection `id` names `user`: query, return_certificate, the detail text and
/// the `secure` log line.
fn reported_everywhere(agent: &AgentProc, id: &str, user: &str) {
    let query = json_of(agent, &["ctl", "--conn", id, "query", "--json"]);
    assert_eq!(query["cert_user_id"], user, "query: {query}");
    let cert = json_of(agent, &["ctl", "--conn", id, "cert", "--json"]);
    assert_eq!(cert["cert_user_id"], user, "return_certificate: {cert}");
    let detail = agent.detail(id);
    let line = detail.lines().find_map(|l| l.trim().strip_prefix("CertUserID:")).map(str::trim);
    assert_eq!(line, Some(user), "{detail}");
    assert!(agent.log_text().contains(&format!("cert_user={user}")), "{}", agent.log_text());
}

fn logged(agent: &AgentProc, text: &str) -> bool {
    eventually(WAIT, || agent.log_text().contains(text))
}

#[test]
fn safcheck_serves_mapped_certificates_and_refuses_an_unmapped_one_with_5002() {
    let setup = AgentSetup::new("certmap-safcheck");
    let pki = setup.pki("pki");
    let ca = ClientCa::new(&pki);
    let alice = ca.issue("alice", "/O=Example/OU=ops/CN=alice", None);
    let bob = ca.issue("bob", "/O=Example/OU=ops/CN=bob", None);
    let carol = ca.issue("carol", "/O=Partner/CN=carol", Some("email:carol@Partner.EXAMPLE"));
    let dave = ca.issue("dave", "/CN=dave", Some("DNS:dave.ops.example.com"));
    let mallory = ca.issue("mallory", "/O=Elsewhere/CN=mallory", Some("DNS:mallory.example.net"));
    let map = "# first match wins\nCN=alice,OU=ops,O=Example alice\nCN=*,OU=ops,O=Example ops   # wildcard\n\
               san:email:*@partner.example partner\nsan:dns:*.ops.example.com opsbot\nCN=alice,* never\n";
    let backend = Backend::echo();
    let agent = mtls_agent(setup, &pki, "SAFCheck", &backend, map);
    for (cert, user) in [(&alice, "alice"), (&bob, "ops"), (&carol, "partner"), (&dave, "opsbot")] {
        let (c, echoed) = client(&agent, &pki, cert, WAIT);
        assert!(echoed, "{user}: no echo: {}\n{}", c.stderr(), agent.log_text());
        let conn = conn_of(&agent, user);
        reported_everywhere(&agent, conn["conn"].as_str().expect("conn id"), user);
    }
    let before = backend.accepted();
    let (c, echoed) = client(&agent, &pki, &mallory, Duration::from_secs(2));
    assert!(logged(&agent, "rc=5002"), "{}", agent.log_text());
    assert!(!echoed, "an unmapped certificate was served: {}", c.stderr());
    let log = agent.log_text();
    assert!(log.contains("no user ID for the certificate"), "{log}");
    assert!(log.contains("CN=mallory,O=Elsewhere") && log.contains("san:dns:mallory.example.net"), "{log}");
    assert_eq!(backend.accepted(), before, "the backend was opened for an unmapped certificate");
}

#[test]
fn required_with_a_map_reports_the_user_and_serves_an_unmapped_certificate() {
    let setup = AgentSetup::new("certmap-required");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let agent = mtls_agent(setup, &pki, "Required", &backend, "CN=nobody-here someone\n");
    let (c, echoed) = client(&agent, &pki, &(pki.client_pem.clone(), pki.client_key.clone()), WAIT);
    assert!(echoed, "Required refuses no certificate for want of a user: {}", c.stderr());
    let conns = agent.connections();
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0]["cert_user_id"], Value::Null);
    assert_eq!(conns[0]["peer_validated"], true);
    assert!(!agent.log_text().contains("rc=5002"), "{}", agent.log_text());
}

/// `pagent start -c CONFIG` that is expected to stop: its exit status and stderr.
fn start_expecting_failure(config: &Path) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagent"));
    cmd.args(["start", "-c"]).arg(config).env("NO_COLOR", "1");
    let mut spawned = Spawned::spawn(cmd);
    let status = spawned.wait(WAIT);
    (status.code(), spawned.stderr())
}

#[test]
fn a_bad_map_line_stops_check_and_start_and_a_refresh_keeps_the_generation_in_force() {
    let setup = AgentSetup::new("certmap-bad");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let client1 = (pki.client_pem.clone(), pki.client_key.clone());
    let agent = mtls_agent(setup, &pki, "SAFCheck", &backend, "CN=client1 first\n");
    let (_c, echoed) = client(&agent, &pki, &client1, WAIT);
    assert!(echoed && conn_of(&agent, "first")["generation"] == 1, "{}", agent.log_text());
    let map = agent.dir().join("users.map");
    write_atomic(&map, "CN=client1 first\nCN=x 9bad\n");
    let refresh = agent.refresh();
    assert!(!refresh.status.success(), "a bad map must not be installed");
    assert!(logged(&agent, "policy not installed"), "{}", agent.log_text());
    assert!(
        agent.log_text().contains("users.map:2:6: error: `9bad` is not a Linux user name"),
        "{}",
        agent.log_text()
    );
    assert_eq!(agent.fresh_mapping("MTLS").1, 1, "the generation in force stays");
    let config = agent.dir().join("pagent.conf");
    let policy_file = agent.dir().join("policy.pol");
    let check = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .arg("check")
        .arg(&policy_file)
        .arg("-c")
        .arg(&config)
        .output()
        .expect("pagent check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("users.map:2:6: error: `9bad` is not a Linux user name"), "{stderr}");
    assert!(stderr.contains("CertUserMap") && stderr.contains("invalid: 1 error(s)"), "{stderr}");
    assert!(!stderr.contains("SAFCheck is enforced as Required"), "with a map SAFCheck is applied: {stderr}");
    let bare =
        Command::new(env!("CARGO_BIN_EXE_pagent")).arg("check").arg(&policy_file).output().expect("check");
    let stderr = String::from_utf8_lossy(&bare.stderr);
    assert!(stderr.contains("SAFCheck is enforced as Required: without a CertUserMap"), "{stderr}");
    // A second agent with the same map does not start.
    let other = agent.dir().join("other.conf");
    let conf = format!(
        "TTLSConfig {}\nControlSocket {}\nCertUserMap {}\nListener X\n{{\n  Listen 127.0.0.1:0\n  Backend {}\n  Direction Inbound\n}}\n",
        policy_file.display(),
        agent.dir().join("other.sock").display(),
        map.display(),
        backend.addr()
    );
    write_atomic(&other, &conf);
    let (code, stderr) = start_expecting_failure(&other);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}: {stderr}");
    assert!(stderr.contains("users.map:2:6: error:"), "{stderr}");
    // Corrected: read at the next refresh; then changed again: seen by the file watcher.
    write_atomic(&map, "CN=client1 second\n");
    assert!(agent.refresh().status.success(), "{}", agent.log_text());
    let (_c, echoed) = client(&agent, &pki, &client1, WAIT);
    assert!(echoed && conn_of(&agent, "second")["generation"].as_u64() > Some(1));
    write_atomic(&map, "CN=client1 third\n");
    let watched = eventually(Duration::from_secs(15), || {
        let (_c, echoed) = client(&agent, &pki, &client1, WAIT);
        echoed && agent.connections().iter().any(|c| c["cert_user_id"] == "third")
    });
    assert!(watched, "the watcher did not reload the changed map:\n{}", agent.log_text());
}

#[test]
fn ftp_verify_user_logs_in_the_certificates_user_only() {
    let server = Vsftpd::start();
    let setup = AgentSetup::new("certmap-ftp");
    let pki = setup.pki("pki");
    let map = map_path(&setup);
    write_atomic(&map, "CN=client1 anonymous\n");
    let advanced = ["ApplicationControlled On", "SecondaryMap On", "ClientAuthType Required"];
    let env = policy::env("ServerWithClientAuth", &pki.server_ring, &advanced, None);
    let rule = policy::tls_rule("ftp~verify", "FTP1", "Inbound", "", &env);
    let agent = setup
        .main_line(&format!("CertUserMap {}", map.display()))
        .listener_with("FTP1", server.addr(), "Inbound", &["Protocol Ftp", "SecureLogin VerifyUser"])
        .policy(&rule)
        .start();
    let (cert, key) = (pki.client_pem.display().to_string(), pki.client_key.display().to_string());
    let run_as = |login: Login| {
        let mut a = ftplib_args(agent.addr("FTP1"), login);
        a.extend(["--tls", "explicit", "--cafile"].map(String::from));
        a.extend([pki.ca.display().to_string(), "--cert".into(), cert.clone(), "--key".into(), key.clone()]);
        a.push("pwd".into());
        ftplib(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run_as(server.login()).assert_ok();
    let run = run_as(Login { user: "bob", password: "secret" });
    assert!(run.stdout.contains("530") && run.stdout.contains("does not map to this user"), "{run}");
    assert!(!server.commands().iter().any(|c| c.starts_with("USER bob")), "{:?}", server.commands());
    // No line for the certificate: 530 and return code 5002 in the log.
    write_atomic(&map, "CN=someone-else anonymous\n");
    assert!(agent.refresh().status.success(), "{}", agent.log_text());
    let run = run_as(server.login());
    assert!(run.stdout.contains("530") && run.stdout.contains("maps to no user ID"), "{run}");
    assert!(logged(&agent, "rc=5002"), "{}", agent.log_text());
}

#[test]
fn tn3270_safcert_closes_an_unmapped_certificate_before_the_backend_opens() {
    let server = Tn3270eServer::start();
    let setup = AgentSetup::new("certmap-tn3270");
    let pki = setup.pki("pki");
    let ca = ClientCa::new(&pki);
    let mallory = ca.issue("mallory", "/CN=mallory", None);
    let map = map_path(&setup);
    write_atomic(&map, "CN=client1 tso1\n");
    let env = policy::env("ServerWithClientAuth", &pki.server_ring, &["ClientAuthType Required"], None);
    let rule = policy::tls_rule("tn~safcert", "TN1", "Inbound", "", &env);
    let agent = setup
        .main_line(&format!("CertUserMap {}", map.display()))
        .listener_with("TN1", server.addr(), "Inbound", &["Protocol Tn3270", "ClientAuth SafCert"])
        .policy(&rule)
        .start();
    let connect = |(cert, key): &(PathBuf, PathBuf)| {
        let args = ["-cert", cert.to_str().expect("utf-8"), "-key", key.to_str().expect("utf-8")];
        s_client(agent.addr("TN1"), &pki.ca, &args)
    };
    let _refused = connect(&mallory);
    assert!(logged(&agent, "rc=5002"), "{}", agent.log_text());
    assert!(agent.log_text().contains("closed: no user ID for the certificate"), "{}", agent.log_text());
    assert!(server.sessions().is_empty(), "the backend was opened for an unmapped certificate");
    let _served = connect(&(pki.client_pem.clone(), pki.client_key.clone()));
    assert!(eventually(WAIT, || server.sessions().len() == 1), "{}", agent.log_text());
    assert_eq!(conn_of(&agent, "tso1")["protocol"], "Tn3270");
}
