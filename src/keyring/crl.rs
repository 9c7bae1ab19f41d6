//! Certificate revocation lists in a keyring: `X509 CRL` blocks in any PEM file of the keyring, and
//! `.crl` files (PEM or DER) in a keyring directory. They are enforced for client certificates (the
//! server roles) and, in the Client role, for the server's certificate (docs/policy-reference.md,
//! "Revocation"). Each must parse; its issuer and next update are kept for reports.

use std::fs;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{CertificateRevocationList, FromDer};

use super::error::{KeyringError, err, io_err};

/// One CRL of a keyring.
#[derive(Debug, Clone)]
pub struct Crl {
    pub der: CertificateRevocationListDer<'static>,
    /// Issuer as an RFC 4514-like string.
    pub issuer: String,
    /// Seconds since the Unix epoch; `None` when the CRL names no next update.
    pub next_update: Option<i64>,
    pub source: PathBuf,
}

/// Whether `path` is a CRL file (read only by this module).
pub(super) fn is_crl_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("crl"))
}

/// Every CRL in `files`: the `.crl` files whole (PEM or DER), and the CRL blocks of PEM files.
pub(super) fn read_all(files: &[PathBuf]) -> Result<Vec<Crl>, KeyringError> {
    let mut crls = Vec::new();
    for file in files {
        let bytes = fs::read(file).map_err(|e| io_err(file, "read", &e))?;
        let is_pem = bytes.windows(20).any(|w| w == b"-----BEGIN X509 CRL-");
        if is_pem {
            for der in CertificateRevocationListDer::pem_slice_iter(&bytes) {
                let der = der.map_err(|e| damaged(file, &e))?;
                crls.push(describe(der, file)?);
            }
        } else if is_crl_file(file) {
            crls.push(describe(CertificateRevocationListDer::from(bytes), file)?);
        }
    }
    Ok(crls)
}

fn describe(der: CertificateRevocationListDer<'static>, file: &Path) -> Result<Crl, KeyringError> {
    let (issuer, next_update) = {
        let (_, crl) = CertificateRevocationList::from_der(der.as_ref()).map_err(|e| damaged(file, &e))?;
        (crl.issuer().to_string(), crl.next_update().map(|t| t.timestamp()))
    };
    Ok(Crl { der, issuer, next_update, source: file.to_path_buf() })
}

fn damaged(file: &Path, e: &dyn std::fmt::Display) -> KeyringError {
    err(
        file,
        format!("a certificate revocation list does not parse: {e}"),
        "fetch the CRL again (`openssl crl -in FILE -noout -text` shows whether it is sound)",
    )
}
