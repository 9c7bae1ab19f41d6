//! Reading PEM keyring files: the directory listing (`.pem`, `.crt`, `.cer`, `.key`), and each
//! file's certificates (with their `# label:` comments) and private key, with file-and-line errors.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::{KeyringError, err, io_err};

const EXTENSIONS: [&str; 4] = ["pem", "crt", "cer", "key"];

pub(super) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, KeyringError> {
    let entries = fs::read_dir(dir).map_err(|e| io_err(dir, "list the directory", &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, "list the directory", &e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        if name.starts_with('.') || !ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            continue;
        }
        let path = entry.path();
        // metadata() follows symlinks (Kubernetes secret volumes link every file).
        if fs::metadata(&path).map_err(|e| io_err(&path, "read", &e))?.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        let hint = "put the PEM certificates and keys here, or point Keyring at a PEM file";
        return Err(err(dir, "holds no .pem, .crt, .cer or .key files", hint));
    }
    Ok(files)
}

/// What one file holds.
pub(super) struct FileItems {
    pub(super) path: PathBuf,
    pub(super) stem: String,
    /// Certificates in file order, each with its `# label:` comment if any.
    pub(super) certs: Vec<(CertificateDer<'static>, Option<String>)>,
    pub(super) key: Option<PrivateKeyDer<'static>>,
}

pub(super) fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

pub(super) fn parse_file(path: &Path, password: Option<&str>) -> Result<FileItems, KeyringError> {
    let bytes = fs::read(path).map_err(|e| io_err(path, "read", &e))?;
    let mut items =
        FileItems { path: path.to_path_buf(), stem: file_stem(path), certs: Vec::new(), key: None };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN ") => text,
        Ok(text) if text.trim().is_empty() => return Ok(items),
        _ => {
            let hint =
                format!("convert DER with `openssl x509 -inform der -in {0} -out {0}.pem`", path.display());
            return Err(err(path, "is not a PEM file: no -----BEGIN line", hint));
        }
    };
    let mut pending_label: Option<String> = None;
    // (line number, block type, byte offset of the BEGIN line, label comment)
    let mut open: Option<(usize, String, usize, Option<String>)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim().trim_start_matches('\u{feff}');
        if let Some((line_no, kind, begin, label)) = &open {
            if trimmed.starts_with("-----END ") {
                // A mismatched END line makes the block fail to decode.
                add_block(&mut items, kind, &text[*begin..offset], *line_no, label.clone(), password)?;
                open = None;
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("-----BEGIN ") {
            let kind = rest.trim_end_matches('-').to_string();
            open = Some((index + 1, kind, start, pending_label.take()));
        } else if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(label) = label_comment(comment) {
                pending_label = Some(label);
            }
        } else if !trimmed.is_empty() {
            // Text such as openssl's "Bag Attributes" or "subject=" lines ends a label's reach.
            pending_label = None;
        }
    }
    if let Some((line_no, kind, ..)) = open {
        let message = format!("line {line_no}: `-----BEGIN {kind}-----` has no END line");
        return Err(err(path, message, "the file is truncated; export it again in PEM form"));
    }
    Ok(items)
}

/// `label: NAME` (any case, trimmed) in a `#` comment.
fn label_comment(comment: &str) -> Option<String> {
    let (key, value) = comment.split_once(':')?;
    let value = value.trim();
    (key.trim().eq_ignore_ascii_case("label") && !value.is_empty()).then(|| value.to_string())
}

fn add_block(
    items: &mut FileItems,
    kind: &str,
    block: &str,
    line: usize,
    label: Option<String>,
    password: Option<&str>,
) -> Result<(), KeyringError> {
    let path = items.path.clone();
    let damaged = |e: &dyn fmt::Display| {
        let message = format!("line {line}: the {kind} block does not decode: {e}");
        err(&path, message, "the file is damaged or truncated; export it again in PEM form")
    };
    let encrypted =
        kind == "ENCRYPTED PRIVATE KEY" || (kind.ends_with("PRIVATE KEY") && block.contains("Proc-Type:"));
    match kind {
        "CERTIFICATE" => {
            let cert = CertificateDer::from_pem_slice(block.as_bytes()).map_err(|e| damaged(&e))?;
            X509Certificate::from_der(&cert).map_err(|e| damaged(&e))?;
            items.certs.push((cert, label));
        }
        _ if encrypted => {
            let (what, tool) = match kind {
                "ENCRYPTED PRIVATE KEY" => ("encrypted PKCS#8 keys are", "pkcs8"),
                _ => ("PEM-encrypted keys are", "pkey"),
            };
            let decrypt =
                format!("decrypt with `openssl {tool} -in {0} -out {0}.clear` (mode 0600)", path.display());
            let (message, hint) = match password {
                Some(_) => (format!("{what} not supported yet"), decrypt),
                None => (
                    "no password was given".into(),
                    format!("set KeyringPw or KeyringStashFile, or {decrypt}"),
                ),
            };
            return Err(err(&path, format!("line {line}: the private key is encrypted; {message}"), hint));
        }
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
            let key = PrivateKeyDer::from_pem_slice(block.as_bytes()).map_err(|e| damaged(&e))?;
            if items.key.is_some() {
                let message = format!("line {line}: a second private key; a file holds at most one");
                return Err(err(
                    &path,
                    message,
                    "put each key with its own certificate chain, one file each",
                ));
            }
            items.key = Some(key);
        }
        _ if kind.ends_with("PRIVATE KEY") => {
            let hint = format!(
                "use an RSA, ECDSA or Ed25519 key: `openssl pkcs8 -topk8 -nocrypt -in {}`",
                path.display()
            );
            return Err(err(&path, format!("line {line}: unsupported private key type `{kind}`"), hint));
        }
        // CRLs, public keys, EC parameters, requests, OpenSSL "TRUSTED CERTIFICATE": not used.
        _ => {}
    }
    Ok(())
}
