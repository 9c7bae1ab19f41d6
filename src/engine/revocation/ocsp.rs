//! OCSP (RFC 6960) with `TTLSGskOcspParms`: the request for one certificate, and the pieces both
//! the checking of peer certificates ([`super::ocsp_check`]) and the stapling of the server's own
//! ([`super::staple`]) use: the CertID (SHA-1 of the issuer's name and key, and the serial), the
//! responder URLs (`OcspUrl` and, with `OcspAiaEnable On`, the certificate's AIA OCSP URIs, in the
//! order `OcspUrlPriority` gives), the issuer found among the chain and trust anchors, and
//! signature verification with the rustls crypto provider's algorithms.
//!
//! Requests are unsigned and POSTed (`application/ocsp-request`); with `OcspNonceGenEnable On` they
//! carry a nonce of `OcspNonceSize` random bytes.

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::pki_types::SignatureVerificationAlgorithm;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::der::{self, INTEGER, NULL, OCTET_STRING, OID};
use super::http;
use crate::policy::table::OcspSettings;

/// AIA OCSP URLs taken from one certificate (the rest are ignored).
pub const MAX_AIA_URLS: usize = 4;
/// The SHA-1 OID (1.3.14.3.2.26), contents.
pub const SHA1_OID: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2), contents.
pub const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// The algorithms responses and responder certificates may be signed with: the provider's.
pub fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    crate::policy::rustls_caps::provider().signature_verification_algorithms.all
}

/// Which certificate a request or a single response is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    /// SHA-1 of the issuer's subject name (DER).
    pub name_hash: Vec<u8>,
    /// SHA-1 of the issuer's public key bits: with the serial, the cache key.
    pub key_hash: Vec<u8>,
    /// The serial number's INTEGER contents, as the certificate encodes it.
    pub serial: Vec<u8>,
}

impl CertId {
    /// The CertID of `cert`, issued by `issuer`.
    pub fn of(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<CertId, String> {
        let (_, key) = der::public_key(issuer.public_key().raw)?;
        Ok(CertId {
            name_hash: digest(&SHA1_FOR_LEGACY_USE_ONLY, cert.issuer().as_raw()).as_ref().to_vec(),
            key_hash: digest(&SHA1_FOR_LEGACY_USE_ONLY, key).as_ref().to_vec(),
            serial: cert.raw_serial().to_vec(),
        })
    }

    pub fn to_der(&self) -> Vec<u8> {
        let algorithm = der::sequence(&[&der::encode(OID, SHA1_OID), &der::encode(NULL, &[])]);
        der::sequence(&[
            &algorithm,
            &der::encode(OCTET_STRING, &self.name_hash),
            &der::encode(OCTET_STRING, &self.key_hash),
            &der::encode(INTEGER, &self.serial),
        ])
    }
}

/// The DER of a nonce extension's extnValue contents: an OCTET STRING of `size` random bytes.
pub fn new_nonce(size: u32) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; size.clamp(1, 256) as usize];
    SystemRandom::new().fill(&mut bytes).map_err(|_| "no random bytes for the nonce".to_string())?;
    Ok(der::encode(OCTET_STRING, &bytes))
}

/// An OCSPRequest for `id`, unsigned, with the nonce extension when `nonce` (its extnValue
/// contents) is given.
pub fn request(id: &CertId, nonce: Option<&[u8]>) -> Vec<u8> {
    let single = der::sequence(&[&id.to_der()]);
    let mut tbs = vec![der::sequence(&[&single])];
    if let Some(nonce) = nonce {
        let extension = der::sequence(&[&der::encode(OID, NONCE_OID), &der::encode(OCTET_STRING, nonce)]);
        tbs.push(der::encode(0xa2, &der::sequence(&[&extension])));
    }
    let tbs: Vec<&[u8]> = tbs.iter().map(Vec::as_slice).collect();
    der::sequence(&[&der::sequence(&tbs)])
}

/// The responders to ask about `cert`, in order: `OcspUrl` and (with `OcspAiaEnable On`) the
/// certificate's AIA OCSP `http://` URIs, `OcspUrl` first under `OcspUrlPriority On`.
pub fn responder_urls(s: &OcspSettings, cert: &X509Certificate<'_>) -> Vec<String> {
    let fixed: Vec<String> = s.url.iter().filter(|u| http::parse_url(u).is_some()).cloned().collect();
    let aia = if s.aia_enable { aia_urls(cert) } else { Vec::new() };
    let (first, second) = if s.url_priority { (fixed, aia) } else { (aia, fixed) };
    let mut urls = first;
    for url in second {
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// The `http://` OCSP URIs of a certificate's Authority Information Access extension.
pub fn aia_urls(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for ext in cert.extensions() {
        let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() else { continue };
        for access in &aia.accessdescs {
            if access.access_method != OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                continue;
            }
            if let GeneralName::URI(uri) = &access.access_location
                && http::parse_url(uri).is_some()
                && !urls.iter().any(|u| u == uri)
                && urls.len() < MAX_AIA_URLS
            {
                urls.push(uri.to_string());
            }
        }
    }
    urls
}

/// Whether `signature` over `message`, with the algorithm whose AlgorithmIdentifier contents are
/// `algorithm`, is the one of the key in `signer` (a certificate, DER).
pub fn signed_by(signer: &X509Certificate<'_>, algorithm: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok((key_algorithm, key)) = der::public_key(signer.public_key().raw) else { return false };
    algorithms().iter().any(|alg| {
        alg.public_key_alg_id().as_ref() == key_algorithm
            && alg.signature_alg_id().as_ref() == algorithm
            && alg.verify_signature(key, message, signature).is_ok()
    })
}

/// Whether `cert` (DER) carries a signature by `issuer`'s key.
pub fn issued_by(cert: &[u8], issuer: &X509Certificate<'_>) -> bool {
    der::signed(cert).is_ok_and(|s| signed_by(issuer, s.algorithm, s.signed, s.signature))
}

/// The issuer of `cert` among `candidates` (DER): the one whose subject is `cert`'s issuer and
/// whose key signed it.
pub fn find_issuer<'a>(cert: &[u8], candidates: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    let (_, parsed) = X509Certificate::from_der(cert).ok()?;
    candidates.into_iter().find(|c| {
        X509Certificate::from_der(c).is_ok_and(|(_, issuer)| {
            issuer.subject().as_raw() == parsed.issuer().as_raw() && issued_by(cert, &issuer)
        })
    })
}
