//! Pairing private keys with certificates: a key belongs to the chain in its own file, else to the
//! certificate file of the same stem, and must match the leaf's public key; keyed leaves become
//! [`Identity`]s, every other certificate a trust anchor. (A PKCS#12 file arrives here already
//! split, one unit per keyed certificate and one for the rest: see `pkcs12`.)

use std::path::Path;

use rustls::SignatureAlgorithm;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};

use super::error::{KeyringError, err};
use super::pem::FileItems;
use super::{Identity, KeyType, Keyring};

/// Subject string and public key bits of a certificate.
pub(super) fn cert_info(cert: &CertificateDer<'_>, path: &Path) -> Result<(String, Vec<u8>), KeyringError> {
    let (_, x509) = X509Certificate::from_der(cert).map_err(|e| {
        err(path, format!("a certificate does not parse: {e}"), "export the certificate again in PEM form")
    })?;
    Ok((x509.subject().to_string(), x509.public_key().subject_public_key.data.to_vec()))
}

/// Type and public key bits of a private key.
pub(super) fn key_info(key: &PrivateKeyDer<'_>, path: &Path) -> Result<(KeyType, Vec<u8>), KeyringError> {
    let hint = "use an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key";
    let unsupported = |why: String| err(path, format!("unsupported private key: {why}"), hint);
    let signer = crate::policy::rustls_caps::provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| unsupported(e.to_string()))?;
    let key_type = match signer.algorithm() {
        SignatureAlgorithm::RSA => KeyType::Rsa,
        SignatureAlgorithm::ECDSA => KeyType::Ecdsa,
        SignatureAlgorithm::ED25519 => KeyType::Ed25519,
        other => return Err(unsupported(format!("{other:?}"))),
    };
    let spki = signer.public_key().ok_or_else(|| unsupported("no public key".into()))?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(&spki).map_err(|e| unsupported(e.to_string()))?;
    Ok((key_type, spki.subject_public_key.data.to_vec()))
}

const PAIRING_HINT: &str = "pair each key with its certificate: in the same file (leaf first, then intermediates) or in a file of the same stem (NAME.key + NAME.pem)";

pub(super) fn assemble(path: &Path, files: Vec<FileItems>) -> Result<Keyring, KeyringError> {
    if files.iter().all(|f| f.certs.is_empty()) {
        let hint =
            "add the PEM certificates (`-----BEGIN CERTIFICATE-----` blocks) and keys the policy needs";
        return Err(err(path, "holds no certificates", hint));
    }
    // keyed[i]: file i's first certificate is the leaf of identity keyed[i].
    let mut keyed: Vec<Option<usize>> = vec![None; files.len()];
    let mut identities: Vec<Identity> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let Some(key) = &file.key else { continue };
        let (key_type, key_bits) = key_info(key, &file.path)?;
        // The chain in the key's own file, else the certificate files of the same stem.
        let own = !file.certs.is_empty();
        let candidates = (0..files.len())
            .filter(|&j| if own { j == i } else { files[j].stem == file.stem && !files[j].certs.is_empty() });
        let mut mismatch = None;
        let mut holder = None;
        for j in candidates {
            let (subject, bits) = cert_info(&files[j].certs[0].0, &files[j].path)?;
            if bits == key_bits {
                holder = Some((j, subject));
                break;
            }
            mismatch.get_or_insert((j, subject));
        }
        let Some((j, subject)) = holder else {
            let message = match mismatch {
                Some((j, subject)) => {
                    format!(
                        "the private key does not match `{subject}`, the first certificate of {}",
                        files[j].path.display()
                    )
                }
                None => format!(
                    "the private key has no certificate: none in this file, no {}.pem beside it",
                    file.stem
                ),
            };
            return Err(err(&file.path, message, PAIRING_HINT));
        };
        let holder = &files[j];
        if let Some(other) = keyed[j] {
            let message =
                format!("a second private key for `{subject}` (see {})", identities[other].source.display());
            return Err(err(&file.path, message, "keep one key per certificate"));
        }
        let label = holder.certs[0].1.clone().unwrap_or_else(|| holder.stem.clone());
        if let Some(dup) = identities.iter().find(|id| id.label == label) {
            let message = format!("label `{label}` is also used by {}", dup.source.display());
            return Err(err(
                &holder.path,
                message,
                "give each keyed certificate its own label: a `# label:` comment, a file name or a PKCS#12 friendly name",
            ));
        }
        keyed[j] = Some(identities.len());
        let chain = holder.certs.iter().map(|(c, _)| c.clone()).collect();
        let source = holder.path.clone();
        identities.push(Identity { label, chain, key: key.clone_key(), key_type, subject, source });
    }
    let mut trust: Vec<CertificateDer<'static>> = Vec::new();
    let mut unkeyed = Vec::new();
    for (file, keyed) in files.iter().zip(&keyed) {
        for (n, (cert, label)) in file.certs.iter().enumerate().skip(usize::from(keyed.is_some())) {
            match label {
                Some(label) => unkeyed.push((label.clone(), file.path.clone())),
                None if n == 0 && file.stem_labels => unkeyed.push((file.stem.clone(), file.path.clone())),
                None => {}
            }
            if !trust.contains(cert) {
                trust.push(cert.clone());
            }
        }
    }
    Ok(Keyring { path: path.to_path_buf(), identities, trust, unkeyed, crls: Vec::new() })
}
