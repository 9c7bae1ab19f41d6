//! The rustls verifiers of environments with OCSP checking (`OcspAiaEnable On` or an `OcspUrl`):
//! the environment's CRL verifier first (webpki's, or the CDP one; the chain must verify against
//! the keyring before any responder is asked), then the OCSP status of the peer's end-entity
//! certificate: `revoked` refuses (rc 431), `good` serves, and an unknown status (no responder,
//! failure, timeout, an untrusted or stale response) is served under `RevocationSecurityLevel`
//! Low and Medium; under High it is refused unless a CRL covers the certificate. In the Client
//! role a response the server staples is used when it is sound, before any query.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName, Error};
use tracing::info;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ocsp::{self, CertId};
use super::ocsp_cache::OcspCache;
use super::ocsp_fetch::{self, Query};
use super::ocsp_response::CertStatus;
use crate::messages as msg;
use crate::policy::table::OcspSettings;

/// The OCSP part of a check.
pub struct OcspCheck {
    pub cache: Arc<OcspCache>,
    settings: OcspSettings,
    /// The keyring's trust anchors, where the issuer of a certificate without intermediates is.
    trust: Vec<CertificateDer<'static>>,
    high: bool,
}

impl OcspCheck {
    pub fn new(settings: &OcspSettings, trust: Vec<CertificateDer<'static>>, high: bool) -> OcspCheck {
        OcspCheck { cache: OcspCache::shared(settings), settings: settings.clone(), trust, high }
    }

    /// The query about `end_entity`, or why there is none.
    pub fn query(&self, end_entity: &[u8], intermediates: &[CertificateDer<'_>]) -> Result<Query, String> {
        let candidates =
            intermediates.iter().map(|c| c.as_ref()).chain(self.trust.iter().map(|c| c.as_ref()));
        let issuer = ocsp::find_issuer(end_entity, candidates).ok_or("its issuer is not at hand")?;
        let (_, cert) = X509Certificate::from_der(end_entity).map_err(|e| e.to_string())?;
        let (_, issuer_cert) = X509Certificate::from_der(issuer).map_err(|e| e.to_string())?;
        Ok(Query {
            id: CertId::of(&cert, &issuer_cert)?,
            issuer: issuer.to_vec(),
            urls: ocsp::responder_urls(&self.settings, &cert),
        })
    }

    /// The verdict on a chain the CRL verifier passed: `stapled` is the server's stapled response
    /// (Client role; empty otherwise), `strict` the CRL verifier that refuses an unknown status
    /// (`None`: no CRL source, nothing can settle an unknown OCSP status).
    pub fn verdict(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        stapled: &[u8],
        strict: Option<&dyn Fn() -> Result<(), Error>>,
    ) -> Result<(), Error> {
        let status = match self.query(end_entity.as_ref(), intermediates) {
            Ok(query) => self.status(&query, stapled),
            Err(reason) => Err(reason),
        };
        match status {
            Ok(CertStatus::Revoked) => Err(Error::InvalidCertificate(CertificateError::Revoked)),
            Ok(_) => Ok(()),
            Err(_) if !self.high => Ok(()),
            Err(reason) => match strict {
                Some(crls) => crls(),
                None => {
                    info!(
                        msgid = msg::OCSP_REFUSED_UNKNOWN,
                        "refused: OCSP status unknown ({reason}) under RevocationSecurityLevel High"
                    );
                    Err(Error::InvalidCertificate(CertificateError::UnknownRevocationStatus))
                }
            },
        }
    }

    fn status(&self, query: &Query, stapled: &[u8]) -> Result<CertStatus, String> {
        if !stapled.is_empty() {
            match ocsp_fetch::judged(query, "(stapled)", stapled.to_vec(), None, false) {
                Ok(known) => return Ok(known.status),
                Err(reason) => info!(
                    msgid = msg::STAPLE_NOT_USED,
                    "the server's stapled OCSP response is not used: {reason}"
                ),
            }
        }
        self.cache.status(query).map(|known| known.status)
    }
}

/// Client certificates (server roles).
pub struct OcspClientVerifier {
    /// Chain and CRLs, unknown status allowed.
    pub lenient: Arc<dyn ClientCertVerifier>,
    /// Chain and CRLs, unknown status refused (High with a CRL source only).
    pub strict: Option<Arc<dyn ClientCertVerifier>>,
    pub check: OcspCheck,
}

/// The server's certificate (Client role).
pub struct OcspServerVerifier {
    pub lenient: Arc<dyn ServerCertVerifier>,
    pub strict: Option<Arc<dyn ServerCertVerifier>>,
    pub check: OcspCheck,
}

impl std::fmt::Debug for OcspClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OcspClientVerifier")
    }
}

impl std::fmt::Debug for OcspServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OcspServerVerifier")
    }
}

impl OcspClientVerifier {
    fn base(&self) -> &dyn ClientCertVerifier {
        &*self.lenient
    }
}

impl OcspServerVerifier {
    fn base(&self) -> &dyn ServerCertVerifier {
        &*self.lenient
    }
}

impl ClientCertVerifier for OcspClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.lenient.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.lenient.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.lenient.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self.lenient.verify_client_cert(end_entity, intermediates, now)?;
        let strict = self
            .strict
            .as_ref()
            .map(|v| move || v.verify_client_cert(end_entity, intermediates, now).map(|_| ()));
        let strict: Option<&dyn Fn() -> Result<(), Error>> = strict.as_ref().map(|f| f as _);
        self.check.verdict(end_entity, intermediates, &[], strict)?;
        Ok(verified)
    }
    delegate_handshake_signatures!(base);
}

impl ServerCertVerifier for OcspServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified =
            self.lenient.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        let strict = self.strict.as_ref().map(|v| {
            move || {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now).map(|_| ())
            }
        });
        let strict: Option<&dyn Fn() -> Result<(), Error>> = strict.as_ref().map(|f| f as _);
        self.check.verdict(end_entity, intermediates, ocsp_response, strict)?;
        Ok(verified)
    }
    delegate_handshake_signatures!(base);
    fn requires_raw_public_keys(&self) -> bool {
        false
    }
}
