//! The rustls verifiers of environments with `HttpCdpEnable On`: webpki's, wrapped so each
//! handshake's certificate check runs with the CRLs that apply to its peer
//! ([`CdpCheck`](super::check::CdpCheck)); everything else (handshake signatures, the client
//! certificate request and its hints) is webpki's, unchanged.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, Error};

use super::check::CdpCheck;

/// Client certificates (server roles).
pub struct CdpClientVerifier(pub CdpCheck<Arc<dyn ClientCertVerifier>>);

/// The server's certificate (Client role).
pub struct CdpServerVerifier(pub CdpCheck<Arc<WebPkiServerVerifier>>);

impl std::fmt::Debug for CdpClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CdpClientVerifier")
    }
}

impl std::fmt::Debug for CdpServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CdpServerVerifier")
    }
}

impl CdpClientVerifier {
    fn base(&self) -> &dyn ClientCertVerifier {
        &*self.0.base
    }
}

impl CdpServerVerifier {
    fn base(&self) -> &WebPkiServerVerifier {
        &self.0.base
    }
}

impl ClientCertVerifier for CdpClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.base.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.0.base.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.base.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.0.check(end_entity, |v| v.verify_client_cert(end_entity, intermediates, now))
    }
    delegate_handshake_signatures!(base);
}

impl ServerCertVerifier for CdpServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.0.check(end_entity, |v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        })
    }
    delegate_handshake_signatures!(base);
}
