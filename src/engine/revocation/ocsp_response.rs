//! An OCSP response read and judged for one certificate: a `successful` OCSPResponse holding a
//! BasicOCSPResponse, signed by the certificate's issuer or by a responder certificate in the
//! response that the issuer signed, that is valid now and has the OCSPSigning extended key usage;
//! a SingleResponse for the CertID asked about; a thisUpdate not in the future (by more than
//! [`MAX_CLOCK_SKEW`]) and a nextUpdate not past (or, without one, a thisUpdate at most
//! [`MAX_AGE_WITHOUT_NEXT_UPDATE`] old); and, when a nonce was sent, the same nonce back (required
//! under `OcspNonceCheckEnable On`). Anything else is an error with its reason: the status is then
//! unknown. No input panics: every field is read with the bounds-checked [`super::der`] reader.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::der::{self, ENUMERATED, GENERALIZED_TIME, INTEGER, OCTET_STRING, OID, SEQUENCE};
use super::ocsp::{self, CertId, NONCE_OID, SHA1_OID};

/// How far a responder's clock may be ahead of ours.
pub const MAX_CLOCK_SKEW: i64 = 300;
/// How old a response without a nextUpdate may be.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 3600;
/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1), contents.
const BASIC_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// Responder certificates looked at in one response.
const MAX_RESPONDER_CERTS: usize = 8;

/// What a responder says of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked,
    /// The responder does not know the certificate.
    Unknown,
}

/// A judged answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: CertStatus,
    /// Seconds since the Unix epoch.
    pub this_update: i64,
    pub next_update: Option<i64>,
}

/// What the response must match.
pub struct Expected<'a> {
    pub id: &'a CertId,
    pub issuer: &'a X509Certificate<'a>,
    /// The nonce sent (extnValue contents), if any.
    pub nonce: Option<&'a [u8]>,
    /// `OcspNonceCheckEnable On`: a response without the nonce is refused.
    pub nonce_required: bool,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// Judges `response` (the body the responder sent) against `expected`.
pub fn judge(response: &[u8], expected: &Expected<'_>) -> Result<Answer, String> {
    let basic = basic_response(response)?;
    let signed = der::signed(basic)?;
    let certs = match der::optional(signed.rest, 0xa0)? {
        (Some(explicit), _) => der::elements(der::expect(explicit, SEQUENCE)?.0)?,
        (None, _) => Vec::new(),
    };
    let by_issuer = ocsp::signed_by(expected.issuer, signed.algorithm, signed.signed, signed.signature);
    let by_delegate = || {
        certs.iter().take(MAX_RESPONDER_CERTS).any(|c| {
            delegated_responder(c.raw, expected.issuer, expected.now)
                .is_some_and(|r| ocsp::signed_by(&r, signed.algorithm, signed.signed, signed.signature))
        })
    };
    if !by_issuer && !by_delegate() {
        return Err("the response is signed neither by the issuer nor by a responder it authorised".into());
    }
    let (data, _) = der::expect(signed.signed, SEQUENCE)?;
    let (_, rest) = der::optional(data, 0xa0)?;
    let (_responder_id, rest) = der::read(rest)?;
    let (_produced_at, rest) = der::expect(rest, GENERALIZED_TIME)?;
    let (responses, rest) = der::expect(rest, SEQUENCE)?;
    let (extensions, _) = der::optional(rest, 0xa1)?;
    check_nonce(extensions, expected)?;
    let mut found = None;
    for single in der::elements(responses)? {
        if let Some(answer) = single_response(single.value, expected.id)? {
            found = Some(answer);
            break;
        }
    }
    let answer = found.ok_or("the response does not speak of the certificate asked about")?;
    fresh(&answer, expected.now)?;
    Ok(answer)
}

/// The BasicOCSPResponse inside a `successful` OCSPResponse.
fn basic_response(response: &[u8]) -> Result<&[u8], String> {
    let (outer, _) = der::expect(response, SEQUENCE)?;
    let (status, rest) = der::expect(outer, ENUMERATED)?;
    let name = match status {
        [0] => None,
        [1] => Some("malformedRequest"),
        [2] => Some("internalError"),
        [3] => Some("tryLater"),
        [5] => Some("sigRequired"),
        [6] => Some("unauthorized"),
        _ => Some("an unknown status"),
    };
    if let Some(name) = name {
        return Err(format!("the responder answered {name}"));
    }
    let (explicit, _) = der::expect(rest, 0xa0)?;
    let (bytes, _) = der::expect(explicit, SEQUENCE)?;
    let (kind, rest) = der::expect(bytes, OID)?;
    if kind != BASIC_OID {
        return Err("the response is not a basic OCSP response".into());
    }
    Ok(der::expect(rest, OCTET_STRING)?.0)
}

