//! Static table of the TLS cipher suites that AT-TLS policy files can name
//! (docs/policy-reference.md#cipher-suites, docs/policy-reference.md#ttlscipherparms).
//!
//! This module owns:
//! - the one sorted table of suite codes and their exact IANA registry names, covering every code
//!   `V3CipherSuites` (2-char, `0x00XY`) and `V3CipherSuites4Char` (4-char) may write;
//! - name lookup in both directions: IANA names, the same names spelled with `SSL_` instead of
//!   `TLS_`, and the FTP.DATA `CIPHERSUITE` / TELNETPARMS `ENCRYPTION` short aliases
//!   (`SSL_AES_128_SHA` …), all ASCII case-insensitive;
//! - the certificate key type a suite needs ([`CertKind`]) and whether it is a TLS 1.3 suite;
//! - the display forms of codes (`2F`, `C02F`, `1302` for netstat; `002F` as 4 hex digits).
//!
//! It does not parse cipher strings, decide what rustls can negotiate, or emit diagnostics; the
//! policy parser and checker do that with these look-ups.

/// How a TLS 1.2-or-older suite authenticates the server, which decides the certificate key type it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// An RSA certificate (RSA key exchange, DH_RSA, DHE_RSA, ECDH_RSA, ECDHE_RSA).
    Rsa,
    /// An ECDSA certificate (ECDH_ECDSA, ECDHE_ECDSA).
    Ecdsa,
    /// No particular key type: TLS 1.3 suites, and anon/PSK/NULL/DSS suites (rustls cannot do the
    /// latter anyway).
    Any,
}

