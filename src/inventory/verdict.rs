//! Whether a client profile would pass a candidate rule, judged as the agent's server-role
//! handshake would: the rule's effective settings become what `engine::tls` gives rustls
//! (protocol versions from the TLSv1.2/TLSv1.3 switches, the suites of `ciphers_rustls` in policy
//! order, the key-exchange groups of `groups_rustls` or the provider's, client authentication from
//! HandshakeRole and ClientAuthType), and the profile goes through rustls's own order of choices:
//! version, group, cipher suite, signature algorithm, then the client certificate.
//!
//! When the server certificates' keys are known ([`Offer::keys`], read from the candidate's
//! keyring), a TLS 1.2 suite counts only if some certificate can serve it (ECDHE_RSA needs an RSA
//! key, ECDHE_ECDSA an ECDSA or Ed25519 key) and the client's signature algorithms must include one
//! such a key can sign with; otherwise only the presence of signature_algorithms is checked.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::sign::SigningKey;

use super::hello::{TLS12, TLS13};
use super::{CertSent, Profile};
use crate::policy::ciphers::is_tls13;
use crate::policy::rustls_caps;
use crate::policy::table::{ClientAuthType, Role, Settings};

/// The reasons a profile fails (the words are a contract: docs/clients.md).
pub const NO_VERSION: &str = "no common protocol version";
pub const NO_GROUP: &str = "no common group";
pub const NO_SUITE: &str = "no common cipher suite";
pub const NO_SIGALG: &str = "no common signature algorithm";
pub const NO_CERT: &str = "no certificate";

/// What a candidate rule offers a TLS client.
pub struct Offer {
    pub tls12: bool,
    pub tls13: bool,
    /// Suite codes in policy order: those rustls supports whose protocol is On.
    pub suites: Vec<u16>,
    pub groups: Vec<u16>,
    /// ServerWithClientAuth under ClientAuthType Required or SAFCheck.
    pub certificate_required: bool,
    /// The server certificates' keys (`None`: not known, so not checked).
    pub keys: Option<Vec<Arc<dyn SigningKey>>>,
    /// Why the rule takes no TLS client at all.
    pub refusal: Option<String>,
}

impl Offer {
    /// What `s` offers a client, as `engine::tls::build` configures rustls (keys not read).
    pub fn of(s: &Settings) -> Offer {
        let refusal = if !s.ttls_enabled {
            Some("TLS not enabled (TTLSEnabled Off)".to_string())
        } else {
            match s.handshake_role {
                Some(Role::Server | Role::ServerWithClientAuth) => None,
                Some(Role::Client) => Some("HandshakeRole Client takes no TLS client".to_string()),
                None => Some("no HandshakeRole".to_string()),
            }
        };
        let provider_groups =
            || rustls_caps::provider().kx_groups.iter().map(|g| u16::from(g.name())).collect();
        let mut suites = s.ciphers_rustls.clone();
        let mut groups: Vec<u16> = s.groups_rustls.clone().unwrap_or_else(provider_groups);
        // A FIPS build runs a FIPS140 rule with the approved algorithms only (engine::fips).
        if s.fips_enforced() {
            suites.retain(|&c| rustls_caps::fips_cipher(c));
            groups.retain(|&g| rustls_caps::fips_group(g));
        }
        Offer {
            tls12: s.protocols.tlsv1_2,
            tls13: s.protocols.tlsv1_3,
            suites,
            groups,
            certificate_required: s.handshake_role == Some(Role::ServerWithClientAuth)
                && matches!(s.client_auth_type, ClientAuthType::Required | ClientAuthType::SafCheck),
            keys: None,
            refusal,
        }
    }
}

/// Why `p` would fail against `offer`, in the order rustls meets them; empty: it would pass.
pub fn judge(offer: &Offer, p: &Profile) -> Vec<String> {
    if let Some(r) = &offer.refusal {
        return vec![r.clone()];
    }
    let h = &p.hello;
    let mut reasons = Vec::new();
    let version = if h.offers_tls13() && offer.tls13 {
        Some(TLS13)
    } else if h.offers_tls12() && offer.tls12 {
        Some(TLS12)
    } else {
        None
    };
    match version {
        None => reasons.push(NO_VERSION),
        Some(v) => {
            let client_groups = h.groups.as_deref().unwrap_or_default();
            if !offer.groups.iter().any(|g| client_groups.contains(g)) {
                reasons.push(NO_GROUP);
            }
            if !offer
                .suites
                .iter()
                .any(|&c| is_tls13(c) == (v == TLS13) && serves(offer, c) && h.cipher_suites.contains(&c))
            {
                reasons.push(NO_SUITE);
            }
            if !signs(offer, h.signature_algorithms.as_deref(), v) {
                reasons.push(NO_SIGALG);
            }
        }
    }
    if offer.certificate_required && p.certificate != CertSent::Sent {
        reasons.push(NO_CERT);
    }
    reasons.into_iter().map(String::from).collect()
}

/// Whether some server key can serve suite `code` (always for TLS 1.3 suites and unknown keys).
fn serves(offer: &Offer, code: u16) -> bool {
    let Some(keys) = &offer.keys else { return true };
    let Some(suite) = rustls_caps::provider().cipher_suites.iter().find(|s| u16::from(s.suite()) == code)
    else {
        return false;
    };
    keys.iter().any(|k| suite.usable_for_signature_algorithm(k.algorithm()))
}

/// Whether the client's signature algorithms (required by rustls) include one a server key signs
/// with under version `v` (TLS 1.3 takes no PKCS#1 v1.5 or SHA-1 schemes).
fn signs(offer: &Offer, offered: Option<&[u16]>, v: u16) -> bool {
    let Some(offered) = offered else { return false };
    let Some(keys) = &offer.keys else { return true };
    let schemes: Vec<SignatureScheme> = offered
        .iter()
        .filter(|&&c| v != TLS13 || allowed_in_tls13(c))
        .map(|&c| SignatureScheme::from(c))
        .collect();
    keys.iter().any(|k| k.choose_scheme(&schemes).is_some())
}

/// RFC 8446 4.2.3: TLS 1.3 signs with no MD5, SHA-1 or SHA-224 hash (high byte 1 to 3, or none)
/// and no anonymous, PKCS#1 v1.5 RSA or DSA signature (low byte 0 to 2) of the TLS 1.2 code points.
fn allowed_in_tls13(code: u16) -> bool {
    let [hash, sign] = code.to_be_bytes();
    !(hash <= 3 || sign <= 2)
}
