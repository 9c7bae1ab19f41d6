//! The first bytes of a TLS handshake record, as the start of a connection shows them: the early
//! ClientHello of an application-controlled connection (D29) and direct TLS on a TN3270 port.
//!
//! A handshake record starts `16 03 xx`: content type 22, then the record version. A ClientHello's
//! record may carry `03 00` (RFC 5246 E.1 lets a client use SSL 3.0's number there) up to `03 04`;
//! both places take `16 03 00` to `16 03 04` (docs/decisions.md, D29).

/// The highest record version minor byte taken (`03 04`, TLS 1.3's number; TLS 1.3 itself sends `03 01`).
const HIGHEST_MINOR: u8 = 0x04;

/// Whether `bytes` start a TLS handshake record (`16 03 00` to `16 03 04`).
pub fn starts_handshake_record(bytes: &[u8]) -> bool {
    matches!(bytes, [0x16, 0x03, minor, ..] if *minor <= HIGHEST_MINOR)
}

/// Whether `bytes` are too few to tell: empty, `16`, or `16 03`.
pub fn too_short_for_record(bytes: &[u8]) -> bool {
    matches!(bytes, [] | [0x16] | [0x16, 0x03])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_versions() {
        for minor in 0..=4 {
            assert!(starts_handshake_record(&[0x16, 0x03, minor, 0x00, 0x2f]), "16 03 {minor:02x}");
        }
        assert!(!starts_handshake_record(&[0x16, 0x03, 0x05]));
        assert!(!starts_handshake_record(&[0x16, 0x02, 0x01]));
        assert!(!starts_handshake_record(&[0x15, 0x03, 0x01]), "an alert is no handshake");
        assert!(!starts_handshake_record(&[0xff, 0xfd, 0x2e]), "telnet");
        assert!(!starts_handshake_record(b"\x16\x03"), "too short to tell");
        assert!(
            too_short_for_record(b"") && too_short_for_record(b"\x16") && too_short_for_record(b"\x16\x03")
        );
        assert!(!too_short_for_record(b"\x16\x04") && !too_short_for_record(b"\xff"));
    }
}
