//! Reading PEM keyring files: the directory listing (`.pem`, `.crt`, `.cer`, `.key`, and the
//! PKCS#12 `.p12` and `.pfx` files that `pkcs12` reads), and each PEM file's certificates (with their
//! `# label:` comments) and private key (decrypted by `encrypted` when it is encrypted), with
//! file-and-line errors.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::encrypted::{self, DecryptError};
use super::error::{KeyringError, err, io_err};

const EXTENSIONS: [&str; 7] = ["pem", "crt", "cer", "key", "p12", "pfx", "crl"];

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
        let hint = "put the PEM certificates and keys (or a PKCS#12 file) here, or point Keyring at a file";
        return Err(err(dir, "holds no .pem, .crt, .cer, .key, .p12 or .pfx files", hint));
    }
    Ok(files)
}

/// What one file holds: a PEM file, or one keyed certificate (or the other certificates) of a
/// PKCS#12 file.
pub(super) struct FileItems {
    pub(super) path: PathBuf,
    pub(super) stem: String,
    /// Certificates in file order, each with its `# label:` comment (PKCS#12: friendly name) if any.
    pub(super) certs: Vec<(CertificateDer<'static>, Option<String>)>,
    pub(super) key: Option<PrivateKeyDer<'static>>,
    /// Whether the first certificate, when it has no label, is known by the file's stem (PEM files;
    /// a PKCS#12 certificate has only its friendly name).
    pub(super) stem_labels: bool,
}

pub(super) fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

pub(super) fn parse_file(path: &Path, password: Option<&str>) -> Result<FileItems, KeyringError> {
    let bytes = fs::read(path).map_err(|e| io_err(path, "read", &e))?;
    let mut items = FileItems {
        path: path.to_path_buf(),
        stem: file_stem(path),
        certs: Vec::new(),
        key: None,
        stem_labels: true,
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN ") => text,
        Ok(text) if text.trim().is_empty() => return Ok(items),
        _ => {
            let hint = format!(
                "convert DER with `openssl x509 -inform der -in {0} -out {0}.pem`; a PKCS#12 file must be named .p12 or .pfx",
                path.display()
            );
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
    let plain_key = matches!(kind, "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY");
    let encrypted = kind == "ENCRYPTED PRIVATE KEY" || (plain_key && block.contains("Proc-Type:"));
    match kind {
        "CERTIFICATE" => {
            let cert = CertificateDer::from_pem_slice(block.as_bytes()).map_err(|e| damaged(&e))?;
            X509Certificate::from_der(&cert).map_err(|e| damaged(&e))?;
            items.certs.push((cert, label));
        }
        _ if encrypted => {
            let Some(password) = password else {
                let message = format!("line {line}: the private key is encrypted and no password was given");
                let hint = format!("set KeyringPw or KeyringStashFile, or {}", decrypt_command(kind, &path));
                return Err(err(&path, message, hint));
            };
            let key =
                encrypted::decrypt(kind, block, password).map_err(|e| decrypt_error(&path, line, kind, e))?;
            set_key(items, key, line)?;
        }
        _ if plain_key => {
            let key = PrivateKeyDer::from_pem_slice(block.as_bytes()).map_err(|e| damaged(&e))?;
            set_key(items, key, line)?;
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

fn set_key(items: &mut FileItems, key: PrivateKeyDer<'static>, line: usize) -> Result<(), KeyringError> {
    if items.key.is_some() {
        let message = format!("line {line}: a second private key; a file holds at most one");
        return Err(err(&items.path, message, "put each key with its own certificate chain, one file each"));
    }
    items.key = Some(key);
    Ok(())
}

/// How to write a decrypted copy of an encrypted key (openssl asks for the password).
fn decrypt_command(kind: &str, path: &Path) -> String {
    let tool = if kind == "ENCRYPTED PRIVATE KEY" { "pkcs8" } else { "pkey" };
    format!("decrypt it with `openssl {tool} -in {0} -out {0}.clear` (mode 0600)", path.display())
}

fn decrypt_error(path: &Path, line: usize, kind: &str, e: DecryptError) -> KeyringError {
    let shown = path.display();
    match e {
        DecryptError::WrongPassword => err(
            path,
            format!(
                "line {line}: the private key does not decrypt with the password given (KeyringPw or KeyringStashFile)"
            ),
            format!(
                "check the password: `openssl pkey -in {shown} -noout` asks for it and says whether it is right"
            ),
        ),
        DecryptError::Unsupported(what) => err(
            path,
            format!("line {line}: the private key is encrypted with {what}, which attls does not read"),
            format!(
                "encrypt it again: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {shown} -out {shown}.new` (it asks for the old and the new password), or {}",
                decrypt_command(kind, path)
            ),
        ),
        DecryptError::Damaged(why) => err(
            path,
            format!("line {line}: the encrypted {kind} block does not decode: {why}"),
            "the file is damaged or truncated; export it again in PEM form",
        ),
    }
}
