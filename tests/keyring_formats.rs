//! Key material as z/OS shops have it, used by a running agent: PKCS#12 keyrings (OpenSSL 3
//! defaults, and `-legacy` 3DES/RC2 as RACDCERT writes), PEM keyrings with an encrypted private key
//! (PKCS#8 and the traditional `Proc-Type` form), the password from `KeyringPw` or a
//! `KeyringStashFile`. Material is made with the openssl command in each test; clients are
//! `openssl s_client`. What a user checks: the handshake succeeds and presents the expected
//! certificate, `CertificateLabel` picks a certificate of the .p12, and `pagent check -c` names the
//! file when the password is wrong or the stash file is not private.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::support::agent::peers::{Backend, s_client};
use crate::support::agent::{AgentSetup, TempDir, policy, write_atomic};
use crate::support::{pagent, stderr};

/// The keyring password of every test (a blank in it, as z/OS passwords may have).
const PW: &str = "Sesame 42";

/// Runs `openssl ARGS` in `dir`; panics unless it succeeds. Returns stdout and stderr.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

/// A test CA and, per `(stem, cn)`, `stem.pem` (leaf then CA) and `stem.key` under `dir`.
fn pki(dir: &Path, leaves: &[(&str, &str)]) {
    let names: Vec<(&str, &str, bool)> = leaves.iter().map(|&(stem, cn)| (stem, cn, false)).collect();
    attls::keyring::write_test_pki(dir, &names).unwrap_or_else(|e| panic!("test PKI: {e}"));
}

/// `openssl pkcs12 -export [-legacy] -name STEM -caname ca` of `stem.pem` + `stem.key` into `out`.
fn export_p12(dir: &Path, stem: &str, out: &str, legacy: bool) -> PathBuf {
    let (pem, key, pass) = (format!("{stem}.pem"), format!("{stem}.key"), format!("pass:{PW}"));
    let mut args = vec!["pkcs12", "-export", "-in", &pem, "-inkey", &key, "-name", stem, "-caname", "ca"];
    args.extend(["-passout", &pass, "-out", out]);
    if legacy {
        args.push("-legacy");
    }
    openssl(dir, &args);
    dir.join(out)
}

/// An environment action body: role Server, the `keyring_lines` inside TTLSKeyringParms, and
/// `CertificateLabel label` if given.
fn env(keyring_lines: &[String], label: Option<&str>) -> String {
    let mut s = String::from("  HandshakeRole Server\n  TTLSKeyringParms\n  {\n");
    for line in keyring_lines {
        s.push_str(&format!("    {line}\n"));
    }
    s.push_str("  }\n");
    if let Some(label) = label {
        s.push_str(&format!("  TTLSEnvironmentAdvancedParms\n  {{\n    CertificateLabel {label}\n  }}\n"));
    }
    s
}

/// Connects with `openssl s_client -CAfile ca -brief`, sends a line through the agent to the echo
/// backend and checks it comes back; returns s_client's report (stderr).
fn handshake_through(addr: std::net::SocketAddr, ca: &Path) -> String {
    let mut client = s_client(addr, ca, &["-ign_eof"]);
    client.feed_and_close(b"ping\n".to_vec());
    client.wait(Duration::from_secs(20));
    let report = client.stderr();
    assert_eq!(client.stdout(), b"ping\n", "the line came back through the agent:\n{report}");
    assert!(report.contains("Verification: OK"), "{report}");
    report
}

#[test]
fn a_modern_p12_keyring_with_keyring_pw_serves_openssl_clients() {
    let setup = AgentSetup::new("p12-modern");
    let keys = setup.dir().join("keys");
    pki(&keys, &[("server", "localhost")]);
    let p12 = export_p12(&keys, "server", "server.p12", false);
    let backend = Backend::echo_then_close(5);
    let lines = [format!("Keyring {}", p12.display()), format!("KeyringPw {PW}")];
    let agent = setup
        .listener("P12MOD", backend.addr(), "Inbound")
        .policy(&policy::tls_rule("p12~modern", "P12MOD", "Inbound", "", &env(&lines, None)))
        .start();
    let report = handshake_through(agent.addr("P12MOD"), &keys.join("ca.pem"));
    assert!(report.contains("Peer certificate: CN = localhost"), "{report}");
}

