//! Keyrings (docs/decisions.md D10, docs/policy-reference.md#ttlskeyringparms): the PEM file, the
//! PKCS#12 file (`.p12`, `.pfx`) or the directory of such files named by `Keyring`, loaded into
//! keyed certificates ([`Identity`], chosen by `CertificateLabel`) and trust anchors; the keyring
//! password (`KeyringPw`, `KeyringStashFile`: [`password_for`]); plus the development keyring
//! generated when absent, and a small PKI generator for tests and benches.
//!
//! Pairing rules: a private key belongs to the certificate chain in its own file (leaf first), else
//! to the certificate file with the same stem (`server.key` + `server.pem`); the key must match the
//! leaf's public key. A label comment (`# label: NAME`) just before a leaf names it, else the file
//! stem does. In a PKCS#12 file each key goes with the certificate it matches, named by its friendly
//! name. Every certificate that is not a keyed leaf is a trust anchor.
//!
//! This file holds the keyring types and [`load`]; the work is in the submodules: `pem` (reading PEM
//! files and directories), `encrypted` (encrypted PEM keys), `pkcs12` (PKCS#12 files), `password`
//! (the password and its stash file), `pairing` (keys to certificates), `select` (labels, trust
//! store), `generate` (development keyring, test PKI), `write` (safe file writing) and `error`.

use std::fs;
use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

mod crl;
mod encrypted;
mod error;
mod generate;
mod pairing;
mod password;
mod pem;
mod pkcs12;
mod select;
mod write;

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod tests;

pub use crl::Crl;
pub use error::KeyringError;
pub use generate::{DevKeyring, ensure_dev_keyring, write_test_pki};
pub use password::password_for;

/// Key type of an identity's private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ecdsa,
    Ed25519,
}

/// One certificate with its private key (a "keyed certificate" in z/OS terms).
#[derive(Debug)]
pub struct Identity {
    /// The `# label:` comment before the leaf (PKCS#12: its friendly name), else the stem of the
    /// leaf's file.
    pub label: String,
    /// Leaf first, then the rest of the leaf's file (intermediates, CA).
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub key_type: KeyType,
    /// Leaf subject as an RFC 4514-like string (`CN=localhost, O=...`).
    pub subject: String,
    /// File the leaf came from.
    pub source: PathBuf,
}

/// A loaded keyring: identities and trust anchors.
#[derive(Debug)]
pub struct Keyring {
    pub path: PathBuf,
    pub identities: Vec<Identity>,
    /// CA certificates (every certificate that is not a keyed leaf): trust anchors for client
    /// authentication (server roles) and for checking servers (client role).
    pub trust: Vec<CertificateDer<'static>>,
    /// Labels of certificates that have no private key, so `identity()` can say so.
    unkeyed: Vec<(String, PathBuf)>,
    /// Certificate revocation lists (`X509 CRL` blocks, `.crl` files).
    pub crls: Vec<Crl>,
}

/// Loads a keyring from a PEM or PKCS#12 file or a directory (see the module doc for the rules);
/// `password` opens encrypted PEM keys and PKCS#12 files.
pub fn load(path: &Path, password: Option<&str>) -> Result<Keyring, KeyringError> {
    let meta = fs::metadata(path).map_err(|e| error::io_err(path, "read", &e))?;
    let files = if meta.is_dir() { pem::list_dir(path)? } else { vec![path.to_path_buf()] };
    let mut parsed = Vec::new();
    for file in &files {
        if crl::is_crl_file(file) {
            continue;
        } else if pkcs12::is_pkcs12(file) {
            parsed.extend(pkcs12::parse_file(file, password)?);
        } else {
            parsed.push(pem::parse_file(file, password)?);
        }
    }
    let mut keyring = pairing::assemble(path, parsed)?;
    keyring.crls = crl::read_all(&files)?;
    Ok(keyring)
}