/// `cert` as a responder `issuer` delegated to: signed by it, valid `now`, with OCSPSigning.
fn delegated_responder<'a>(
    cert: &'a [u8],
    issuer: &X509Certificate<'_>,
    now: i64,
) -> Option<X509Certificate<'a>> {
    let (_, parsed) = X509Certificate::from_der(cert).ok()?;
    let validity = parsed.validity();
    let valid_now = validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp();
    let ocsp_signing = parsed.extended_key_usage().ok().flatten().is_some_and(|eku| eku.value.ocsp_signing);
    (valid_now
        && ocsp_signing
        && parsed.issuer().as_raw() == issuer.subject().as_raw()
        && ocsp::issued_by(cert, issuer))
    .then_some(parsed)
}

/// The answer of one SingleResponse when its CertID is `id`.
fn single_response(single: &[u8], id: &CertId) -> Result<Option<Answer>, String> {
    let (cert_id, rest) = der::expect(single, SEQUENCE)?;
    let (algorithm, id_rest) = der::expect(cert_id, SEQUENCE)?;
    let (hash_oid, _) = der::expect(algorithm, OID)?;
    let (name_hash, id_rest) = der::expect(id_rest, OCTET_STRING)?;
    let (key_hash, id_rest) = der::expect(id_rest, OCTET_STRING)?;
    let (serial, _) = der::expect(id_rest, INTEGER)?;
    if hash_oid != SHA1_OID || name_hash != id.name_hash || key_hash != id.key_hash || serial != id.serial {
        return Ok(None);
    }
    let (status, rest) = der::read(rest)?;
    let status = match status.tag {
        0x80 => CertStatus::Good,
        0xa1 => CertStatus::Revoked,
        0x82 => CertStatus::Unknown,
        other => return Err(format!("a certificate status of tag {other:#04x}")),
    };
    let (this_update, rest) = der::expect(rest, GENERALIZED_TIME)?;
    let this_update = der::generalized_time(this_update)?;
    let next_update = match der::optional(rest, 0xa0)? {
        (Some(explicit), _) => Some(der::generalized_time(der::expect(explicit, GENERALIZED_TIME)?.0)?),
        (None, _) => None,
    };
    Ok(Some(Answer { status, this_update, next_update }))
}

fn fresh(answer: &Answer, now: i64) -> Result<(), String> {
    if answer.this_update > now + MAX_CLOCK_SKEW {
        return Err("the response's thisUpdate is in the future".into());
    }
    match answer.next_update {
        Some(next) if next <= now => Err("the response's nextUpdate is past".into()),
        Some(next) if next < answer.this_update => {
            Err("the response's nextUpdate is before its thisUpdate".into())
        }
        None if now - answer.this_update > MAX_AGE_WITHOUT_NEXT_UPDATE => {
            Err("the response has no nextUpdate and its thisUpdate is over an hour old".into())
        }
        _ => Ok(()),
    }
}

/// The response's nonce against the one sent.
fn check_nonce(extensions: Option<&[u8]>, expected: &Expected<'_>) -> Result<(), String> {
    let Some(sent) = expected.nonce else { return Ok(()) };
    let mut echoed = None;
    if let Some(explicit) = extensions {
        let (list, _) = der::expect(explicit, SEQUENCE)?;
        for ext in der::elements(list)? {
            let (oid, rest) = der::expect(ext.value, OID)?;
            let (_, rest) = der::optional(rest, 0x01)?;
            let (value, _) = der::expect(rest, OCTET_STRING)?;
            if oid == NONCE_OID {
                echoed = Some(value);
            }
        }
    }
    match echoed {
        Some(v) if v == sent => Ok(()),
        Some(_) => Err("the response's nonce is not the one sent".into()),
        None if expected.nonce_required => Err("the response has no nonce (OcspNonceCheckEnable On)".into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_byte_string_panics_and_none_is_accepted() {
        let (_, issuer_der) = (0, rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap().cert);
        let (_, issuer) = X509Certificate::from_der(issuer_der.der()).unwrap();
        let id = CertId { name_hash: vec![1; 20], key_hash: vec![2; 20], serial: vec![3] };
        let expected =
            Expected { id: &id, issuer: &issuer, nonce: Some(&[4, 1, 9]), nonce_required: true, now: 0 };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed & 0xff) as u8
                })
                .collect();
            assert!(judge(&bytes, &expected).is_err());
            let mut framed = der::encode(SEQUENCE, &[&[0x0a, 1, 0, 0xa0][..], &bytes].concat());
            assert!(judge(&framed, &expected).is_err());
            framed.truncate(framed.len() / 2);
            assert!(judge(&framed, &expected).is_err());
        }
        assert!(judge(&[0x30, 3, 0x0a, 1, 3], &expected).unwrap_err().contains("tryLater"));
    }
}
