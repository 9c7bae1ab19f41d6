//! Generated keyrings (rcgen, ECDSA P-256): the development keyring written when absent (D10
//! exception), and a small PKI for tests and benches.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::{KeyringError, err};
use super::write::{create_dir, write_atomic};

/// The development keyring (D10 exception): a self-signed CA and a server certificate for
/// localhost, ECDSA P-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevKeyring {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub server_pem: PathBuf,
    pub server_key: PathBuf,
}

/// Serializes generation inside this process (files are published one by one).
static DEV_LOCK: Mutex<()> = Mutex::new(());

/// Writes `ca.pem`, `server.pem` (server then CA) and `server.key` (PKCS#8, 0600) in `dir` (created
/// 0700) unless `server.pem` and `server.key` exist. SANs: DNS localhost, IP 127.0.0.1, IP ::1.
pub fn ensure_dev_keyring(dir: &Path) -> Result<DevKeyring, KeyringError> {
    let dev = DevKeyring {
        dir: dir.to_path_buf(),
        ca_pem: dir.join("ca.pem"),
        server_pem: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    let _guard = DEV_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if dev.server_pem.is_file() && dev.server_key.is_file() {
        return Ok(dev);
    }
    create_dir(dir)?;
    let ca = issue("attls development CA", &[], None, false).map_err(gen_err(dir))?;
    let sans = ["localhost", "127.0.0.1", "::1"];
    let server = issue("localhost", &sans, Some(&ca), false).map_err(gen_err(dir))?;
    write_atomic(&dev.ca_pem, ca.cert.pem().as_bytes(), 0o644)?;
    write_atomic(&dev.server_key, server.key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&dev.server_pem, format!("{}{}", server.cert.pem(), ca.cert.pem()).as_bytes(), 0o644)?;
    Ok(dev)
}

/// Test/bench helper: a CA (`ca.pem`) and, per `(stem, name, client)`, `stem.pem` (leaf then CA)
/// and `stem.key`. `name` is the CN and the DNS (or IP) SAN; `client` makes a clientAuth
/// certificate instead of a serverAuth one. Returns the `ca.pem` path.
pub fn write_test_pki(dir: &Path, names: &[(&str, &str, bool)]) -> Result<PathBuf, KeyringError> {
    create_dir(dir)?;
    let ca = issue("attls test CA", &[], None, false).map_err(gen_err(dir))?;
    let ca_pem = dir.join("ca.pem");
    write_atomic(&ca_pem, ca.cert.pem().as_bytes(), 0o644)?;
    for &(stem, name, client) in names {
        let leaf = issue(name, &[name], Some(&ca), client).map_err(gen_err(dir))?;
        write_atomic(&dir.join(format!("{stem}.key")), leaf.key.serialize_pem().as_bytes(), 0o600)?;
        let chain = format!("{}{}", leaf.cert.pem(), ca.cert.pem());
        write_atomic(&dir.join(format!("{stem}.pem")), chain.as_bytes(), 0o644)?;
    }
    Ok(ca_pem)
}

fn gen_err(dir: &Path) -> impl Fn(rcgen::Error) -> KeyringError + '_ {
    move |e| {
        err(dir, format!("cannot generate certificates: {e}"), "check the names given; else report a bug")
    }
}

/// A generated certificate and its key.
struct Issued {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

/// A CA certificate without `issuer`, else a leaf it signs (serverAuth, or clientAuth if `client`).
fn issue(cn: &str, sans: &[&str], issuer: Option<&Issued>, client: bool) -> Result<Issued, rcgen::Error> {
    use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
    let mut params = rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate()?;
    let cert = match issuer {
        None => {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages = vec![Ku::KeyCertSign, Ku::CrlSign, Ku::DigitalSignature];
            params.self_signed(&key)?
        }
        Some(ca) => {
            params.key_usages = vec![Ku::DigitalSignature];
            params.extended_key_usages = vec![if client { Eku::ClientAuth } else { Eku::ServerAuth }];
            params.use_authority_key_identifier_extension = true;
            params.signed_by(&key, &ca.cert, &ca.key)?
        }
    };
    Ok(Issued { cert, key })
}
