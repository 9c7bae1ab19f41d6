//! PKCS#12 keyring files (`.p12`, `.pfx`): what `openssl pkcs12 -export`, Java's keytool and
//! RACDCERT EXPORT FORMAT(PKCS12DER) write, in binary, or as base64 text (FORMAT(PKCS12B64)).
//!
//! Read with the keyring password (none given: the empty password is tried), by the `p12-keystore`
//! crate: modern files (PBES2 with AES and PBKDF2, SHA-2 MAC) and legacy ones (3DES or RC2-40 with
//! the PKCS#12 key derivation, SHA-1 MAC). The contents become the same units a PEM directory
//! gives: each private key with the certificate whose public key it matches (leaf first, then its
//! issuers found in the file), labelled by the key's friendly name (`-name`, keytool's alias), else
//! the certificate's, else (the file's only key) the file stem; and one unit of the other certificates (CAs,
//! labelled by their friendly names, `-caname`), which become trust anchors.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use base64::Engine;
use p12_keystore::Pkcs12Archive;
use p12_keystore::error::Error as P12Error;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::{KeyringError, err, io_err};
use super::pairing::{cert_info, key_info};
use super::pem::{FileItems, file_stem};

/// File name extensions read as PKCS#12 (any case).
const EXTENSIONS: [&str; 2] = ["p12", "pfx"];
/// A larger file is not read (a keyring of a few certificates is a few KiB).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Whether `path` names a PKCS#12 file (by its extension).
pub(super) fn is_pkcs12(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// Reads a PKCS#12 file into keyring units (see the module doc).
pub(super) fn parse_file(path: &Path, password: Option<&str>) -> Result<Vec<FileItems>, KeyringError> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, "read", &e))?;
    if meta.len() > MAX_FILE_BYTES {
        let message = format!("is {} bytes, too large for a PKCS#12 keyring", meta.len());
        return Err(err(path, message, "point Keyring at the PKCS#12 file of the certificates and keys"));
    }
    let bytes = fs::read(path).map_err(|e| io_err(path, "read", &e))?;
    let der = der_of(path, &bytes)?;
    let archive = open(path, &der, password)?;
    units(path, archive)
}

/// The DER bytes: the file itself, or the decoded base64 text of a PKCS12B64 export.
fn der_of(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, KeyringError> {
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let shown = path.display();
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text.contains("-----BEGIN ") {
            let hint = format!(
                "rename it to .pem, or make a PKCS#12 file with `openssl pkcs12 -export -in {shown}`"
            );
            return Err(err(path, "holds PEM text, not PKCS#12", hint));
        }
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&compact) {
            if der.first() == Some(&0x30) {
                return Ok(der);
            }
        }
    }
    let hint = format!(
        "transfer it from z/OS in binary mode (not as text), then check it with `openssl pkcs12 -in {shown} -noout`"
    );
    Err(err(path, "is not a PKCS#12 file (neither DER nor base64)", hint))
}

/// Why an archive did not open.
enum Failure {
    WrongPassword,
    Unsupported(String),
    Damaged(String),
}

fn classify(e: P12Error) -> Failure {
    match e {
        P12Error::MacError(_) | P12Error::UnpadError => Failure::WrongPassword,
        P12Error::Pkcs5Error(ref why) if why.contains("decryption failed") => Failure::WrongPassword,
        P12Error::InvalidParameters => {
            Failure::Unsupported("an iteration count or scrypt cost above 1,000,000 / 1 GiB".into())
        }
        P12Error::UnsupportedEncryptionScheme
        | P12Error::UnsupportedMacAlgorithm
        | P12Error::UnsupportedContentType
        | P12Error::UnsupportedCertificateType
        | P12Error::InvalidVersion => Failure::Unsupported(e.to_string()),
        other => Failure::Damaged(other.to_string()),
    }
}

/// Opens the archive with `password` (none: the empty password), verifying its MAC.
fn open(path: &Path, der: &[u8], password: Option<&str>) -> Result<Pkcs12Archive, KeyringError> {
    // The reader is another crate's: a panic on a malformed file becomes an error here too.
    let attempt = catch_unwind(AssertUnwindSafe(|| Pkcs12Archive::from_pkcs12(der, password.unwrap_or(""))));
    let failure = match attempt {
        Ok(Ok(archive)) => return Ok(archive),
        Ok(Err(e)) => classify(e),
        Err(_) => Failure::Damaged("the PKCS#12 reader failed on it".into()),
    };
    let shown = path.display();
    let check = format!(
        "`openssl pkcs12 -legacy -in {shown} -noout` asks for the password and says `Mac verify error` when it is wrong"
    );
    Err(match (failure, password) {
        (Failure::WrongPassword, None) => err(
            path,
            "is a PKCS#12 file protected by a password, and none was given",
            "set KeyringPw or KeyringStashFile in the rule's TTLSKeyringParms",
        ),
        (Failure::WrongPassword, Some(_)) => err(
            path,
            "the password given (KeyringPw or KeyringStashFile) does not open this PKCS#12 file",
            format!("check the password: {check}"),
        ),
        (Failure::Unsupported(what), _) => err(
            path,
            format!("uses a PKCS#12 feature attls does not read: {what}"),
            format!(
                "export it again, e.g. `openssl pkcs12 -legacy -in {shown} -nodes | openssl pkcs12 -export -out NEW.p12` (OpenSSL 3 defaults: AES-256, SHA-256 MAC)"
            ),
        ),
        (Failure::Damaged(why), _) => err(
            path,
            format!("is not a readable PKCS#12 file: {why}"),
            format!("transfer it in binary mode and check it: {check}"),
        ),
    })
}

