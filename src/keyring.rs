//! Keyrings (docs/decisions.md D10, docs/policy-reference.md#ttlskeyringparms): the PEM file or
//! directory named by `Keyring`, loaded into keyed certificates ([`Identity`], chosen by
//! `CertificateLabel`) and trust anchors; plus the development keyring generated when absent, and a
//! small PKI generator for tests and benches.
//!
//! Pairing rules: a private key belongs to the certificate chain in its own file (leaf first), else
//! to the certificate file with the same stem (`server.key` + `server.pem`); the key must match the
//! leaf's public key. A label comment (`# label: NAME`) just before a leaf names it, else the file
//! stem does. Every certificate that is not a keyed leaf is a trust anchor.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::SignatureAlgorithm;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};

#[cfg(test)]
mod tests;

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
    /// The `# label:` comment before the leaf, else the stem of the leaf's file.
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
}

/// A keyring problem: the file, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringError {
    pub path: PathBuf,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (hint: {})", self.path.display(), self.message, self.hint)
    }
}

impl std::error::Error for KeyringError {}

fn err(path: &Path, message: impl Into<String>, hint: impl Into<String>) -> KeyringError {
    KeyringError { path: path.to_path_buf(), message: message.into(), hint: hint.into() }
}

fn io_err(path: &Path, what: &str, e: &io::Error) -> KeyringError {
    let (message, hint) = match e.kind() {
        io::ErrorKind::NotFound => {
            ("does not exist".into(), "check the Keyring path: a PEM file or a directory of PEM files")
        }
        io::ErrorKind::PermissionDenied => {
            (format!("cannot {what}: permission denied"), "give the user pagent runs as access to it")
        }
        _ => (format!("cannot {what}: {e}"), "check the path, its permissions and the disk"),
    };
    err(path, message, hint)
}

const EXTENSIONS: [&str; 4] = ["pem", "crt", "cer", "key"];

/// Loads a keyring from a PEM file or a directory (see the module doc for the rules).
pub fn load(path: &Path, password: Option<&str>) -> Result<Keyring, KeyringError> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, "read", &e))?;
    let files = if meta.is_dir() { list_dir(path)? } else { vec![path.to_path_buf()] };
    let parsed = files.iter().map(|f| parse_file(f, password)).collect::<Result<Vec<_>, _>>()?;
    assemble(path, parsed)
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, KeyringError> {
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
struct FileItems {
    path: PathBuf,
    stem: String,
    /// Certificates in file order, each with its `# label:` comment if any.
    certs: Vec<(CertificateDer<'static>, Option<String>)>,
    key: Option<PrivateKeyDer<'static>>,
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn parse_file(path: &Path, password: Option<&str>) -> Result<FileItems, KeyringError> {
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

/// Subject string and public key bits of a certificate.
fn cert_info(cert: &CertificateDer<'_>, path: &Path) -> Result<(String, Vec<u8>), KeyringError> {
    let (_, x509) = X509Certificate::from_der(cert).map_err(|e| {
        err(path, format!("a certificate does not parse: {e}"), "export the certificate again in PEM form")
    })?;
    Ok((x509.subject().to_string(), x509.public_key().subject_public_key.data.to_vec()))
}

/// Type and public key bits of a private key.
fn key_info(key: &PrivateKeyDer<'_>, path: &Path) -> Result<(KeyType, Vec<u8>), KeyringError> {
    let hint = "use an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key";
    let unsupported = |why: String| err(path, format!("unsupported private key: {why}"), hint);
    let signer =
        rustls::crypto::ring::sign::any_supported_type(key).map_err(|e| unsupported(e.to_string()))?;
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

fn assemble(path: &Path, files: Vec<FileItems>) -> Result<Keyring, KeyringError> {
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
                "give each keyed certificate its own `# label:` or file name",
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
                None if n == 0 => unkeyed.push((file.stem.clone(), file.path.clone())),
                None => {}
            }
            if !trust.contains(cert) {
                trust.push(cert.clone());
            }
        }
    }
    Ok(Keyring { path: path.to_path_buf(), identities, trust, unkeyed })
}

impl Keyring {
    /// D10: by label; no label and one keyed certificate: that one; no label and several: error
    /// naming the labels.
    pub fn identity(&self, label: Option<&str>) -> Result<&Identity, KeyringError> {
        let labels: Vec<&str> = self.identities.iter().map(|id| id.label.as_str()).collect();
        let labels = if labels.is_empty() { "none".to_string() } else { labels.join(", ") };
        let (message, hint) = match (label, self.identities.as_slice()) {
            (None, [one]) => return Ok(one),
            (None, []) => (
                "holds no keyed certificate (a certificate with its private key)".to_string(),
                "add the private key to the certificate's file, or as NAME.key beside NAME.pem".to_string(),
            ),
            (None, many) => (
                format!("holds {} keyed certificates ({labels}); which one is not set", many.len()),
                "set CertificateLabel in TTLSEnvironmentAdvancedParms or TTLSConnectionAdvancedParms"
                    .to_string(),
            ),
            (Some(label), ids) => {
                if let Some(id) = ids.iter().find(|id| id.label == label) {
                    return Ok(id);
                }
                if let Some((_, file)) = self.unkeyed.iter().find(|(l, _)| l == label) {
                    let hint =
                        format!("put its key in the same file or beside it as {}.key", file_stem(file));
                    return Err(err(file, format!("certificate `{label}` has no private key"), hint));
                }
                (
                    format!("no keyed certificate labelled `{label}` (case-sensitive); labels: {labels}"),
                    format!(
                        "set CertificateLabel to one of them, or write `# label: {label}` before its certificate"
                    ),
                )
            }
        };
        Err(err(&self.path, message, hint))
    }

    /// rustls RootCertStore of `trust` (error if none usable).
    pub fn root_store(&self) -> Result<rustls::RootCertStore, KeyringError> {
        let mut store = rustls::RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(self.trust.iter().cloned());
        if added == 0 {
            let hint = "add the CA certificates that signed the peers' certificates (e.g. ca.pem)";
            return Err(err(&self.path, "holds no usable CA certificate to check peers with", hint));
        }
        Ok(store)
    }
}

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

fn create_dir(dir: &Path) -> Result<(), KeyringError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err(dir, "create the directory", &e))
}

/// Writes `contents` to a temporary file beside `path` (created with `mode`), syncs it and renames
/// it over `path`, so readers never see a partial file.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyringError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()));
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, "write", &e)
    })
}
