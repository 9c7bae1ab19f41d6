//! Unit tests of the key material z/OS shops bring: PKCS#12 files (modern and legacy, several keys,
//! base64, damaged), encrypted PEM keys (PKCS#8 with PBKDF2 or scrypt, the traditional
//! `Proc-Type` form) and stash files. The material is made by the `openssl` command in each test;
//! a loaded identity is checked with a real rustls handshake.

use super::tests::{TempDir, client_config, handshake, read, server_config};
use super::*;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConnection, ServerConnection};

/// The password of the test material (a blank in it, as passwords may have).
const PW: &str = "Sesame 42";

/// Runs `openssl ARGS` in `dir`; panics unless it succeeds. Returns stdout and stderr.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

/// An RSA CA (`ca.pem`; its key in `ca-key.txt`, which a keyring directory does not read) and a leaf `stem.pem` + `stem.key` for `cn` (a server certificate
/// with DNS SAN `cn`), all made by openssl, as a z/OS CA and RACDCERT GENCERT would give.
fn rsa_pki(dir: &Path, leaves: &[(&str, &str)]) {
    let ca_subj = "/O=attls test/CN=Test RSA CA";
    let ca =
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.txt", "-out", "ca.pem", "-subj"];
    openssl(dir, &[&ca[..], &[ca_subj, "-days", "2"]].concat());
    for (stem, cn) in leaves {
        let ext =
            format!("subjectAltName=DNS:{cn}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
        fs::write(dir.join(format!("{stem}.ext")), ext).expect("write extensions");
        let (key, csr) = (format!("{stem}.key"), format!("{stem}.csr"));
        let subj = format!("/CN={cn}");
        openssl(
            dir,
            &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj],
        );
        let (pem, ext) = (format!("{stem}.pem"), format!("{stem}.ext"));
        let sign = ["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca-key.txt", "-CAcreateserial"];
        openssl(dir, &[&sign[..], &["-days", "2", "-extfile", &ext, "-out", &pem]].concat());
    }
}

/// `openssl pkcs12 -export` of `stem.pem` + `stem.key` + `ca.pem` with friendly names `stem` and
/// `ca` into `out` (OpenSSL 3 defaults, or `-legacy`), protected by `password`.
fn export_p12(dir: &Path, stem: &str, out: &str, legacy: bool, password: &str) -> PathBuf {
    let (pem, key, pass) = (format!("{stem}.pem"), format!("{stem}.key"), format!("pass:{password}"));
    let mut args = vec!["pkcs12", "-export", "-in", &pem, "-inkey", &key, "-certfile", "ca.pem"];
    args.extend(["-name", stem, "-caname", "ca", "-passout", &pass, "-out", out]);
    if legacy {
        args.push("-legacy");
    }
    openssl(dir, &args);
    dir.join(out)
}

/// Completes a handshake for `localhost` between `id` and a client trusting `ring`'s anchors.
fn serves_localhost(ring: &Keyring, id: &Identity) {
    let client_cfg = client_config(ring.root_store().expect("roots"), None);
    let name = ServerName::try_from("localhost").expect("server name");
    let mut client = ClientConnection::new(Arc::new(client_cfg), name).expect("client");
    let mut server = ServerConnection::new(Arc::new(server_config(id, None))).expect("server");
    handshake(&mut client, &mut server).expect("handshake with the loaded identity");
}

