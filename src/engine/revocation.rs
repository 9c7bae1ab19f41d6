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
//! A revoked certificate fails the handshake with return code 431.

mod cache;
mod check;
mod fetch;
mod http;
pub mod news;
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
use self::verifiers::{CdpClientVerifier, CdpServerVerifier};
use crate::keyring::Keyring;
use crate::policy::table::{RevocationLevel, Settings};

/// What an environment's resumable sessions follow: the revocation news of its CRL cache (a
/// handle that keeps the cache alive).
#[derive(Clone)]
pub struct NewsHandle(Arc<CrlCache>);

impl std::fmt::Debug for NewsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NewsHandle").field(&self.since_ms()).finish()
    }
}

impl NewsHandle {
    /// Sessions issued before this (Unix milliseconds) may not be resumed; 0 = none refused.
    pub fn since_ms(&self) -> u64 {
        self.0.news().since_ms()
    }
}

/// The news handle of `s`'s CRL fetching; `None` without `HttpCdpEnable On` (keyring CRLs are part
/// of the environment identity instead: a new one starts the environment afresh).
pub fn news_for(s: &Settings) -> Option<NewsHandle> {
    s.http_cdp.enable.then(|| NewsHandle(CrlCache::shared(&s.http_cdp)))
}

fn keyring_crls(keyring: &Keyring) -> Vec<CertificateRevocationListDer<'static>> {
    keyring.crls.iter().map(|c| c.der.clone()).collect()
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
    let high = s.revocation_level == RevocationLevel::High;
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
    let build: Build<Arc<WebPkiServerVerifier>> = Box::new(move |crls, allow_unknown| {
        let mut b =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).with_crls(crls);
        if allow_unknown {
            b = b.allow_unknown_revocation_status();
        }
        b.build().map_err(|e| e.to_string())
    });
    let high = s.revocation_level == RevocationLevel::High;
    if !s.http_cdp.enable {
        return Ok(build(keyring_crls(keyring), !high)?);
    }
    let check = CdpCheck::new(build, keyring_crls(keyring), high, CrlCache::shared(&s.http_cdp))?;
    Ok(Arc::new(CdpServerVerifier(check)))
}
