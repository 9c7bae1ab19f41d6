//! The scenarios (`ATTLS_PEERS_SCENARIO`): which certificate and which TLS every proxy and the
//! client use, and the test PKI each one writes. `tls13-ecdsa` (the default): ECDSA P-256, TLS 1.3,
//! TLS_AES_128_GCM_SHA256, X25519, certificates from `attls::keyring::write_test_pki` (rcgen).
//! `tls12-rsa`, the classic z/OS deployment: RSA-2048, TLS 1.2 only,
//! ECDHE-RSA-AES128-GCM-SHA256 (C02F), X25519; rcgen cannot generate RSA keys with the crate's
//! `ring` backend, so the `openssl` CLI writes that PKI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Tls13Ecdsa,
    Tls12Rsa,
}

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Tls13Ecdsa, Scenario::Tls12Rsa];

    /// The name `ATTLS_PEERS_SCENARIO` selects it by.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Tls13Ecdsa => "tls13-ecdsa",
            Scenario::Tls12Rsa => "tls12-rsa",
        }
    }

    /// Certificate, protocol, cipher suite and group, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Tls13Ecdsa => "ECDSA P-256 certificate, TLS 1.3, TLS_AES_128_GCM_SHA256, X25519",
            Scenario::Tls12Rsa => "RSA-2048 certificate, TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256 (C02F), X25519",
        }
    }

    /// `ATTLS_PEERS_SCENARIO`: one name, or `all`; unset = `tls13-ecdsa`.
    pub fn from_env() -> Result<Vec<Scenario>, String> {
        let v = std::env::var("ATTLS_PEERS_SCENARIO").unwrap_or_default().trim().to_ascii_lowercase();
        match v.as_str() {
            "" => Ok(vec![Scenario::Tls13Ecdsa]),
            "all" => Ok(Scenario::ALL.to_vec()),
            name => Scenario::ALL.into_iter().find(|s| s.name() == name).map(|s| vec![s]).ok_or_else(|| {
                format!("ATTLS_PEERS_SCENARIO={name}: expected tls13-ecdsa, tls12-rsa or all")
            }),
        }
    }

    /// Writes `pki/ca.pem` (the client's trust anchor, returned), `pki/server.pem` (leaf, CA) and
    /// `pki/server.key`: the keyring pagent reads and the files stunnel and HAProxy are given.
    /// Anything else (the RSA CA's key) goes beside `pki`, never in it: pagent would pair a key
    /// with the CA certificate.
    pub fn write_pki(self, pki: &Path) -> Result<PathBuf, String> {
        match self {
            Scenario::Tls13Ecdsa => attls::keyring::write_test_pki(pki, &[("server", "localhost", false)])
                .map_err(|e| e.to_string()),
            Scenario::Tls12Rsa => write_rsa_pki(pki),
        }
    }
}

/// The `openssl` extensions of the RSA CA and its leaf (CN and SAN localhost, serverAuth).
const OPENSSL_CONF: &str = "[req]\ndistinguished_name = dn\nprompt = no\n\n[dn]\nCN = localhost\n\n\
[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\n\
subjectKeyIdentifier = hash\n\n\
[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost\nsubjectKeyIdentifier = hash\n\
authorityKeyIdentifier = keyid\n";

/// An RSA-2048 test CA and a leaf it signs (SHA-256), with the `openssl` CLI.
fn write_rsa_pki(pki: &Path) -> Result<PathBuf, String> {
    let parent = pki.parent().ok_or("the PKI directory has no parent")?;
    let ca_dir = parent.join("rsa-ca");
    for dir in [pki, ca_dir.as_path()] {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let conf = ca_dir.join("openssl.cnf");
    fs::write(&conf, OPENSSL_CONF).map_err(|e| format!("{}: {e}", conf.display()))?;
    let (ca_pem, ca_key) = (pki.join("ca.pem"), ca_dir.join("ca.key"));
    let (csr, leaf) = (ca_dir.join("server.csr"), ca_dir.join("server.crt"));
    let p = |p: &Path| p.to_string_lossy().into_owned();
    #[rustfmt::skip]
    openssl(&[
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
        "-subj", "/CN=attls test CA (RSA)", "-config", &p(&conf), "-extensions", "ca",
        "-keyout", &p(&ca_key), "-out", &p(&ca_pem),
    ])?;
    #[rustfmt::skip]
    openssl(&[
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-config", &p(&conf), "-keyout", &p(&pki.join("server.key")), "-out", &p(&csr),
    ])?;
    #[rustfmt::skip]
    openssl(&[
        "x509", "-req", "-in", &p(&csr), "-CA", &p(&ca_pem), "-CAkey", &p(&ca_key),
        "-set_serial", "2", "-days", "30", "-sha256",
        "-extfile", &p(&conf), "-extensions", "leaf", "-out", &p(&leaf),
    ])?;
    let read = |f: &Path| fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()));
    let chain = format!("{}{}", read(&leaf)?, read(&ca_pem)?);
    let server = pki.join("server.pem");
    fs::write(&server, chain).map_err(|e| format!("{}: {e}", server.display()))?;
    Ok(ca_pem)
}

fn openssl(args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run openssl (scripts/bench-peers installs it): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {}: {}", args[..2].join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}
