//! One OCSP query: the request for a CertID POSTed to each responder URL in turn until one answers
//! `good` or `revoked` (all within one deadline), each response read with the bounded HTTP client
//! and judged ([`super::ocsp_response`]). An answer is used until its nextUpdate (at most
//! [`MAX_KEEP`]), or [`KEEP_WITHOUT_NEXT_UPDATE`] when it names none.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use x509_parser::prelude::{FromDer, X509Certificate};

use super::http;
use super::ocsp::{self, CertId};
use super::ocsp_response::{self, CertStatus, Expected};

/// How long an answer without a nextUpdate is used.
pub const KEEP_WITHOUT_NEXT_UPDATE: Duration = Duration::from_secs(300);
/// The longest any answer is used (a nextUpdate far away).
pub const MAX_KEEP: Duration = Duration::from_secs(86_400);

/// What one query needs.
#[derive(Debug, Clone)]
pub struct Query {
    pub id: CertId,
    /// The issuer's certificate (DER): its key signs responses or authorises their signer.
    pub issuer: Vec<u8>,
    /// Responders, in the order they are asked.
    pub urls: Vec<String>,
}

/// The nonce and size settings of a query.
#[derive(Debug, Clone, Copy)]
pub struct Asking {
    pub max_response: usize,
    /// `OcspNonceGenEnable On`: the nonce size.
    pub nonce_size: Option<u32>,
    pub nonce_required: bool,
}

/// A `good` or `revoked` answer.
#[derive(Debug)]
pub struct Known {
    pub status: CertStatus,
    /// The response as the responder sent it (what a server staples).
    pub response: Vec<u8>,
    pub fresh_until: Instant,
    /// The responder asked.
    pub url: String,
}

/// A query's outcome: a known status, or why there is none.
pub type Outcome = Result<Arc<Known>, String>;

/// Asks the responders of `query`, by `deadline`.
pub fn ask(query: &Query, asking: &Asking, deadline: Instant) -> Result<Known, String> {
    if query.urls.is_empty() {
        return Err("no OCSP responder to ask (OcspUrl, or OcspAiaEnable On and an AIA OCSP URI)".into());
    }
    let mut reasons = Vec::new();
    for url in &query.urls {
        match ask_one(query, url, asking, deadline) {
            Ok(known) => return Ok(known),
            Err(reason) => reasons.push(format!("{url}: {reason}")),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    Err(reasons.join("; "))
}

fn ask_one(query: &Query, url: &str, asking: &Asking, deadline: Instant) -> Result<Known, String> {
    let parsed = http::parse_url(url).ok_or("not a plain http:// URL attls can ask")?;
    let nonce = asking.nonce_size.map(ocsp::new_nonce).transpose()?;
    let request = ocsp::request(&query.id, nonce.as_deref());
    let response = http::post_ocsp(&parsed, &request, asking.max_response, deadline)?;
    judged(query, url, response, nonce.as_deref(), asking.nonce_required)
}

/// `response` judged for `query`'s certificate (also a response a server stapled: no nonce).
pub fn judged(
    query: &Query,
    url: &str,
    response: Vec<u8>,
    nonce: Option<&[u8]>,
    nonce_required: bool,
) -> Result<Known, String> {
    let (_, issuer) = X509Certificate::from_der(&query.issuer).map_err(|e| format!("the issuer: {e}"))?;
    let now = unix_now();
    let expected = Expected { id: &query.id, issuer: &issuer, nonce, nonce_required, now };
    let answer = ocsp_response::judge(&response, &expected)?;
    if answer.status == CertStatus::Unknown {
        return Err("the responder does not know the certificate".into());
    }
    let keep = match answer.next_update {
        Some(next) => Duration::from_secs(next.saturating_sub(now).unsigned_abs()),
        None => KEEP_WITHOUT_NEXT_UPDATE,
    };
    Ok(Known {
        status: answer.status,
        response,
        fresh_until: Instant::now() + keep.min(MAX_KEEP),
        url: url.to_string(),
    })
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
