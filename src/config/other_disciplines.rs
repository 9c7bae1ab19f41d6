//! The z/OS Policy Agent statements for policy disciplines other than AT-TLS (QoS, IDS, IPSec,
//! routing). A PAGTCONF copied from z/OS names them beside `TTLSConfig`; attls applies AT-TLS
//! policy only, so each is accepted and ignored with one portability warning per statement kind
//! and file (an error under `Strict On`). Their arguments (data set names, FLUSH/PURGE) are not
//! read, so they need no `DataSetMap`.

use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::lex::Token;

/// The statements, in IBM's spelling, and the discipline each configures.
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("QOSConfig", "Quality of Service (QoS)"),
    ("IDSConfig", "Intrusion Detection Services (IDS)"),
    ("IPSecConfig", "IP security (IPSec)"),
    ("RoutingConfig", "policy-based routing"),
    ("CommonIDSConfig", "Intrusion Detection Services (IDS)"),
    ("CommonIPSecConfig", "IP security (IPSec)"),
    ("CommonRoutingConfig", "policy-based routing"),
];

/// The statement `word` names, in IBM's spelling, if it is one of [`STATEMENTS`].
pub(super) fn statement(word: &str) -> Option<&'static str> {
    STATEMENTS.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|(name, _)| *name)
}

/// The warning for statement `name` (from [`statement`]) written at `kw`.
pub(super) fn ignore(name: &'static str, kw: Token<'_>, diags: &mut Diagnostics) {
    let discipline = STATEMENTS.iter().find(|(n, _)| *n == name).map_or("another", |(_, d)| *d);
    diags.push(
        Diagnostic::portability(
            kw.span,
            format!("{name} configures {discipline} policy, which attls does not apply; ignored"),
            "attls applies AT-TLS policy only (TTLSConfig, CommonTTLSConfig); the line can stay",
        )
        .grouped(name),
    );
}
