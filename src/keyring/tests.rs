//! Unit tests of keyrings: loading PEM files and directories, key pairing, labels, errors, and the
//! generated development keyring and test PKI (with real rustls handshakes).

use super::*;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

/// A fresh directory under the system temp dir, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("attls-keyring-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create test dir");
        TempDir(dir)
    }
    pub(super) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(super) fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("read test file")
}

fn load_err(path: &Path) -> KeyringError {
    match load(path, None) {
        Ok(ring) => panic!("{} loaded: {} identities", path.display(), ring.identities.len()),
        Err(e) => e,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Pumps TLS records between the two ends until both finish the handshake.
pub(super) fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).expect("write to Vec");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).expect("read from slice");
            server.process_new_packets()?;
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).expect("write to Vec");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).expect("read from slice");
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

pub(super) fn server_config(id: &Identity, client_roots: Option<rustls::RootCertStore>) -> ServerConfig {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_roots {
        Some(roots) => {
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder.with_single_cert(id.chain.clone(), id.key.clone_key()).expect("server cert and key")
}

pub(super) fn client_config(roots: rustls::RootCertStore, id: Option<&Identity>) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    match id {
        Some(id) => builder.with_client_auth_cert(id.chain.clone(), id.key.clone_key()).expect("client cert"),
        None => builder.with_no_client_auth(),
    }
}

#[test]
fn dev_keyring_loads_and_handshakes() {
    let tmp = TempDir::new("dev");
    let dev = ensure_dev_keyring(&tmp.join("a/b")).expect("dev keyring");
    let ring = load(&dev.dir, None).expect("load dev keyring");
    let id = ring.identity(None).expect("one identity");
    assert_eq!(id.label, "server");
    assert_eq!(id.key_type, KeyType::Ecdsa);
    assert_eq!(id.chain.len(), 2);
    assert_eq!(id.source, dev.server_pem);
    assert!(id.subject.contains("CN=localhost"), "{}", id.subject);
    assert_eq!(ring.trust.len(), 1, "ca.pem and server.pem's CA are one anchor");

    for name in ["localhost", "127.0.0.1", "::1"] {
        let client_cfg = client_config(ring.root_store().expect("roots"), None);
        let server_name = ServerName::try_from(name.to_string()).expect("server name");
        let mut client = ClientConnection::new(Arc::new(client_cfg), server_name).expect("client");
        let mut server = ServerConnection::new(Arc::new(server_config(id, None))).expect("server");
        handshake(&mut client, &mut server).unwrap_or_else(|e| panic!("handshake for {name}: {e}"));
        client.writer().write_all(b"ping").expect("write plaintext");
        handshake(&mut client, &mut server).expect("pump data");
        let mut got = [0u8; 4];
        server.reader().read_exact(&mut got).expect("server reads");
        assert_eq!(&got, b"ping");
    }

    // A name the certificate does not carry is refused.
    let client_cfg = client_config(ring.root_store().expect("roots"), None);
    let wrong = ServerName::try_from("example.com").expect("server name");
    let mut client = ClientConnection::new(Arc::new(client_cfg), wrong).expect("client");
    let mut server = ServerConnection::new(Arc::new(server_config(id, None))).expect("server");
    assert!(handshake(&mut client, &mut server).is_err());
}

#[test]
fn dev_keyring_is_idempotent_and_private() {
    let tmp = TempDir::new("idem");
    let dir = tmp.join("dev");
    let first = ensure_dev_keyring(&dir).expect("first");
    let (pem, key, ca) = (read(&first.server_pem), read(&first.server_key), read(&first.ca_pem));
    let second = ensure_dev_keyring(&dir).expect("second");
    assert_eq!(first, second);
    assert_eq!(read(&second.server_pem), pem);
    assert_eq!(read(&second.server_key), key);
    assert_eq!(read(&second.ca_pem), ca);
    let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&first.server_key), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert!(key.contains("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn labels_choose_identities() {
    let tmp = TempDir::new("labels");
    write_test_pki(&tmp.0, &[("web", "web.example", false), ("api", "api.example", false)]).expect("pki");
    let ring = load(&tmp.0, None).expect("load");
    assert_eq!(ring.identities.len(), 2);
    let e = ring.identity(None).expect_err("ambiguous");
    assert!(e.message.contains("api, web"), "{e}");
    assert!(e.hint.contains("CertificateLabel"), "{e}");
    assert!(ring.identity(Some("web")).expect("by stem").subject.contains("web.example"));
    assert!(ring.identity(Some("WEB")).is_err(), "labels are case-sensitive");
    let e = ring.identity(Some("nope")).expect_err("unknown");
    assert!(e.message.contains("`nope`") && e.message.contains("api, web"), "{e}");
    let e = ring.identity(Some("ca")).expect_err("unkeyed");
    assert!(e.message.contains("has no private key"), "{e}");
    assert_eq!(e.path, tmp.join("ca.pem"));

    // A label comment before the leaf (blank and comment lines between) wins over the stem.
    let web = tmp.join("web.pem");
    fs::write(&web, format!("#  Label:  www \n\n# issued for the web tier\n{}", read(&web))).expect("write");
    let ring = load(&tmp.0, None).expect("load");
    assert!(ring.identity(Some("www")).expect("by label").subject.contains("web.example"));
    assert!(ring.identity(Some("web")).is_err());

    // Other text between the comment and the block cancels it.
    fs::write(&web, read(&web).replacen("# issued", "subject=CN=web.example\n# issued", 1)).expect("write");
    let ring = load(&tmp.0, None).expect("load");
    assert!(ring.identity(Some("web")).is_ok());
}

#[test]
fn duplicate_labels_are_an_error() {
    let tmp = TempDir::new("duplabel");
    write_test_pki(&tmp.0, &[("a", "a.example", false), ("b", "b.example", false)]).expect("pki");
    let b = tmp.join("b.pem");
    fs::write(&b, format!("# label: a\n{}", read(&b))).expect("write");
    let e = load_err(&tmp.0);
    assert!(e.message.contains("label `a`"), "{e}");
}

#[test]
fn key_and_certificate_must_match() {
    let tmp = TempDir::new("mismatch");
    write_test_pki(&tmp.0, &[("a", "a.example", false), ("b", "b.example", false)]).expect("pki");
    fs::copy(tmp.join("a.key"), tmp.join("b.key")).expect("copy");
    let e = load_err(&tmp.0);
    assert_eq!(e.path, tmp.join("b.key"));
    assert!(e.message.contains("does not match") && e.message.contains("b.example"), "{e}");
}

#[test]
fn same_stem_pairing_and_trust() {
    let tmp = TempDir::new("stem");
    write_test_pki(&tmp.0, &[("server", "localhost", false), ("client", "client.example", true)])
        .expect("pki");
    fs::rename(tmp.join("server.pem"), tmp.join("server.crt")).expect("rename");
    let ring = load(&tmp.0, None).expect("load");
    let server = ring.identity(Some("server")).expect("server");
    assert_eq!(server.source, tmp.join("server.crt"));
    assert_eq!(ring.trust.len(), 1, "only the CA is a trust anchor");
    assert!(!ring.trust.contains(&server.chain[0]), "a keyed leaf is not an anchor");

    // Mutual TLS with the client certificate, both sides trusting the one CA.
    let client_id = ring.identity(Some("client")).expect("client");
    let roots = ring.root_store().expect("roots");
    let client_cfg = client_config(roots.clone(), Some(client_id));
    let name = ServerName::try_from("localhost").expect("name");
    let mut client = ClientConnection::new(Arc::new(client_cfg), name).expect("client");
    let mut srv = ServerConnection::new(Arc::new(server_config(server, Some(roots)))).expect("server");
    handshake(&mut client, &mut srv).expect("mutual handshake");
    assert_eq!(srv.peer_certificates().map(|c| c.len()), Some(2));
}

#[test]
fn key_in_the_same_file() {
    let tmp = TempDir::new("combined");
    write_test_pki(&tmp.0, &[("leaf", "leaf.example", false)]).expect("pki");
    let combined = tmp.join("combined.pem");
    fs::write(&combined, read(&tmp.join("leaf.key")) + &read(&tmp.join("leaf.pem"))).expect("write");
    let ring = load(&combined, None).expect("load file");
    let id = ring.identity(None).expect("identity");
    assert_eq!((id.label.as_str(), id.chain.len()), ("combined", 2));
    assert_eq!(ring.trust.len(), 1);

    // CA first: the key does not match the first certificate.
    let pem = read(&tmp.join("leaf.pem"));
    let split = pem.find("-----END CERTIFICATE-----").expect("end") + "-----END CERTIFICATE-----\n".len();
    fs::write(&combined, format!("{}{}{}", &pem[split..], &pem[..split], read(&tmp.join("leaf.key"))))
        .expect("write");
    let e = load_err(&combined);
    assert!(e.message.contains("does not match `CN=attls test CA`") && e.hint.contains("leaf first"), "{e}");
}

#[test]
fn key_without_certificate() {
    let tmp = TempDir::new("lonekey");
    write_test_pki(&tmp.0, &[("a", "a.example", false)]).expect("pki");
    fs::rename(tmp.join("a.key"), tmp.join("other.key")).expect("rename");
    let e = load_err(&tmp.0);
    assert_eq!(e.path, tmp.join("other.key"));
    assert!(e.message.contains("has no certificate"), "{e}");
}

#[test]
fn missing_empty_and_ignored() {
    let tmp = TempDir::new("empty");
    let e = load_err(&tmp.join("nope"));
    assert!(e.message.contains("does not exist"), "{e}");
    let e = load_err(&tmp.0);
    assert!(e.message.contains("holds no .pem"), "{e}");
    fs::write(tmp.join("README.txt"), "not a key").expect("write");
    fs::write(tmp.join(".hidden.pem"), "garbage").expect("write");
    assert!(load_err(&tmp.0).message.contains("holds no .pem"));
    fs::write(tmp.join("empty.pem"), "\n").expect("write");
    let e = load_err(&tmp.0);
    assert!(e.message.contains("holds no certificates"), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: holds no certificates (hint: ", tmp.0.display())));
}

#[test]
fn garbage_is_reported_with_file_and_line() {
    let tmp = TempDir::new("garbage");
    let bad = tmp.join("bad.pem");
    fs::write(&bad, "# label: x\n-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n")
        .expect("write");
    let e = load_err(&bad);
    assert_eq!(e.path, bad);
    assert!(e.message.contains("line 2") && e.message.contains("does not decode"), "{e}");

    fs::write(&bad, "-----BEGIN CERTIFICATE-----\nMIIB\n").expect("write");
    assert!(load_err(&bad).message.contains("has no END line"));
    fs::write(&bad, "hello world\n").expect("write");
    assert!(load_err(&bad).message.contains("not a PEM file"));
    fs::write(&bad, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n").expect("write");
    assert!(load_err(&bad).message.contains("does not decode"));
    // Base64 that decodes but is no certificate.
    fs::write(&bad, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").expect("write");
    assert!(load_err(&bad).message.contains("does not decode"));
}

#[test]
fn encrypted_and_unsupported_keys() {
    let tmp = TempDir::new("enc");
    let key = tmp.join("k.pem");
    fs::write(&key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
        .expect("write");
    let e = load(&key, None).expect_err("no password");
    assert!(e.message.contains("encrypted") && e.hint.contains("KeyringPw"), "{e}");
    assert!(e.hint.contains("openssl pkcs8 -in"), "says how to decrypt it: {e}");
    // Not an EncryptedPrivateKeyInfo: an error at its line that says how to encrypt it again.
    let e = load(&key, Some("secret")).expect_err("garbage");
    assert!(e.message.contains("line 1") && e.hint.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc"), "{e}");
    fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n").expect("write");
    assert!(load(&key, None).expect_err("legacy").message.contains("encrypted"));
    let e = load(&key, Some("secret")).expect_err("short IV");
    assert!(e.message.contains("line 1") && e.message.contains("IV has 1 bytes"), "{e}");
    fs::write(&key, "-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n").expect("write");
    assert!(load(&key, None).expect_err("dsa").message.contains("unsupported private key type"));
}

#[test]
fn other_blocks_ignored_der_refused() {
    let tmp = TempDir::new("der");
    write_test_pki(&tmp.0, &[("a", "a.example", false)]).expect("pki");
    // `openssl ecparam -genkey` writes EC PARAMETERS before the key; a BOM is tolerated.
    let params = "\u{feff}-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    fs::write(tmp.join("a.key"), format!("{params}{}", read(&tmp.join("a.key")))).expect("write");
    let ring = load(&tmp.0, None).expect("load");
    assert_eq!(ring.trust.len(), 1);
    assert!(ring.identity(None).is_ok());

    let ca = CertificateDer::from_pem_file(tmp.join("ca.pem")).expect("ca");
    fs::write(tmp.join("ca.cer"), ca.as_ref()).expect("write der");
    let e = load_err(&tmp.0);
    assert_eq!(e.path, tmp.join("ca.cer"));
    assert!(e.message.contains("not a PEM file") && e.hint.contains("-inform der"), "{e}");
}