/// Every suite a policy can name, sorted by code, with its IANA registry name.
const SUITES: &[(u16, &str)] = &[
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x000C, "TLS_DH_DSS_WITH_DES_CBC_SHA"),
    (0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x000F, "TLS_DH_RSA_WITH_DES_CBC_SHA"),
    (0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA"),
    (0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA"),
    (0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003B, "TLS_RSA_WITH_NULL_SHA256"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x003E, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256"),
    (0x003F, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256"),
    (0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256"),
    (0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"),
    (0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
    (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA"),
    (0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
    (0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"),
    (0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
    (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
];

/// FTP.DATA `CIPHERSUITE` / TELNETPARMS `ENCRYPTION` short names and the codes they stand for.
const ALIASES: &[(&str, u16)] = &[
    ("SSL_NULL_MD5", 0x0001),
    ("SSL_NULL_SHA", 0x0002),
    ("SSL_RC4_MD5_EX", 0x0003),
    ("SSL_RC4_MD5", 0x0004),
    ("SSL_RC4_SHA", 0x0005),
    ("SSL_RC2_MD5_EX", 0x0006),
    ("SSL_DES_SHA", 0x0009),
    ("SSL_3DES_SHA", 0x000A),
    ("SSL_AES_128_SHA", 0x002F),
    ("SSL_AES_256_SHA", 0x0035),
];

/// IANA name of a code, if it is in the table.
pub fn name_of(code: u16) -> Option<&'static str> {
    SUITES.binary_search_by_key(&code, |&(c, _)| c).ok().map(|i| SUITES[i].1)
}

/// Code for a suite name: IANA names, the SSL_ spelling, and the FTP.DATA aliases; ASCII case-insensitive.
pub fn code_of_name(name: &str) -> Option<u16> {
    if let Some(&(code, _)) = SUITES.iter().find(|(_, canonical)| canonical.eq_ignore_ascii_case(name)) {
        return Some(code);
    }
    if let Some(&(_, code)) = ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)) {
        return Some(code);
    }
    // `SSL_RSA_WITH_…`: the IANA name with `SSL_` in place of `TLS_`.
    let rest = strip_prefix_ignore_case(name, "SSL_")?;
    SUITES.iter().find_map(|&(code, canonical)| {
        canonical.strip_prefix("TLS_").filter(|tail| tail.eq_ignore_ascii_case(rest)).map(|_| code)
    })
}

/// Every name that `code_of_name` accepts (canonical IANA names first, then aliases), for "did you mean" hints.
///
/// The `SSL_` spelling of each IANA name is accepted too but not listed: it would only repeat the
/// canonical names.
pub fn known_names() -> impl Iterator<Item = &'static str> {
    SUITES.iter().map(|&(_, name)| name).chain(ALIASES.iter().map(|&(alias, _)| alias))
}

/// True for the TLS 1.3 suites 1301..1303.
pub fn is_tls13(code: u16) -> bool {
    (0x1301..=0x1303).contains(&code)
}

/// Certificate key type a suite needs (ECDHE_ECDSA/ECDH_ECDSA -> Ecdsa, *_RSA_* -> Rsa, TLS 1.3 -> Any, others Rsa when RSA/DHE_RSA/DH_RSA, DSS ones -> Rsa is wrong: use Any for DSS/anon since rustls cannot do them anyway).
///
/// Codes not in the table give [`CertKind::Any`].
pub fn cert_kind(code: u16) -> CertKind {
    if is_tls13(code) {
        return CertKind::Any;
    }
    let Some(name) = name_of(code) else {
        return CertKind::Any;
    };
    // The key exchange and authentication part: between `TLS_` and `_WITH_`.
    let Some(kx) = name.strip_prefix("TLS_").and_then(|tail| tail.split_once("_WITH_")).map(|(kx, _)| kx)
    else {
        return CertKind::Any;
    };
    let mut parts = kx.split('_');
    let exchange = parts.next().unwrap_or("");
    let auth = parts.next().unwrap_or("");
    match (exchange, auth) {
        ("ECDH" | "ECDHE", "ECDSA") => CertKind::Ecdsa,
        // Plain RSA key exchange, including RSA_EXPORT.
        ("RSA", _) => CertKind::Rsa,
        ("DH" | "DHE" | "ECDH" | "ECDHE", "RSA") => CertKind::Rsa,
        // DSS, anon, NULL: no key type rustls could serve.
        _ => CertKind::Any,
    }
}

/// The display form used by netstat: 2 hex chars for codes up to 0x00FF, else 4 (uppercase), e.g. "2F", "C02F", "1302".
pub fn short_code(code: u16) -> String {
    if code <= 0x00FF { format!("{code:02X}") } else { format!("{code:04X}") }
}

/// 4 uppercase hex digits, e.g. "002F".
pub fn hex4(code: u16) -> String {
    format!("{code:04X}")
}

/// `s` without a leading `prefix`, compared ASCII case-insensitively.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { s.get(prefix.len()..) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes docs/policy-reference.md#cipher-suites lists, built from its ranges.
    fn expected_codes() -> Vec<u16> {
        let two_char: &[(u16, u16)] = &[
            (0x00, 0x06),
            (0x09, 0x0A),
            (0x0C, 0x0D),
            (0x0F, 0x10),
            (0x12, 0x13),
            (0x15, 0x16),
            (0x2F, 0x33),
            (0x35, 0x39),
            (0x3B, 0x40),
            (0x67, 0x6B),
            (0x9C, 0xA5),
        ];
        let four_char: &[(u16, u16)] =
            &[(0xC001, 0xC014), (0xC023, 0xC032), (0xCCA8, 0xCCA9), (0x1301, 0x1303)];
        let mut codes: Vec<u16> = two_char.iter().chain(four_char).flat_map(|&(lo, hi)| lo..=hi).collect();
        codes.sort_unstable();
        codes
    }

    #[test]
    fn table_sorted_without_duplicates() {
        for pair in SUITES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:04X} then {:04X}", pair[0].0, pair[1].0);
        }
        let mut names: Vec<&str> = SUITES.iter().map(|&(_, n)| n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SUITES.len(), "duplicate names in table");
    }

    #[test]
    fn table_has_exactly_the_listed_codes() {
        let actual: Vec<u16> = SUITES.iter().map(|&(c, _)| c).collect();
        assert_eq!(actual, expected_codes());
        for code in expected_codes() {
            assert!(name_of(code).is_some(), "{code:04X} missing");
        }
    }

    #[test]
    fn every_name_is_an_iana_style_name_and_round_trips() {
        for &(code, name) in SUITES {
            assert!(name.starts_with("TLS_"), "{name}");
            assert!(name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
            assert_eq!(code_of_name(name), Some(code), "{name}");
            assert_eq!(name_of(code), Some(name));
        }
        for &(alias, code) in ALIASES {
            assert_eq!(code_of_name(alias), Some(code), "{alias}");
            assert!(name_of(code).is_some(), "alias {alias} to unknown code");
        }
    }

    #[test]
    fn exact_names() {
        let cases: &[(u16, &str)] = &[
            (0x0000, "TLS_NULL_WITH_NULL_NULL"),
            (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
            (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
            (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
            (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
            (0x003B, "TLS_RSA_WITH_NULL_SHA256"),
            (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
            (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
            (0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384"),
            (0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"),
            (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            (0x1301, "TLS_AES_128_GCM_SHA256"),
            (0x1302, "TLS_AES_256_GCM_SHA384"),
            (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
        ];
        for &(code, name) in cases {
            assert_eq!(name_of(code), Some(name), "{code:04X}");
        }
        assert_eq!(name_of(0x0007), None);
        assert_eq!(name_of(0x0034), None);
        assert_eq!(name_of(0xC0), None);
        assert_eq!(name_of(0xFFFF), None);
    }

    #[test]
    fn aliases() {
        assert_eq!(code_of_name("SSL_NULL_MD5"), Some(0x01));
        assert_eq!(code_of_name("SSL_NULL_SHA"), Some(0x02));
        assert_eq!(code_of_name("SSL_RC4_MD5_EX"), Some(0x03));
        assert_eq!(code_of_name("SSL_RC4_MD5"), Some(0x04));
        assert_eq!(code_of_name("SSL_RC4_SHA"), Some(0x05));
        assert_eq!(code_of_name("SSL_RC2_MD5_EX"), Some(0x06));
        assert_eq!(code_of_name("SSL_DES_SHA"), Some(0x09));
        assert_eq!(code_of_name("SSL_3DES_SHA"), Some(0x0A));
        assert_eq!(code_of_name("SSL_AES_128_SHA"), Some(0x2F));
        assert_eq!(code_of_name("SSL_AES_256_SHA"), Some(0x35));
    }

    #[test]
    fn ssl_prefix_spelling() {
        assert_eq!(code_of_name("SSL_RSA_WITH_AES_128_CBC_SHA"), Some(0x002F));
        assert_eq!(code_of_name("SSL_ECDHE_RSA_WITH_AES_256_GCM_SHA384"), Some(0xC030));
        assert_eq!(code_of_name("ssl_aes_256_gcm_sha384"), Some(0x1302));
        assert_eq!(code_of_name("SSL_"), None);
        assert_eq!(code_of_name("SSL"), None);
        // Only `SSL_` swaps for `TLS_`; other prefixes do not.
        assert_eq!(code_of_name("XYZ_RSA_WITH_AES_128_CBC_SHA"), None);
        assert_eq!(code_of_name("RSA_WITH_AES_128_CBC_SHA"), None);
    }

    #[test]
    fn case_insensitive() {
        assert_eq!(code_of_name("tls_ecdhe_rsa_with_aes_128_gcm_sha256"), Some(0xC02F));
        assert_eq!(code_of_name("Tls_Aes_128_Gcm_Sha256"), Some(0x1301));
        assert_eq!(code_of_name("ssl_aes_128_sha"), Some(0x2F));
        assert_eq!(code_of_name("Ssl_3des_Sha"), Some(0x0A));
        assert_eq!(code_of_name(""), None);
        assert_eq!(code_of_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA255"), None);
        // Non-ASCII input must not panic on a char boundary.
        assert_eq!(code_of_name("SS\u{e9}_RSA"), None);
        assert_eq!(code_of_name("\u{e9}"), None);
    }

    #[test]
    fn known_names_lists_canonical_then_aliases() {
        let names: Vec<&str> = known_names().collect();
        assert_eq!(names.len(), SUITES.len() + ALIASES.len());
        assert_eq!(names[0], "TLS_NULL_WITH_NULL_NULL");
        assert_eq!(names[SUITES.len()], "SSL_NULL_MD5");
        assert_eq!(names.last(), Some(&"SSL_AES_256_SHA"));
        for name in names {
            assert!(code_of_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn tls13() {
        assert!(is_tls13(0x1301));
        assert!(is_tls13(0x1302));
        assert!(is_tls13(0x1303));
        assert!(!is_tls13(0x1300));
        assert!(!is_tls13(0x1304));
        assert!(!is_tls13(0xC02F));
    }

    #[test]
    fn formatting() {
        assert_eq!(short_code(0x002F), "2F");
        assert_eq!(short_code(0x0000), "00");
        assert_eq!(short_code(0x000A), "0A");
        assert_eq!(short_code(0x00A5), "A5");
        assert_eq!(short_code(0x00FF), "FF");
        assert_eq!(short_code(0x0100), "0100");
        assert_eq!(short_code(0xC02F), "C02F");
        assert_eq!(short_code(0x1302), "1302");
        assert_eq!(short_code(0xcca9), "CCA9");
        assert_eq!(hex4(0x002F), "002F");
        assert_eq!(hex4(0x0000), "0000");
        assert_eq!(hex4(0xc02f), "C02F");
        assert_eq!(hex4(0x1302), "1302");
    }

    #[test]
    fn cert_kinds() {
        assert_eq!(cert_kind(0xC02B), CertKind::Ecdsa);
        assert_eq!(cert_kind(0xC02C), CertKind::Ecdsa);
        assert_eq!(cert_kind(0xCCA9), CertKind::Ecdsa);
        assert_eq!(cert_kind(0xC001), CertKind::Ecdsa);
        assert_eq!(cert_kind(0xC02F), CertKind::Rsa);
        assert_eq!(cert_kind(0xC030), CertKind::Rsa);
        assert_eq!(cert_kind(0xCCA8), CertKind::Rsa);
        assert_eq!(cert_kind(0xC00B), CertKind::Rsa);
        assert_eq!(cert_kind(0x002F), CertKind::Rsa);
        assert_eq!(cert_kind(0x0003), CertKind::Rsa);
        assert_eq!(cert_kind(0x0016), CertKind::Rsa);
        assert_eq!(cert_kind(0x0031), CertKind::Rsa);
        assert_eq!(cert_kind(0x1301), CertKind::Any);
        assert_eq!(cert_kind(0x1302), CertKind::Any);
        assert_eq!(cert_kind(0x1303), CertKind::Any);
        assert_eq!(cert_kind(0x0000), CertKind::Any);
        assert_eq!(cert_kind(0x0013), CertKind::Any);
        assert_eq!(cert_kind(0x00A4), CertKind::Any);
        assert_eq!(cert_kind(0xFFFF), CertKind::Any);
    }
}
