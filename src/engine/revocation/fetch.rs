//! One CRL from one distribution point: the bounded HTTP GET, then the body as a CRL (DER, or the
//! first `X509 CRL` block of a PEM body), kept until its next update (or [`MAX_AGE_WITHOUT_NEXT_UPDATE`]
//! when it names none). A CRL whose next update is past is not used. Whether it is authoritative
//! for a certificate, and signed by that certificate's issuer, is rustls-webpki's check at the
//! handshake.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{CertificateRevocationList, FromDer};

use super::http;

/// How long a CRL without a next update is kept before it is fetched again.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: Duration = Duration::from_secs(3600);
/// The longest any CRL is kept (a next update years away).
const MAX_KEEP: Duration = Duration::from_secs(30 * 86_400);

/// Numbers each fetched CRL, so a set of them has a version (the key of a built verifier).
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A CRL fetched from a distribution point.
#[derive(Debug)]
pub struct FetchedCrl {
    pub url: String,
    pub der: CertificateRevocationListDer<'static>,
    /// Its thisUpdate, seconds since the Unix epoch (newer CRLs are offered to rustls first).
    pub this_update: i64,
    /// Used until then, then fetched again.
    pub fresh_until: Instant,
    pub generation: u64,
    /// Serial numbers it revokes (as encoded), for [`super::news`].
    pub revoked: Vec<Vec<u8>>,
    /// Set once a handshake found it unusable (logged once).
    pub rejected: AtomicBool,
}

impl FetchedCrl {
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.fresh_until && !self.rejected.load(Ordering::Relaxed)
    }
}

/// Fetches `url` (at most `limit` bytes, by `deadline`) and reads it as a CRL.
pub fn fetch(url: &str, limit: usize, deadline: Instant) -> Result<FetchedCrl, String> {
    let parsed = http::parse_url(url).ok_or_else(|| "not a plain http:// URL attls can fetch".to_string())?;
    let body = http::get(&parsed, limit, deadline)?;
    crl_from(url, body)
}

/// The body of a response as a CRL.
pub fn crl_from(url: &str, body: Vec<u8>) -> Result<FetchedCrl, String> {
    let der = if body.starts_with(b"-----BEGIN") {
        match CertificateRevocationListDer::pem_slice_iter(&body).next() {
            Some(Ok(der)) => der,
            _ => return Err("the response is PEM without a sound X509 CRL block".to_string()),
        }
    } else {
        CertificateRevocationListDer::from(body)
    };
    let (this_update, next_update, revoked) = {
        let (rest, crl) = CertificateRevocationList::from_der(der.as_ref())
            .map_err(|e| format!("the response is not a CRL: {e}"))?;
        if !rest.is_empty() {
            return Err("the response has data after the CRL".to_string());
        }
        let revoked: Vec<Vec<u8>> =
            crl.iter_revoked_certificates().map(|r| r.raw_serial().to_vec()).collect();
        (crl.last_update().timestamp(), crl.next_update(), revoked)
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let lifetime = match &next_update {
        Some(next) if next.timestamp() <= now => {
            return Err(format!("the CRL's next update ({next}) is past"));
        }
        Some(next) => Duration::from_secs(next.timestamp().saturating_sub(now).unsigned_abs()),
        None => MAX_AGE_WITHOUT_NEXT_UPDATE,
    };
    let fresh_until = Instant::now() + lifetime.min(MAX_KEEP);
    Ok(FetchedCrl {
        url: url.to_string(),
        der,
        this_update,
        fresh_until,
        generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        revoked,
        rejected: AtomicBool::new(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_no_crl_is_refused_with_the_reason() {
        let e = crl_from("http://x/", b"<html>nope</html>".to_vec()).unwrap_err();
        assert!(e.contains("not a CRL"), "{e}");
        let e = crl_from("http://x/", b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_vec());
        assert!(e.unwrap_err().contains("PEM"));
    }
}
