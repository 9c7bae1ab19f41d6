//! Revocation checking (docs/policy-reference.md, "Revocation"), for client certificates in the
//! server roles and for the server's certificate in the Client role, with rustls's webpki
//! verifiers:
//!
//! - The keyring's certificate revocation lists are enforced on the peer's chain. A certificate
//!   whose issuer has no CRL has an unknown status: accepted under `RevocationSecurityLevel` Low
//!   and Medium, refused under High. A keyring without CRLs checks nothing (as z/OS without a
//!   revocation source).
//! - With `HttpCdpEnable On` (TTLSGskHttpCdpParms), CRLs fetched from the `http://` distribution
//!   points of the peer's end-entity certificate are used too ([`check`]), cached agent-wide
//!   ([`cache`]), fetched with a bounded HTTP GET ([`http`]). A fetch that fails leaves the status
//!   unknown; under High a certificate no CRL speaks for is refused.
//!
//! - With OCSP checking (TTLSGskOcspParms: `OcspAiaEnable On` or an `OcspUrl`), the peer's
//!   end-entity certificate is also asked about ([`ocsp_check`]): requests built and responses
//!   judged by hand ([`ocsp`], [`ocsp_response`], [`der`]), answers cached agent-wide
//!   ([`ocsp_cache`]). With `OcspServerStapling On` the server roles staple a response for their
//!   certificate ([`staple`]).
//!
//! A revoked certificate fails the handshake with return code 431.

/// The handshake-signature methods of a rustls certificate verifier, delegated unchanged to the
/// verifier `self.$base()` returns (the wrappers here change only the certificate check).
macro_rules! delegate_handshake_signatures {
    ($base:ident) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.$base().verify_tls12_signature(message, cert, dss)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.$base().verify_tls13_signature(message, cert, dss)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.$base().supported_verify_schemes()
        }
    };
}

mod cache;
mod check;
mod der;
mod fetch;
mod http;
pub mod news;
mod ocsp;
mod ocsp_cache;
mod ocsp_check;
mod ocsp_fetch;
mod ocsp_response;
pub mod staple;
mod verifiers;

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use self::cache::CrlCache;
use self::check::{Build, CdpCheck};
use self::ocsp_cache::OcspCache;
use self::ocsp_check::{OcspCheck, OcspClientVerifier, OcspServerVerifier};
use self::verifiers::{CdpClientVerifier, CdpServerVerifier};
use crate::keyring::Keyring;
use crate::policy::table::{RevocationLevel, Settings};

/// What an environment's resumable sessions follow: the revocation news of its CRL and OCSP
/// caches (a handle that keeps them alive).
#[derive(Clone)]
pub struct NewsHandle {
    crl: Option<Arc<CrlCache>>,
    ocsp: Option<Arc<OcspCache>>,
}

impl std::fmt::Debug for NewsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NewsHandle").field(&self.since_ms()).finish()
    }
}

impl NewsHandle {
    /// Sessions issued before this (Unix milliseconds) may not be resumed; 0 = none refused.
    pub fn since_ms(&self) -> u64 {
        let crl = self.crl.as_ref().map_or(0, |c| c.news().since_ms());
        let ocsp = self.ocsp.as_ref().map_or(0, |c| c.news().since_ms());
        crl.max(ocsp)
    }
}

/// The news handle of `s`'s CRL fetching and OCSP checking; `None` with neither (keyring CRLs are
/// part of the environment identity instead: a new one starts the environment afresh).
pub fn news_for(s: &Settings) -> Option<NewsHandle> {
    let crl = s.http_cdp.enable.then(|| CrlCache::shared(&s.http_cdp));
    let ocsp = s.ocsp.checking().then(|| OcspCache::shared(&s.ocsp));
    (crl.is_some() || ocsp.is_some()).then_some(NewsHandle { crl, ocsp })
}

fn keyring_crls(keyring: &Keyring) -> Vec<CertificateRevocationListDer<'static>> {
    keyring.crls.iter().map(|c| c.der.clone()).collect()
}

/// Whether some CRL can settle a status OCSP leaves unknown (under High).
fn has_crl_source(s: &Settings, keyring: &Keyring) -> bool {
    s.http_cdp.enable || !keyring.crls.is_empty()
}

/// The verifier of client certificates (server roles); `optional`: a client may send none
/// (`ClientAuthType Full`).
pub fn client_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    s: &Settings,
    keyring: &Keyring,
    optional: bool,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let high = s.revocation_level == RevocationLevel::High;
    let crls = |high| crl_client_verifier(roots.clone(), provider.clone(), s, keyring, optional, high);
    if !s.ocsp.checking() {
        return crls(high);
    }
    let strict = (high && has_crl_source(s, keyring)).then(|| crls(true)).transpose()?;
    let check = OcspCheck::new(&s.ocsp, keyring.trust.clone(), high);
    Ok(Arc::new(OcspClientVerifier { lenient: crls(false)?, strict, check }))
}

/// The verifier of client certificates with CRLs alone; `high`: an unknown status is refused.
fn crl_client_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    s: &Settings,
    keyring: &Keyring,
    optional: bool,
    high: bool,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let build: Build<Arc<dyn ClientCertVerifier>> = Box::new(move |crls, allow_unknown| {
        let mut b =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).with_crls(crls);
        if allow_unknown {
            b = b.allow_unknown_revocation_status();
        }
        if optional {
            b = b.allow_unauthenticated();
        }
        b.build().map_err(|e| e.to_string())
    });
    if !s.http_cdp.enable {
        return build(keyring_crls(keyring), !high);
    }
    let check = CdpCheck::new(build, keyring_crls(keyring), high, CrlCache::shared(&s.http_cdp))?;
    Ok(Arc::new(CdpClientVerifier(check)))
}

/// The verifier of the server's certificate (Client role).
pub fn server_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    s: &Settings,
    keyring: &Keyring,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let high = s.revocation_level == RevocationLevel::High;
    let crls = |high| crl_server_verifier(roots.clone(), provider.clone(), s, keyring, high);
    if !s.ocsp.checking() {
        return crls(high);
    }
    let strict = (high && has_crl_source(s, keyring)).then(|| crls(true)).transpose()?;
    let check = OcspCheck::new(&s.ocsp, keyring.trust.clone(), high);
    Ok(Arc::new(OcspServerVerifier { lenient: crls(false)?, strict, check }))
}

fn crl_server_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    s: &Settings,
    keyring: &Keyring,
    high: bool,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let build: Build<Arc<WebPkiServerVerifier>> = Box::new(move |crls, allow_unknown| {
        let mut b =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).with_crls(crls);
        if allow_unknown {
            b = b.allow_unknown_revocation_status();
        }
        b.build().map_err(|e| e.to_string())
    });
    if !s.http_cdp.enable {
        return Ok(build(keyring_crls(keyring), !high)?);
    }
    let check = CdpCheck::new(build, keyring_crls(keyring), high, CrlCache::shared(&s.http_cdp))?;
    Ok(Arc::new(CdpServerVerifier(check)))
}
