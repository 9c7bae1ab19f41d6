//! What the rustls crypto provider attls uses can negotiate: cipher suites (by IANA code) and
//! key-exchange groups (by number, which z/OS writes as 4 decimal digits). Asked of the provider
//! itself, so the table follows rustls rather than a copy of its lists.

use std::sync::OnceLock;

use rustls::crypto::CryptoProvider;

/// The provider the engine builds its TLS configurations from.
pub fn provider() -> &'static CryptoProvider {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    #[cfg(feature = "fips")]
    let make = every_aws_lc_algorithm;
    #[cfg(all(feature = "aws-lc-rs", not(feature = "fips")))]
    let make = rustls::crypto::aws_lc_rs::default_provider;
    #[cfg(not(feature = "aws-lc-rs"))]
    let make = rustls::crypto::ring::default_provider;
    PROVIDER.get_or_init(make)
}

/// A FIPS build's provider for rules without FIPS140: rustls's defaults there are the approved
/// algorithms only, so ChaCha20-Poly1305 and X25519 are added back (docs/fips.md).
#[cfg(feature = "fips")]
fn every_aws_lc_algorithm() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::{ALL_CIPHER_SUITES, DEFAULT_KX_GROUPS, default_provider};
    CryptoProvider {
        cipher_suites: ALL_CIPHER_SUITES.to_vec(),
        kx_groups: DEFAULT_KX_GROUPS.to_vec(),
        ..default_provider()
    }
}

fn codes() -> &'static (Vec<u16>, Vec<u16>) {
    static CODES: OnceLock<(Vec<u16>, Vec<u16>)> = OnceLock::new();
    CODES.get_or_init(|| {
        let p = provider();
        let suites = p.cipher_suites.iter().map(|s| u16::from(s.suite())).collect();
        let groups = p.kx_groups.iter().map(|g| u16::from(g.name())).collect();
        (suites, groups)
    })
}

/// Whether rustls can negotiate the suite with this IANA code.
pub fn supports_cipher(code: u16) -> bool {
    codes().0.contains(&code)
}

/// Whether rustls can use the named group with this number (23 secp256r1, 24 secp384r1, 29 x25519).
pub fn supports_group(group: u16) -> bool {
    codes().1.contains(&group)
}

/// Whether this build's provider calls the suite with this IANA code FIPS-approved.
pub fn fips_cipher(code: u16) -> bool {
    provider().cipher_suites.iter().any(|cs| u16::from(cs.suite()) == code && cs.fips())
}

/// Whether this build's provider calls the group with this number FIPS-approved.
pub fn fips_group(group: u16) -> bool {
    provider().kx_groups.iter().any(|g| u16::from(g.name()) == group && g.fips())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_matches_the_attls_md_table() {
        for c in [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9] {
            assert!(supports_cipher(c), "{c:04X}");
        }
        for c in [0x002F, 0x0035, 0x000A, 0xC027] {
            assert!(!supports_cipher(c), "{c:04X}");
        }
        for g in [23, 24, 29] {
            assert!(supports_group(g));
        }
        for g in [19, 21, 25, 30] {
            assert!(!supports_group(g));
        }
    }
}
