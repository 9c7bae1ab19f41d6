//! The revocation check of one handshake with fetched CRLs, for either verifier kind: the keyring's
//! CRLs plus the fetched CRLs of the peer end-entity certificate's `http://` distribution points,
//! handed to a rustls webpki verifier built for that set (built verifiers are kept by the set's
//! version, so a handshake with cached CRLs builds nothing).
//!
//! Before anything is fetched the chain must verify (with the keyring's CRLs): the agent fetches
//! only what a certificate its trust anchors vouch for names. A fetched CRL rustls refuses, or one
//! whose signature is not its issuer's (a forged or misdirected CRL), is dropped and its URL
//! reported; the status it would have given is unknown. Unknown is accepted under
//! `RevocationSecurityLevel` Low and Medium and refused under High, including when no CRL at all
//! applies.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::{CertificateError, Error};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

use super::cache::CrlCache;
use super::fetch::FetchedCrl;
use super::http;

/// Distribution point URLs taken from one certificate (the rest are ignored).
pub const MAX_URLS_PER_CERTIFICATE: usize = 10;
/// Verifiers kept for distinct sets of fetched CRLs (all dropped when full).
const MAX_BUILT_VERIFIERS: usize = 32;

/// Builds a webpki verifier for a CRL set; `true`: unknown status allowed.
pub type Build<V> =
    Box<dyn Fn(Vec<CertificateRevocationListDer<'static>>, bool) -> Result<V, String> + Send + Sync>;

/// The check with fetched CRLs, around verifiers of kind `V`.
pub struct CdpCheck<V> {
    build: Build<V>,
    /// Keyring CRLs, unknown status allowed: the chain check before a fetch.
    pub base: V,
    keyring: Vec<(CertificateRevocationListDer<'static>, i64)>,
    high: bool,
    cache: Arc<CrlCache>,
    /// By the generations of the fetched CRLs in the set (`[]`: the keyring's alone).
    built: Mutex<Vec<(Vec<u64>, V)>>,
}

impl<V: Clone> CdpCheck<V> {
    pub fn new(
        build: Build<V>,
        keyring: Vec<CertificateRevocationListDer<'static>>,
        high: bool,
        cache: Arc<CrlCache>,
    ) -> Result<Self, String> {
        let base = build(keyring.clone(), true)?;
        let keyring_only = build(keyring.clone(), !high)?;
        let keyring = keyring
            .into_iter()
            .map(|der| {
                let t = this_update(&der);
                (der, t)
            })
            .collect();
        Ok(CdpCheck {
            build,
            base,
            keyring,
            high,
            cache,
            built: Mutex::new(vec![(Vec::new(), keyring_only)]),
        })
    }

    /// Runs `verify` (one webpki verification of this handshake's chain) with the CRLs that apply
    /// to `end_entity`.
    pub fn check<T>(
        &self,
        end_entity: &CertificateDer<'_>,
        verify: impl Fn(&V) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let urls = http_urls(end_entity.as_ref());
        let found = self.cache.lookup(&urls);
        let mut fetched = found.crls;
        if !found.missing.is_empty() {
            verify(&self.base)?;
            fetched.extend(self.cache.fetch(&found.missing));
        }
        let result = self.with_set(&mut fetched, &verify)?;
        if self.high && fetched.is_empty() && self.keyring.is_empty() {
            return Err(Error::InvalidCertificate(CertificateError::UnknownRevocationStatus));
        }
        Ok(result)
    }

    /// `verify` with the keyring's CRLs and `fetched`; fetched CRLs found unusable are dropped from
    /// `fetched` (and reported) and the check made again without them.
    fn with_set<T>(
        &self,
        fetched: &mut Vec<Arc<FetchedCrl>>,
        verify: &impl Fn(&V) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let first_error = match self.verifier_for(fetched) {
            Ok(v) => match verify(&v) {
                Err(e @ Error::InvalidCertRevocationList(_)) => e,
                other => return other,
            },
            Err(e) => Error::General(e),
        };
        let before = fetched.len();
        fetched.retain(|crl| match self.vet(crl, verify) {
            Ok(()) => true,
            Err(reason) => {
                self.cache.reject(crl, &reason);
                false
            }
        });
        if fetched.len() == before {
            return Err(first_error);
        }
        let v = self.verifier_for(fetched).map_err(Error::General)?;
        verify(&v)
    }

    /// Why `crl` cannot be used for this chain, if it cannot.
    fn vet<T>(&self, crl: &FetchedCrl, verify: &impl Fn(&V) -> Result<T, Error>) -> Result<(), String> {
        let alone =
            (self.build)(vec![crl.der.clone()], true).map_err(|e| format!("rustls refuses it: {e}"))?;
        match verify(&alone) {
            Err(Error::InvalidCertRevocationList(e)) => {
                Err(format!("it is not a sound CRL of the certificate's issuer ({e:?})"))
            }
            _ => Ok(()),
        }
    }

    /// The verifier for the keyring's CRLs plus `fetched` (newest first, so rustls takes the newest
    /// CRL of an issuer), built once per set.
    fn verifier_for(&self, fetched: &[Arc<FetchedCrl>]) -> Result<V, String> {
        let mut key: Vec<u64> = fetched.iter().map(|c| c.generation).collect();
        key.sort_unstable();
        key.dedup();
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, v)) = built.iter().find(|(k, _)| *k == key) {
            return Ok(v.clone());
        }
        let mut set: Vec<(CertificateRevocationListDer<'static>, i64)> =
            fetched.iter().map(|c| (c.der.clone(), c.this_update)).collect();
        set.extend(self.keyring.iter().cloned());
        set.sort_by_key(|(_, this_update)| std::cmp::Reverse(*this_update));
        let v = (self.build)(set.into_iter().map(|(der, _)| der).collect(), !self.high)?;
        if built.len() >= MAX_BUILT_VERIFIERS {
            built.truncate(1);
        }
        built.push((key, v.clone()));
        Ok(v)
    }
}

/// A CRL's thisUpdate (0 when it does not parse: rustls refuses it when the verifier is built).
fn this_update(der: &CertificateRevocationListDer<'_>) -> i64 {
    CertificateRevocationList::from_der(der.as_ref()).map_or(0, |(_, crl)| crl.last_update().timestamp())
}

/// The `http://` URIs of a certificate's CRL distribution points (full names only; others, and
/// https and LDAP URLs, skipped), at most [`MAX_URLS_PER_CERTIFICATE`], without repeats.
pub fn http_urls(cert_der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else { return Vec::new() };
    let mut urls: Vec<String> = Vec::new();
    for ext in cert.extensions() {
        let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() else { continue };
        for point in points.iter() {
            let Some(DistributionPointName::FullName(names)) = &point.distribution_point else { continue };
            for name in names {
                if let GeneralName::URI(uri) = name
                    && http::parse_url(uri).is_some()
                    && !urls.iter().any(|u| u == uri)
                    && urls.len() < MAX_URLS_PER_CERTIFICATE
                {
                    urls.push(uri.to_string());
                }
            }
        }
    }
    urls
}