/// A friendly name worth using as a label (not empty, no surrounding blanks).
fn label_of(name: &Option<String>) -> Option<String> {
    name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(String::from)
}

/// Splits the archive into one unit per private key (with its chain) and one for the rest.
fn units(path: &Path, archive: Pkcs12Archive) -> Result<Vec<FileItems>, KeyringError> {
    let stem = file_stem(path);
    let certs: Vec<(CertificateDer<'static>, Option<String>)> = archive
        .certs
        .iter()
        .map(|bag| (CertificateDer::from(bag.cert.as_der().to_vec()), label_of(&bag.friendly_name)))
        .collect();
    let public_keys =
        certs.iter().map(|(c, _)| cert_info(c, path).map(|(_, bits)| bits)).collect::<Result<Vec<_>, _>>()?;
    let names = certs.iter().map(|(c, _)| subject_and_issuer(c)).collect::<Vec<_>>();
    let mut items = Vec::new();
    let mut leaves = Vec::new();
    for (n, bag) in archive.keys.iter().enumerate() {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bag.key.as_der().to_vec()));
        let (_, key_bits) = key_info(&key, path)?;
        let key_name = label_of(&bag.friendly_name);
        let Some(leaf) = public_keys.iter().position(|bits| *bits == key_bits) else {
            let which =
                key_name.map_or_else(|| format!("private key {}", n + 1), |l| format!("private key `{l}`"));
            let hint = "export the certificate together with its key (RACDCERT EXPORT of the certificate, or `openssl pkcs12 -export -in CERT -inkey KEY`)";
            return Err(err(path, format!("{which} has no certificate in this file"), hint));
        };
        let label = match key_name.or_else(|| certs[leaf].1.clone()) {
            Some(label) => label,
            None if archive.keys.len() == 1 => stem.clone(),
            None => {
                let (subject, _) = cert_info(&certs[leaf].0, path)?;
                let message = format!(
                    "holds {} private keys and the one for `{subject}` has no friendly name",
                    archive.keys.len()
                );
                let hint = "export it again naming each certificate (`openssl pkcs12 -export -name LABEL`), or one certificate per file";
                return Err(err(path, message, hint));
            }
        };
        let chain = chain_from(leaf, &names);
        let chain_certs = chain
            .iter()
            .map(|&i| (certs[i].0.clone(), if i == leaf { Some(label.clone()) } else { certs[i].1.clone() }))
            .collect();
        items.push(FileItems {
            path: path.to_path_buf(),
            stem: stem.clone(),
            certs: chain_certs,
            key: Some(key),
            stem_labels: false,
        });
        leaves.push(leaf);
    }
    let rest: Vec<_> =
        certs.iter().enumerate().filter(|(i, _)| !leaves.contains(i)).map(|(_, c)| c.clone()).collect();
    if !rest.is_empty() || items.is_empty() {
        items.push(FileItems { path: path.to_path_buf(), stem, certs: rest, key: None, stem_labels: false });
    }
    Ok(items)
}

/// The raw DER subject and issuer names of a certificate (empty if it does not parse: `cert_info`
/// has already refused those).
fn subject_and_issuer(cert: &CertificateDer<'_>) -> (Vec<u8>, Vec<u8>) {
    match X509Certificate::from_der(cert) {
        Ok((_, x509)) => (x509.subject().as_raw().to_vec(), x509.issuer().as_raw().to_vec()),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// Indices of the chain from `leaf`: each next certificate is the one whose subject is the
/// previous one's issuer, up to a self-issued certificate or one whose issuer is not in the file.
fn chain_from(leaf: usize, names: &[(Vec<u8>, Vec<u8>)]) -> Vec<usize> {
    let mut chain = vec![leaf];
    let mut current = leaf;
    while names[current].0 != names[current].1 {
        let issuer = &names[current].1;
        match (0..names.len()).find(|&i| !chain.contains(&i) && names[i].0 == *issuer) {
            Some(next) => {
                chain.push(next);
                current = next;
            }
            None => break,
        }
    }
    chain
}