#[test]
fn pkcs12_modern_and_legacy_files_load_with_their_friendly_names() {
    let tmp = TempDir::new("p12");
    rsa_pki(&tmp.0, &[("server", "localhost")]);
    for (legacy, out, want) in [(false, "modern.p12", "AES-256-CBC"), (true, "legacy.pfx", "RC2")] {
        let p12 = export_p12(&tmp.0, "server", out, legacy, PW);
        // The material is what it claims to be (openssl's own account of the file).
        let pass = format!("pass:{PW}");
        let mut info = vec!["pkcs12", "-in", out, "-info", "-noout", "-passin", pass.as_str()];
        info.extend(legacy.then_some("-legacy"));
        let described = openssl(&tmp.0, &info);
        assert!(described.contains(want), "{out}: {described}");
        assert!(described.contains(if legacy { "sha1" } else { "sha256" }), "{out} MAC: {described}");

        let ring = load(&p12, Some(PW)).unwrap_or_else(|e| panic!("{out}: {e}"));
        let id = ring.identity(Some("server")).expect("by friendly name");
        assert_eq!(ring.identity(None).expect("the only keyed certificate").label, "server");
        assert_eq!((id.key_type, id.chain.len(), id.source.as_path()), (KeyType::Rsa, 2, p12.as_path()));
        assert!(id.subject.contains("CN=localhost"), "{}", id.subject);
        assert_eq!(ring.trust.len(), 1, "{out}: the CA is the one trust anchor");
        let e = ring.identity(Some("ca")).expect_err("the CA has no key");
        assert!(
            e.message.contains("`ca` has no private key") && e.hint.contains("keyed labels: server"),
            "{e}"
        );
        serves_localhost(&ring, id);

        let e = load(&p12, Some("wrong")).expect_err("wrong password");
        assert_eq!(e.path, p12);
        assert!(e.message.contains("does not open this PKCS#12 file"), "{e}");
        let e = load(&p12, None).expect_err("no password");
        assert!(e.message.contains("none was given") && e.hint.contains("KeyringStashFile"), "{e}");
    }
}

