//! Revocation checking with the keyring's certificate revocation lists (docs/policy-reference.md,
//! "Revocation"): a keyring with CRLs has them enforced on the peer's chain, for client
//! certificates in the server roles and for the server's certificate in the Client role. A
//! certificate whose issuer has no CRL in the keyring has an unknown status: accepted under
//! `RevocationSecurityLevel` Low and Medium, refused under High. A keyring without CRLs checks
//! nothing (as z/OS without a revocation source). A revoked certificate fails the handshake with
//! return code 431.

use rustls::client::ServerCertVerifierBuilder;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::ClientCertVerifierBuilder;

use crate::keyring::Keyring;
use crate::policy::table::{RevocationLevel, Settings};

fn crls(keyring: &Keyring) -> Vec<CertificateRevocationListDer<'static>> {
    keyring.crls.iter().map(|c| c.der.clone()).collect()
}

/// Client certificates (server roles).
pub fn client_certs(
    b: ClientCertVerifierBuilder,
    s: &Settings,
    keyring: &Keyring,
) -> ClientCertVerifierBuilder {
    if keyring.crls.is_empty() {
        return b;
    }
    let b = b.with_crls(crls(keyring));
    if s.revocation_level == RevocationLevel::High { b } else { b.allow_unknown_revocation_status() }
}

/// The server's certificate (Client role).
pub fn server_certs(
    b: ServerCertVerifierBuilder,
    s: &Settings,
    keyring: &Keyring,
) -> ServerCertVerifierBuilder {
    if keyring.crls.is_empty() {
        return b;
    }
    let b = b.with_crls(crls(keyring));
    if s.revocation_level == RevocationLevel::High { b } else { b.allow_unknown_revocation_status() }
}