#[test]
fn a_legacy_p12_keyring_with_a_stash_file_serves_openssl_clients() {
    let setup = AgentSetup::new("p12-legacy");
    let keys = setup.dir().join("keys");
    pki(&keys, &[("server", "localhost")]);
    let p12 = export_p12(&keys, "server", "server.pfx", true);
    // The legacy algorithms RACDCERT and older tools use (openssl's own account of the file).
    let pass = format!("pass:{PW}");
    let info =
        openssl(&keys, &["pkcs12", "-in", "server.pfx", "-info", "-noout", "-legacy", "-passin", &pass]);
    assert!(info.contains("RC2") && info.contains("3-KeyTripleDES") && info.contains("sha1"), "{info}");
    // The stash file beside the policy, named relative to it.
    let stash = setup.dir().join("ring.sth");
    std::fs::write(&stash, format!("{PW}\n")).expect("write stash");
    std::fs::set_permissions(&stash, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let backend = Backend::echo_then_close(5);
    let lines = [format!("Keyring {}", p12.display()), "KeyringStashFile ./ring.sth".to_string()];
    let agent = setup
        .listener("P12LEG", backend.addr(), "Inbound")
        .policy(&policy::tls_rule("p12~legacy", "P12LEG", "Inbound", "", &env(&lines, None)))
        .start();
    let report = handshake_through(agent.addr("P12LEG"), &keys.join("ca.pem"));
    assert!(report.contains("Peer certificate: CN = localhost"), "{report}");
}

#[test]
fn pem_keyrings_with_encrypted_private_keys_serve_openssl_clients() {
    let mut setup = AgentSetup::new("pem-encrypted");
    let pass = format!("pass:{PW}");
    // PKCS#8 (`openssl pkcs8 -topk8 -v2 aes-256-cbc`) and traditional (`openssl ec -aes256`).
    let forms: [(&str, &str, &[&str]); 2] = [
        ("P8", "pkcs8.example", &["pkcs8", "-topk8", "-v2", "aes-256-cbc"]),
        ("TRAD", "traditional.example", &["ec", "-aes256"]),
    ];
    let backends: Vec<Backend> = forms.iter().map(|_| Backend::echo_then_close(5)).collect();
    let mut text = String::new();
    for ((job, cn, args), backend) in forms.iter().zip(&backends) {
        let ring = setup.dir().join(job);
        pki(&ring, &[("server", cn)]);
        let mut all = args.to_vec();
        all.extend(["-in", "server.key", "-out", "server.key.enc", "-passout", &pass]);
        openssl(&ring, &all);
        std::fs::rename(ring.join("server.key.enc"), ring.join("server.key")).expect("replace the key");
        let lines = [format!("Keyring {}", ring.display()), format!("KeyringPw {PW}")];
        text.push_str(&policy::tls_rule(&format!("pem~{job}"), job, "Inbound", "", &env(&lines, None)));
        setup = setup.listener(job, backend.addr(), "Inbound");
    }
    let agent = setup.policy(&text).start();
    for (job, cn, _) in forms {
        let key = std::fs::read_to_string(agent.dir().join(job).join("server.key")).expect("key");
        assert!(key.contains("ENCRYPTED"), "{job}: the key on disk is encrypted:\n{key}");
        let report = handshake_through(agent.addr(job), &agent.dir().join(job).join("ca.pem"));
        assert!(report.contains(&format!("Peer certificate: CN = {cn}")), "{job}: {report}");
    }
}

#[test]
fn certificate_label_picks_one_of_two_keyed_certificates_in_a_p12() {
    let setup = AgentSetup::new("p12-label");
    let keys = setup.dir().join("keys");
    pki(&keys, &[("web", "web.example"), ("api", "api.example")]);
    // openssl writes one key per PKCS#12 file; the two go into one as keytool or gskkyman would.
    let mut store = p12_keystore::KeyStore::new();
    for stem in ["web", "api"] {
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_file(keys.join(format!("{stem}.key"))).expect("key");
        let key = p12_keystore::PrivateKey::from_der(key.secret_der()).expect("PKCS#8 key");
        let certs = CertificateDer::pem_file_iter(keys.join(format!("{stem}.pem")))
            .expect("chain")
            .map(|c| p12_keystore::Certificate::from_der(&c.expect("certificate")).expect("X.509"))
            .collect::<Vec<_>>();
        let chain = p12_keystore::PrivateKeyChain::new(stem.as_bytes().to_vec(), key, certs);
        store.add_entry(stem, p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    }
    let p12 = keys.join("both.p12");
    std::fs::write(&p12, store.writer(PW).write().expect("write PKCS#12")).expect("write file");
    let dump = openssl(&keys, &["pkcs12", "-in", "both.p12", "-nodes", "-passin", &format!("pass:{PW}")]);
    assert_eq!(dump.matches("BEGIN PRIVATE KEY").count(), 2, "openssl reads two keys:\n{dump}");

    let (api_backend, web_backend) = (Backend::echo_then_close(5), Backend::echo_then_close(5));
    let lines = [format!("Keyring {}", p12.display()), format!("KeyringPw {PW}")];
    let text = policy::tls_rule("label~api", "API", "Inbound", "", &env(&lines, Some("api")))
        + &policy::tls_rule("label~web", "WEB", "Inbound", "", &env(&lines, Some("web")));
    let agent = setup
        .listener("API", api_backend.addr(), "Inbound")
        .listener("WEB", web_backend.addr(), "Inbound")
        .policy(&text)
        .start();
    let ca = keys.join("ca.pem");
    let report = handshake_through(agent.addr("API"), &ca);
    assert!(report.contains("Peer certificate: CN = api.example"), "CertificateLabel api:\n{report}");
    let report = handshake_through(agent.addr("WEB"), &ca);
    assert!(report.contains("Peer certificate: CN = web.example"), "CertificateLabel web:\n{report}");
}

/// A policy file with one server rule on `keyring_lines`, and a main configuration naming it.
fn check_setup(dir: &Path, keyring_lines: &[String]) -> (PathBuf, PathBuf) {
    let file = dir.join("formats.pol");
    write_atomic(&file, &policy::tls_rule("check~ring", "CHECK", "Inbound", "", &env(keyring_lines, None)));
    let config = dir.join("pagent.conf");
    write_atomic(&config, &format!("TTLSConfig {}\n", file.display()));
    (file, config)
}

/// `FILE:LINE:` of the policy's `Keyring` line.
fn keyring_line(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("policy");
    let n = text.lines().position(|l| l.trim_start().starts_with("Keyring ")).expect("a Keyring line") + 1;
    format!("{}:{n}:", file.display())
}

#[test]
fn check_with_a_config_reports_a_wrong_p12_password_at_the_keyring_line() {
    let dir = TempDir::new("p12-wrong-pw");
    pki(dir.path(), &[("server", "localhost")]);
    let p12 = export_p12(dir.path(), "server", "server.p12", false);
    let ring = format!("Keyring {}", p12.display());
    let (file, config) = check_setup(dir.path(), &[ring.clone(), "KeyringPw not the password".into()]);
    let (f, c) = (file.to_str().expect("utf-8"), config.to_str().expect("utf-8"));
    let out = pagent(&["check", f, "-c", c]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.contains(": error: ")).unwrap_or_else(|| panic!("no error:\n{err}"));
    assert!(line.starts_with(&keyring_line(&file)), "at the Keyring line: {line}");
    assert!(line.contains(&p12.display().to_string()) && line.contains("does not open"), "{line}");

    // The right password: the keyring opens.
    let (file, config) = check_setup(dir.path(), &[ring, format!("KeyringPw {PW}")]);
    let out = pagent(&["check", file.to_str().expect("utf-8"), "-c", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("keyrings: every keyring of an enabled rule opens"), "{}", stderr(&out));
}

#[test]
fn check_with_a_config_refuses_a_stash_file_others_can_read() {
    let dir = TempDir::new("stash-mode");
    pki(dir.path(), &[("server", "localhost")]);
    let p12 = export_p12(dir.path(), "server", "server.p12", true);
    let stash = dir.path().join("server.sth");
    std::fs::write(&stash, format!("{PW}\n")).expect("write stash");
    std::fs::set_permissions(&stash, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let lines = [format!("Keyring {}", p12.display()), format!("KeyringStashFile {}", stash.display())];
    let (file, config) = check_setup(dir.path(), &lines);
    let (f, c) = (file.to_str().expect("utf-8"), config.to_str().expect("utf-8"));
    let out = pagent(&["check", f, "-c", c]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.contains(": error: ")).unwrap_or_else(|| panic!("no error:\n{err}"));
    assert!(line.starts_with(&keyring_line(&file)), "at the Keyring line: {line}");
    assert!(line.contains(&format!("KeyringStashFile {}", stash.display())), "{line}");
    assert!(line.contains("mode 0644") && err.contains(&format!("chmod 600 {}", stash.display())), "{err}");

    std::fs::set_permissions(&stash, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let out = pagent(&["check", f, "-c", c]);
    assert_eq!(out.status.code(), Some(0), "a private stash file opens the keyring: {}", stderr(&out));
}