#[test]
fn pkcs12_with_two_keyed_certificates_is_chosen_from_by_label() {
    let tmp = TempDir::new("p12two");
    rsa_pki(&tmp.0, &[("web", "web.example"), ("api", "api.example")]);
    // openssl writes one key per file: p12-keystore packs both (keytool or a z/OS database would).
    let mut store = p12_keystore::KeyStore::new();
    for stem in ["web", "api"] {
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_file(tmp.join(&format!("{stem}.key"))).expect("key");
        let key = p12_keystore::PrivateKey::from_der(key.secret_der()).expect("PKCS#8 key");
        let certs = CertificateDer::pem_file_iter(tmp.join(&format!("{stem}.pem")))
            .expect("certs")
            .chain(CertificateDer::pem_file_iter(tmp.join("ca.pem")).expect("ca"))
            .map(|c| p12_keystore::Certificate::from_der(&c.expect("cert")).expect("x509"))
            .collect::<Vec<_>>();
        let chain = p12_keystore::PrivateKeyChain::new(stem.as_bytes().to_vec(), key, certs);
        store.add_entry(stem, p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    }
    let p12 = tmp.join("two.p12");
    fs::write(
        &p12,
        store.writer(PW).mac_iterations(2048).encryption_iterations(2048).write().expect("write PKCS#12"),
    )
    .expect("write file");
    // openssl reads both keys with their names.
    let dump = openssl(&tmp.0, &["pkcs12", "-in", "two.p12", "-nodes", "-passin", &format!("pass:{PW}")]);
    assert_eq!(dump.matches("BEGIN PRIVATE KEY").count(), 2, "{dump}");
    assert!(dump.contains("friendlyName: web") && dump.contains("friendlyName: api"), "{dump}");

    let ring = load(&p12, Some(PW)).expect("load");
    let e = ring.identity(None).expect_err("two keyed certificates");
    assert!(e.message.contains("2 keyed certificates") && e.hint.contains("CertificateLabel"), "{e}");
    assert!(ring.identity(Some("api")).expect("api").subject.contains("CN=api.example"));
    assert!(ring.identity(Some("web")).expect("web").subject.contains("CN=web.example"));
    assert_eq!(ring.trust.len(), 1, "the CA, once");
}

#[test]
fn pkcs12_without_password_as_base64_beside_pem_and_damaged() {
    let tmp = TempDir::new("p12misc");
    write_test_pki(&tmp.0, &[("server", "localhost", false)]).expect("pki");
    // An empty password opens with none given.
    let open = export_p12(&tmp.0, "server", "open.p12", false, "");
    let ring = load(&open, None).expect("empty password");
    assert_eq!(ring.identity(None).expect("identity").key_type, KeyType::Ecdsa);

    // RACDCERT FORMAT(PKCS12B64): the same bytes as base64 text.
    let p12 = export_p12(&tmp.0, "server", "server.p12", false, PW);
    let b64 = openssl(&tmp.0, &["base64", "-in", "server.p12"]);
    fs::write(tmp.join("b64.p12"), &b64).expect("write base64");
    let ring = load(&tmp.join("b64.p12"), Some(PW)).expect("base64 PKCS#12");
    serves_localhost(&ring, ring.identity(Some("server")).expect("server"));

    // A directory: the PKCS#12 file beside PEM files of another CA (more trust anchors).
    let dir = tmp.join("ring");
    write_test_pki(&dir, &[]).expect("another CA");
    fs::copy(&p12, dir.join("server.pfx")).expect("copy");
    let ring = load(&dir, Some(PW)).expect("directory");
    assert_eq!((ring.identities.len(), ring.trust.len()), (1, 2));
    assert_eq!(ring.identity(None).expect("identity").source, dir.join("server.pfx"));

    // Text that is not base64, and PEM text in a .p12 file.
    fs::write(tmp.join("text.p12"), "hello, world\n").expect("write");
    let e = load(&tmp.join("text.p12"), Some(PW)).expect_err("text");
    assert!(e.message.contains("is not a PKCS#12 file") && e.hint.contains("binary"), "{e}");
    fs::write(tmp.join("pem.p12"), read(&tmp.join("server.pem"))).expect("write");
    let e = load(&tmp.join("pem.p12"), Some(PW)).expect_err("pem");
    assert!(e.message.contains("holds PEM text") && e.hint.contains(".pem"), "{e}");

    // Damaged files (no MAC, so the damage reaches the parser and the decryption): errors, never
    // a panic, each naming the file.
    let nomac = tmp.join("nomac.p12");
    let (pass, out) = (format!("pass:{PW}"), "nomac.p12");
    openssl(
        &tmp.0,
        &[
            "pkcs12",
            "-export",
            "-in",
            "server.pem",
            "-inkey",
            "server.key",
            "-nomac",
            "-passout",
            &pass,
            "-out",
            out,
        ],
    );
    assert!(load(&nomac, Some(PW)).is_ok(), "a file without a MAC loads");
    let e = load(&nomac, Some("wrong")).expect_err("wrong password, no MAC");
    assert!(e.message.contains("does not open"), "{e}");
    let good = fs::read(&nomac).expect("read");
    let bad = tmp.join("bad.p12");
    for at in (0..good.len()).step_by(13).chain([good.len() / 2, good.len() - 1]) {
        for damage in [Damage::Truncate, Damage::Flip] {
            let bytes = match damage {
                Damage::Truncate => good[..at].to_vec(),
                Damage::Flip => {
                    let mut b = good.clone();
                    b[at] ^= 0x5a;
                    b
                }
            };
            fs::write(&bad, &bytes).expect("write");
            if let Err(e) = load(&bad, Some(PW)) {
                assert_eq!(e.path, bad, "{e}");
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Damage {
    Truncate,
    Flip,
}

/// Replaces `stem.key` by its encrypted form made by `openssl ARGS -in stem.key -out stem.key.enc`.
fn encrypt_key(dir: &Path, stem: &str, args: &[&str]) {
    let (key, enc) = (format!("{stem}.key"), format!("{stem}.key.enc"));
    let pass = format!("pass:{PW}");
    let mut all = args.to_vec();
    all.extend(["-in", &key, "-out", &enc, "-passout", &pass]);
    openssl(dir, &all);
    fs::rename(dir.join(&enc), dir.join(&key)).expect("replace key");
}

#[test]
fn encrypted_pkcs8_keys_open_with_the_password() {
    let variants: [&[&str]; 4] = [
        &["pkcs8", "-topk8", "-v2", "aes-256-cbc"],
        &["pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"],
        &["pkcs8", "-topk8", "-v2", "des3"],
        &["pkcs8", "-topk8", "-scrypt"],
    ];
    for args in variants {
        let tmp = TempDir::new("p8");
        write_test_pki(&tmp.0, &[("server", "localhost", false)]).expect("pki");
        encrypt_key(&tmp.0, "server", args);
        assert!(read(&tmp.join("server.key")).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let ring = load(&tmp.0, Some(PW)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        serves_localhost(&ring, ring.identity(None).expect("identity"));
        let e = load(&tmp.0, Some("not it")).expect_err("wrong password");
        assert_eq!(e.path, tmp.join("server.key"));
        assert!(e.message.contains("line 1") && e.message.contains("does not decrypt"), "{args:?}: {e}");
        assert!(e.hint.contains("openssl pkey -in"), "{e}");
    }
    // PBES1 (PKCS#12 key derivation with 3DES): refused, saying how to encrypt the key again.
    let tmp = TempDir::new("p8v1");
    write_test_pki(&tmp.0, &[("server", "localhost", false)]).expect("pki");
    encrypt_key(&tmp.0, "server", &["pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES"]);
    let e = load(&tmp.0, Some(PW)).expect_err("PBES1");
    assert!(e.message.contains("which attls does not read"), "{e}");
    assert!(e.hint.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc"), "{e}");
}

#[test]
fn traditional_encrypted_keys_open_with_the_password() {
    let tmp = TempDir::new("trad");
    rsa_pki(&tmp.0, &[("server", "localhost")]);
    let clear = read(&tmp.join("server.key"));
    for cipher in ["-aes256", "-aes128", "-des3"] {
        fs::write(tmp.join("server.key"), &clear).expect("restore key");
        encrypt_key(&tmp.0, "server", &["rsa", cipher, "-traditional"]);
        let text = read(&tmp.join("server.key"));
        assert!(text.contains("BEGIN RSA PRIVATE KEY") && text.contains("Proc-Type: 4,ENCRYPTED"), "{text}");
        let ring = load(&tmp.0, Some(PW)).unwrap_or_else(|e| panic!("{cipher}: {e}"));
        let id = ring.identity(Some("server")).expect("identity");
        assert_eq!(id.key_type, KeyType::Rsa);
        serves_localhost(&ring, id);
        let e = load(&tmp.0, Some("not it")).expect_err("wrong password");
        assert!(e.message.contains("does not decrypt"), "{cipher}: {e}");
    }
    // An EC key (`openssl ec -aes256` writes the traditional form).
    let ec = TempDir::new("tradec");
    write_test_pki(&ec.0, &[("server", "localhost", false)]).expect("pki");
    encrypt_key(&ec.0, "server", &["ec", "-aes256"]);
    assert!(read(&ec.join("server.key")).contains("BEGIN EC PRIVATE KEY"));
    let ring = load(&ec.0, Some(PW)).expect("EC key");
    serves_localhost(&ring, ring.identity(None).expect("identity"));
}

#[test]
fn stash_files_give_their_first_line_when_private() {
    let tmp = TempDir::new("stash");
    let stash = tmp.join("ring.sth");
    let write = |text: &[u8], mode: u32| {
        fs::write(&stash, text).expect("write stash");
        fs::set_permissions(&stash, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let shown = stash.to_str().expect("utf-8");
    write(b"Sesame 42\r\nsecond line\n", 0o600);
    assert_eq!(password_for(None, Some(shown), None).expect("0600"), Some("Sesame 42".into()));
    assert_eq!(password_for(Some("pw"), Some(shown), None).expect("KeyringPw first"), Some("pw".into()));
    assert_eq!(password_for(None, None, None).expect("none"), None);
    // Relative: from the policy file's directory.
    assert_eq!(
        password_for(None, Some("ring.sth"), Some(&tmp.0)).expect("relative"),
        Some("Sesame 42".into())
    );
    write(b"Sesame 42\n", 0o400);
    assert!(password_for(None, Some(shown), None).is_ok(), "0400");

    for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
        write(b"Sesame 42\n", mode);
        let e = password_for(None, Some(shown), None).expect_err("not private");
        assert_eq!(e.path, stash);
        assert!(e.message.contains(&format!("mode {mode:04o}")), "{e}");
        assert_eq!(e.hint, format!("chmod 600 {shown}"));
    }
    write(b"\nSesame 42\n", 0o600);
    assert!(
        password_for(None, Some(shown), None).expect_err("empty").message.contains("first line is empty")
    );
    write(&[0x93, 0xa5, 0x00, 0xf5, 0x12], 0o600);
    let e = password_for(None, Some(shown), None).expect_err("binary");
    assert!(e.message.contains("not text") && e.message.contains("gskkyman"), "{e}");
    let e = password_for(None, Some(tmp.0.to_str().expect("utf-8")), None).expect_err("a directory");
    assert!(e.message.contains("is not a file"), "{e}");
    let fifo = tmp.join("fifo.sth");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let e = password_for(None, fifo.to_str(), None).expect_err("a FIFO is not opened");
    assert!(e.message.contains("is not a file"), "{e}");
    let e = password_for(None, Some("/nonexistent/ring.sth"), None).expect_err("missing");
    assert!(e.message.contains("cannot read the stash file") && e.hint.contains("KeyringStashFile"), "{e}");
}
