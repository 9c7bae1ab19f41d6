//! Which CAs a `ServerWithClientAuth` rule trusts for client certificates that also issued the
//! server's own chain. Every certificate of a keyring but the server's leaf is a trust anchor for
//! client authentication, the server chain's intermediates and root included (z/OS key rings behave
//! alike), so such a CA lets any certificate it issues, for whatever host or user, in as a client.
//! `pagent check -c CONFIG`, which opens the keyrings, warns about it (docs/security.md).
//!
//! "Issued" is decided as path building does: the issuer name of a certificate equals the CA's
//! subject, and where both carry key identifiers the authority key identifier equals the CA's
//! subject key identifier (so two CAs with the same name are told apart). The closure is taken: a
//! root that issued an intermediate of the chain counts too.

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::ParsedExtension;

use super::tls::Keyrings;
use crate::policy::table::{ClientAuthType, Role, Settings};

/// The names and key identifiers of one certificate.
#[derive(Debug, Clone)]
struct Names {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    /// The subject as text (`CN=attls test CA`).
    shown: String,
}

fn names(der: &CertificateDer<'_>) -> Option<Names> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let mut n = Names {
        subject: cert.subject().as_raw().to_vec(),
        issuer: cert.issuer().as_raw().to_vec(),
        subject_key_id: None,
        authority_key_id: None,
        shown: cert.subject().to_string(),
    };
    for ext in cert.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => n.subject_key_id = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                n.authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            _ => {}
        }
    }
    Some(n)
}

/// Whether `ca` issued `cert` (names, and key identifiers where both have them).
fn issued(cert: &Names, ca: &Names) -> bool {
    cert.issuer == ca.subject
        && match (&cert.authority_key_id, &ca.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
}

/// The subjects of the certificates of `trust` that issued a certificate of `chain`, directly or
/// through another of them, in `trust` order, each once.
pub fn issuers_of_chain(chain: &[CertificateDer<'_>], trust: &[CertificateDer<'_>]) -> Vec<String> {
    let anchors: Vec<Names> = trust.iter().filter_map(names).collect();
    let mut found = vec![false; anchors.len()];
    let mut pending: Vec<Names> = chain.iter().filter_map(names).collect();
    while let Some(cert) = pending.pop() {
        for (i, ca) in anchors.iter().enumerate() {
            if !found[i] && issued(&cert, ca) {
                found[i] = true;
                pending.push(ca.clone());
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    for (ca, _) in anchors.iter().zip(found).filter(|(_, f)| *f) {
        if !out.contains(&ca.shown) {
            out.push(ca.shown.clone());
        }
    }
    out
}

/// For a rule that validates client certificates (`ServerWithClientAuth`, ClientAuthType other than
/// PassThru): the CAs its keyring trusts for clients that also issued its server certificate's
/// chain. Empty for other rules, and when the keyring or certificate cannot be had (the caller
/// reports that through `tls::build`).
pub fn server_issuers_trusted_for_clients(s: &Settings, keyrings: &mut Keyrings<'_>) -> Vec<String> {
    if s.handshake_role != Some(Role::ServerWithClientAuth) || s.client_auth_type == ClientAuthType::PassThru
    {
        return Vec::new();
    }
    let Some(ring) = s.keyring.as_deref() else { return Vec::new() };
    let (pw, stash) = (s.keyring_pw.as_deref(), s.keyring_stash_file.as_deref());
    let Ok(password) = crate::keyring::password_for(pw, stash, s.keyring_dir.as_deref()) else {
        return Vec::new();
    };
    let Ok(keyring) = keyrings.open(ring, s.keyring_dir.as_deref(), password.as_deref()) else {
        return Vec::new();
    };
    match keyring.identity(s.certificate_label.as_deref()) {
        Ok(id) => issuers_of_chain(&id.chain, &keyring.trust),
        Err(_) => Vec::new(),
    }
}

/// The warning about `cas` for a rule's keyring, in the D11 shape at its `Keyring` line, rendered.
pub fn overlap_warning(
    rule: &str,
    s: &Settings,
    cas: &[String],
    sources: &crate::policy::SourceMap,
) -> String {
    use crate::policy::{Diagnostic, Diagnostics};
    let list = cas.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let message = format!(
        "client certificates are accepted when issued by {list}, which also issued the server certificate's chain (ClientAuthType {})",
        s.client_auth_type.word()
    );
    let hint = "every certificate of the keyring but the server's leaf is a client trust anchor, so any \
                certificate that CA issues (for any host or user) passes; issue client certificates from \
                a CA of their own and serve a certificate whose issuers are not in this keyring";
    let Some(span) = s.keyring_span else { return format!("warning: TTLSRule {rule}: {message}\n") };
    let mut d = Diagnostics::default();
    d.push(Diagnostic::warning(span, message, hint));
    d.render(sources)
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use rustls::pki_types::CertificateDer;

    use super::issuers_of_chain;

    fn ca(cn: &str, issuer: Option<&(rcgen::Certificate, KeyPair)>) -> (rcgen::Certificate, KeyPair) {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("key");
        let cert = match issuer {
            Some((c, k)) => p.signed_by(&key, c, k).expect("sign"),
            None => p.self_signed(&key).expect("self-sign"),
        };
        (cert, key)
    }

    fn der(c: &(rcgen::Certificate, KeyPair)) -> CertificateDer<'static> {
        c.0.der().clone()
    }

    #[test]
    fn the_roots_and_intermediates_above_the_server_leaf_are_found_and_namesakes_are_not() {
        let root = ca("Root CA", None);
        let inter = ca("Issuing CA", Some(&root));
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        leaf.use_authority_key_identifier_extension = true;
        let leaf = leaf.signed_by(&KeyPair::generate().expect("key"), &inter.0, &inter.1).expect("leaf");
        let namesake = ca("Root CA", None);
        let clients = ca("Client CA", None);

        let chain = [leaf.der().clone(), der(&inter)];
        let trust = [der(&clients), der(&namesake), der(&inter), der(&root)];
        assert_eq!(issuers_of_chain(&chain, &trust), ["CN=Issuing CA", "CN=Root CA"]);
        // The leaf alone: its issuer and, through it, the root.
        assert_eq!(issuers_of_chain(&chain[..1], &trust), ["CN=Issuing CA", "CN=Root CA"]);
        assert!(issuers_of_chain(&chain, &[der(&clients), der(&namesake)]).is_empty());
    }
}
