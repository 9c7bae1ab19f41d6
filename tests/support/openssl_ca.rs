//! A test CA made with the openssl CLI (`openssl req`, `openssl ca`): leaves for `localhost` with
//! optional extensions (a CRL distribution point, an AIA OCSP URI), revocation and CRLs as
//! `openssl ca` makes them, delegated OCSP responder certificates and `openssl ocsp` responders;
//! and the s_client check of whether an agent serves a client certificate. Used by the revocation
//! tests (keyring CRLs, CRLs fetched over HTTP, OCSP).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::agent::eventually;
use super::agent::peers::Spawned;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const CA_CONF: &str = "[ca]\ndefault_ca = this\n[this]\ndir = .\ndatabase = index.txt\nnew_certs_dir = issued\n\
certificate = ca.pem\nprivate_key = ca.key\nserial = serial\ncrlnumber = crlnumber\ndefault_md = sha256\n\
default_days = 2\ndefault_crl_days = 2\npolicy = any\nunique_subject = no\ncopy_extensions = copy\n\
[any]\ncommonName = supplied\n";

/// A CA made with `openssl ca` in `dir`, issuing leaves; `revoke` and `crl` as the CLI does.
pub struct Ca {
    pub dir: PathBuf,
}

impl Ca {
    pub fn new(dir: PathBuf, name: &str) -> Ca {
        std::fs::create_dir_all(dir.join("issued")).unwrap();
        std::fs::write(dir.join("ca.cnf"), CA_CONF).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "1000\n").unwrap();
        let subject = format!("/CN={name}");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                &subject,
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Ca { dir }
    }

    /// `NAME.pem` and `NAME.key`: a leaf for `localhost`, usable by clients and servers.
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue_with(name, &[])
    }

    /// [`Ca::issue`] with more `-addext` extensions (`crlDistributionPoints=URI:…`).
    pub fn issue_with(&self, name: &str, extensions: &[&str]) -> (PathBuf, PathBuf) {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        let subject = format!("/CN={name}");
        let mut args = vec![
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subject,
            "-addext",
            "subjectAltName=DNS:localhost",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth",
        ];
        for ext in extensions {
            args.extend(["-addext", ext]);
        }
        openssl(&self.dir, &args);
        openssl(&self.dir, &["ca", "-batch", "-config", "ca.cnf", "-notext", "-in", &csr, "-out", &pem]);
        (self.dir.join(pem), self.dir.join(key))
    }

    pub fn revoke(&self, name: &str) {
        openssl(&self.dir, &["ca", "-config", "ca.cnf", "-revoke", &format!("{name}.pem")]);
    }

    /// A fresh CRL, PEM, whose next update is `seconds` away.
    pub fn crl_for(&self, seconds: u32) -> String {
        let secs = seconds.to_string();
        openssl(&self.dir, &["ca", "-config", "ca.cnf", "-gencrl", "-crlsec", &secs, "-out", "crl.pem"]);
        std::fs::read_to_string(self.dir.join("crl.pem")).unwrap()
    }

    /// A fresh CRL, PEM.
    pub fn crl(&self) -> String {
        openssl(&self.dir, &["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"]);
        std::fs::read_to_string(self.dir.join("crl.pem")).unwrap()
    }
}

impl Ca {
    /// `NAME.pem` and `NAME.key`: a delegated OCSP responder (extended key usage OCSPSigning).
    pub fn issue_responder(&self, name: &str) -> (PathBuf, PathBuf) {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        let subject = format!("/CN={name}");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subject,
                "-addext",
                "extendedKeyUsage=OCSPSigning",
            ],
        );
        openssl(&self.dir, &["ca", "-batch", "-config", "ca.cnf", "-notext", "-in", &csr, "-out", &pem]);
        (self.dir.join(pem), self.dir.join(key))
    }

    /// `openssl ocsp` answering from this CA's index on `port` (all addresses), signing with
    /// `signer` and `key` (the CA's own, a delegated responder's, or a stranger's), ready when it
    /// accepts connections. Revocations made after it starts may not be seen.
    pub fn responder(&self, port: u16, signer: &Path, key: &Path) -> Spawned {
        let mut cmd = Command::new("openssl");
        cmd.current_dir(&self.dir)
            .args(["ocsp", "-index", "index.txt", "-port", &port.to_string(), "-CA", "ca.pem", "-rsigner"])
            .arg(signer)
            .arg("-rkey")
            .arg(key)
            .arg("-ignore_err");
        let mut responder = Spawned::spawn(cmd);
        // Not probed with a connection: the responder serves one at a time and would wait on it.
        let up = eventually(Duration::from_secs(10), || {
            responder.stderr().contains("waiting for OCSP client connections")
                || responder.child.try_wait().ok().flatten().is_some()
        });
        assert!(
            up && responder.child.try_wait().ok().flatten().is_none(),
            "openssl ocsp: {}",
            responder.stderr()
        );
        responder
    }
}

/// A loopback port nothing listens on now (for a URL written into certificates before its server
/// starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Copies `files` into the keyring directory `ring`.
pub fn ring_with(ring: &Path, files: &[(&Path, &str)]) {
    std::fs::create_dir_all(ring).unwrap();
    for (from, name) in files {
        std::fs::copy(from, ring.join(name)).unwrap();
    }
}

/// Whether openssl s_client (with `extra`, e.g. a client certificate) gets a line echoed through `addr`.
pub fn served(addr: SocketAddr, ca: &Path, extra: &[&str]) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), "-servername", "localhost", "-CAfile"])
        .arg(ca)
        .args(extra);
    let mut c = Spawned::spawn(cmd);
    c.write(b"revocation-ping\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    let echoed = |c: &Spawned| String::from_utf8_lossy(&c.stdout()).contains("revocation-ping");
    while !echoed(&c) && Instant::now() < deadline && c.child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok = echoed(&c);
    c.close_stdin();
    c.wait(Duration::from_secs(5));
    ok
}

/// The s_client options presenting `pem` and `key`.
pub fn client<'a>(pem: &'a Path, key: &'a Path) -> [&'a str; 4] {
    ["-cert", pem.to_str().unwrap(), "-key", key.to_str().unwrap()]
}
