//! An environment's identity for resumption: a digest of what a resumed TLS session depends on
//! (the role, the certificates offered and trusted, the protocol versions, cipher suites and
//! groups, client authentication, the session settings). Two generations, or two agents, with the
//! same identity can resume each other's sessions; any difference starts fresh. Paths, spans and
//! rule names are left out, so the identity survives a policy edit elsewhere and is the same on
//! every agent of a fleet that has the same keyring contents and settings.

use ring::digest::{Context, SHA256};

use crate::keyring::Keyring;
use crate::policy::table::Settings;

/// The identity: a SHA-256 digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnvId(pub [u8; 32]);

impl EnvId {
    /// The identity of `s` with `keyring` (the keyring its `Keyring` names).
    pub fn of(s: &Settings, keyring: &Keyring) -> EnvId {
        let mut d = Digest(Context::new(&SHA256));
        d.field("version", b"attls-env-1");
        d.field("role", format!("{:?}", s.handshake_role).as_bytes());
        d.field("client-auth", format!("{:?}", s.client_auth_type).as_bytes());
        d.field("label", s.certificate_label.as_deref().unwrap_or("").as_bytes());
        d.field("tls13", &[u8::from(s.protocols.tlsv1_3)]);
        d.field("tls12", &[u8::from(s.protocols.tlsv1_2)]);
        d.codes("ciphers", &s.ciphers_rustls);
        d.codes("groups", s.groups_rustls.as_deref().unwrap_or(&[]));
        d.field("sni", s.client_handshake_sni.unwrap_or("").as_bytes());
        for name in s.client_handshake_sni_list.iter().chain(&s.host_reference_id_dns) {
            d.field("name", name.as_bytes());
        }
        d.field("session", format!("{:?}", s.session).as_bytes());
        d.field("server-certs", format!("{:?}", s.server_certs).as_bytes());
        // Every keyed certificate (any may be presented: ServerCertificateLabel, SNI).
        for id in &keyring.identities {
            d.field("label", id.label.as_bytes());
            for cert in &id.chain {
                d.field("chain", cert.as_ref());
            }
        }
        for cert in &keyring.trust {
            d.field("trust", cert.as_ref());
        }
        // A new CRL ends the sessions of the certificates it revokes.
        for crl in &keyring.crls {
            d.field("crl", crl.der.as_ref());
        }
        d.field("revocation", format!("{:?}", s.revocation_level).as_bytes());
        d.field("http-cdp", format!("{:?}", s.http_cdp).as_bytes());
        d.field("ocsp", format!("{:?}", s.ocsp).as_bytes());
        EnvId(d.finish())
    }
}

/// A digest of length-prefixed, labelled fields (no two field lists hash alike).
struct Digest(Context);

impl Digest {
    fn field(&mut self, label: &str, bytes: &[u8]) {
        self.0.update(label.as_bytes());
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn codes(&mut self, label: &str, codes: &[u16]) {
        let bytes: Vec<u8> = codes.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.field(label, &bytes);
    }

    fn finish(self) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}
