//! FIPS140 (docs/fips.md): in a build with the `fips` feature, a rule whose group action says
//! `FIPS140 On` (or a Level) is given only the algorithms AWS-LC's FIPS module approves, and rustls's
//! own FIPS check of the finished configuration must agree or the rule does not load. Other builds
//! accept the keyword with a warning and change nothing.

use rustls::crypto::CryptoProvider;

/// Whether this binary was built with AWS-LC's FIPS module.
pub const BUILD_HAS_FIPS: bool = cfg!(feature = "fips");

/// Keeps only the approved suites and groups of `p` (already limited to the rule's lists); an
/// error names what the rule asked for when nothing approved is left.
pub fn restrict(p: &mut CryptoProvider) -> Result<(), String> {
    let written = |names: Vec<String>| names.join(" ");
    let suites: Vec<String> = p.cipher_suites.iter().map(|cs| format!("{:?}", cs.suite())).collect();
    p.cipher_suites.retain(|cs| cs.fips());
    if p.cipher_suites.is_empty() {
        return Err(format!("none of the rule's cipher suites is FIPS-approved ({})", written(suites)));
    }
    let groups: Vec<String> = p.kx_groups.iter().map(|g| format!("{:?}", g.name())).collect();
    p.kx_groups.retain(|g| g.fips());
    if p.kx_groups.is_empty() {
        return Err(format!("none of the rule's key-exchange groups is FIPS-approved ({})", written(groups)));
    }
    if !p.fips() {
        return Err("the crypto module is not in FIPS mode (its power-on self tests failed?)".into());
    }
    Ok(())
}

/// Refuses a configuration rustls does not consider FIPS (for TLS 1.2 that also needs the
/// extended master secret, which a FIPS provider turns on).
pub fn check(is_fips: bool) -> Result<(), String> {
    if is_fips { Ok(()) } else { Err("rustls does not consider the rule's TLS configuration FIPS".into()) }
}

/// What `pagent --version` prints after the name: the version, and which crypto module when it is
/// not the default AWS-LC.
pub const VERSION: &str = if BUILD_HAS_FIPS {
    concat!(env!("CARGO_PKG_VERSION"), " FIPS (crypto: AWS-LC FIPS 140-3 module)")
} else if cfg!(feature = "aws-lc-rs") {
    env!("CARGO_PKG_VERSION")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (crypto: ring)")
};
