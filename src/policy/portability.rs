//! Portability notes: the warning a written parameter earns when attls does not apply it as z/OS
//! does (statuses L, Z, P of docs/policy-reference.md#status-legend; D16 for environment-only
//! keywords written at connection level).

use super::catalog::{Kind, Param, Support};

/// Values for which rustls already behaves as the parameter asks: no warning (the note on status L
/// in docs/policy-reference.md#status-legend).
const RUSTLS_ALREADY: &[(&str, &str)] = &[
    ("Renegotiation", "Disabled"),
    ("RenegotiationIndicator", "Optional"),
    ("ClientExtendedMasterSecret", "On"),
    ("ServerExtendedMasterSecret", "On"),
    ("PeerMinCertVersion", "3"),
];

/// The portability warning a written parameter earns (statuses L, Z, P of
/// docs/policy-reference.md#status-legend; D16), as (message, hint), or `None` when attls applies
/// it as z/OS does.
pub fn support_note(
    param: &Param,
    value_text: &str,
    is_off: bool,
    in_kind: Kind,
) -> Option<(String, String)> {
    let name = param.name;
    if param.env_only && in_kind == Kind::ConnectionAdvancedParms {
        return Some((
            format!(
                "{name} is documented for TTLSEnvironmentAdvancedParms only; attls applies it at connection level"
            ),
            "move it to the environment action's TTLSEnvironmentAdvancedParms if the file must load on z/OS"
                .into(),
        ));
    }
    if name == "CertValidationMode"
        && matches!(value_text.to_ascii_uppercase().as_str(), "RFC2459" | "RFC3280")
    {
        return Some((
            format!("CertValidationMode {value_text}: rustls validates certificates per RFC 5280"),
            "write `CertValidationMode RFC5280` or `Any`".into(),
        ));
    }
    if RUSTLS_ALREADY.iter().any(|(n, v)| *n == name && v.eq_ignore_ascii_case(value_text)) {
        return None;
    }
    if name == "FIPS140" && !is_off && param.support != Support::Applied {
        return Some((
            format!(
                "FIPS140 {value_text}: this build of attls has no FIPS module; the rule runs with its usual algorithms"
            ),
            "run a FIPS build of attls (scripts/build-fips, docs/fips.md)".into(),
        ));
    }
    if name == "GSK_SYSPLEX_SIDCACHE" && !is_off {
        return Some((
            "GSK_SYSPLEX_SIDCACHE On: agents share TLS sessions only through tickets sealed with the main configuration's TicketKeyFile; session IDs stay per agent".into(),
            "set TicketKeyFile in the main configuration (docs/fleet.md)".into(),
        ));
    }
    let rustls = || {
        Some((
            format!("{name} {value_text}: rustls cannot do this; accepted and shown, not applied"),
            "remove it, or keep it only for z/OS".to_string(),
        ))
    };
    let zos = || {
        Some((
            format!("{name} has no meaning on Linux; accepted and shown, not applied"),
            "remove it, or keep it only for z/OS".to_string(),
        ))
    };
    let pending = || {
        Some((
            format!("{name} is not applied by attls yet; accepted and shown"),
            "the connection proceeds without it".to_string(),
        ))
    };
    match param.support {
        Support::Applied => None,
        Support::Rustls => rustls(),
        Support::RustlsUnlessOff if !is_off => rustls(),
        Support::Zos => zos(),
        Support::ZosUnlessOff if !is_off => zos(),
        Support::Pending => pending(),
        Support::PendingUnlessOff if !is_off => pending(),
        _ => None,
    }
}
