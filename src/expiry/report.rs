//! Certificate expiry as each report shows it: `pagent check -c` (a `NotAfter` line per used
//! certificate, findings as D11 diagnostics at the rule's `Keyring` line), the agent's start and
//! refresh log (the same lines, ERROR for an expired server certificate), and `pagent search`
//! (`NotAfter:` lines and the `not_after` JSON key).

use std::time::SystemTime;

use serde_json::{Value, json};
use tracing::{error, info, warn};

use super::{
    CertificateDates, Finding, Urgency, UsedCertificates, findings, leaf_expiry, used_by, used_certificates,
};
use crate::config::Config;
use crate::engine::generation::CertificateExpiry;
use crate::engine::tls::Keyrings;
use crate::messages as msg;
use crate::netstat::rfc3339;
use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::source::SourceMap;
use crate::policy::table::{Rule, RuleTable};

/// What certificate `position` of `u`'s chain is: `server certificate `LABEL`` for the leaf.
pub fn describe(u: &UsedCertificates, position: usize) -> String {
    match (position, u.is_server()) {
        (0, true) => format!("server certificate `{}`", u.label),
        (0, false) => format!("client certificate `{}`", u.label),
        (n, _) => format!("certificate {n} of the chain of `{}`", u.label),
    }
}

/// `TTLSRule a: server certificate `srv` (CN=localhost) NotAfter 2030-01-01T00:00:00Z`.
pub fn not_after_line(u: &UsedCertificates, position: usize, cert: &CertificateDates) -> String {
    format!(
        "{}: {} ({}) NotAfter {}",
        u.rule_names(),
        describe(u, position),
        cert.subject,
        rfc3339(cert.not_after)
    )
}

/// A finding's message (without the rule names' prefix of [`not_after_line`] repeated).
pub fn finding_message(used: &[UsedCertificates], f: &Finding) -> String {
    let u = &used[f.used];
    let Some(cert) = u.chain.get(f.position) else { return String::new() };
    let what = format!("{}: {} ({})", u.rule_names(), describe(u, f.position), cert.subject);
    let at = rfc3339(cert.not_after);
    match f.urgency {
        Urgency::ExpiredServer | Urgency::Expired => format!("{what} expired at {at}"),
        Urgency::Soon(0) => format!("{what} expires within a day, at {at}"),
        Urgency::Soon(1) => format!("{what} expires in 1 day, at {at}"),
        Urgency::Soon(n) => format!("{what} expires in {n} days, at {at}"),
    }
}

fn finding_hint(f: &Finding) -> &'static str {
    match f.urgency {
        Urgency::ExpiredServer => {
            "clients refuse an expired server certificate: renew it and refresh (the agent still serves it)"
        }
        Urgency::Expired => "renew it: a peer that checks the chain refuses an expired certificate",
        Urgency::Soon(_) => "renew it before then and refresh; ExpiryWarningDays sets how early this warns",
    }
}

/// `pagent check -c`: prints every used certificate's NotAfter and the findings (D11, at the
/// rule's `Keyring` line) to stderr. False when a server certificate has expired.
pub fn check(table: &RuleTable, config: &Config, sources: &SourceMap) -> bool {
    let mut keyrings = Keyrings::new(&config.keyring_map, None);
    let used = used_certificates(table, &mut keyrings);
    for u in &used {
        for (position, cert) in u.chain.iter().enumerate() {
            eprintln!("expiry: {}", not_after_line(u, position, cert));
        }
    }
    let found = findings(&used, config.expiry_warning_days, SystemTime::now());
    let mut rendered: Vec<String> = Vec::new();
    for f in &found {
        let message = finding_message(&used, f);
        let hint = finding_hint(f);
        let text = match used[f.used].keyring_span {
            Some(span) => {
                let mut d = Diagnostics::default();
                d.push(if f.urgency == Urgency::ExpiredServer {
                    Diagnostic::error(span, message, hint)
                } else {
                    Diagnostic::warning(span, message, hint)
                });
                d.render(sources)
            }
            None => {
                let word = if f.urgency == Urgency::ExpiredServer { "error" } else { "warning" };
                format!("{word}: {message}\n   hint: {hint}\n")
            }
        };
        if !rendered.contains(&text) {
            eprint!("{text}");
            rendered.push(text);
        }
    }
    let expired = found.iter().any(|f| f.urgency == Urgency::ExpiredServer);
    if expired {
        eprintln!("policy not usable with {}: a server certificate has expired", config.path.display());
    } else if found.is_empty() && !used.is_empty() && config.expiry_warning_days > 0 {
        eprintln!("expiry: no used certificate expires within {} days", config.expiry_warning_days);
    }
    !expired
}

/// The agent at start and refresh: logs every used certificate's NotAfter (INFO), the findings
/// (WARN; ERROR for an expired server certificate, which is served anyway). Blocking (reads the
/// keyrings again).
pub fn log(table: &RuleTable, config: &Config) -> Vec<CertificateExpiry> {
    let mut keyrings = Keyrings::new(&config.keyring_map, config.dev_keyring.as_deref());
    let used = used_certificates(table, &mut keyrings);
    for u in &used {
        for (position, cert) in u.chain.iter().enumerate() {
            info!(msgid = msg::CERT_NOT_AFTER, "{}", not_after_line(u, position, cert));
        }
    }
    for f in findings(&used, config.expiry_warning_days, SystemTime::now()) {
        let message = finding_message(&used, &f);
        match f.urgency {
            Urgency::ExpiredServer => {
                error!(
                    msgid = msg::CERT_EXPIRED,
                    "{message}: clients refuse it; the agent still serves it until it is renewed"
                )
            }
            _ => warn!(msgid = msg::CERT_EXPIRING, "{message}"),
        }
    }
    leaf_expiry(&used)
}

/// The certificates one rule uses as `pagent search` finds them: without a main configuration,
/// only keyrings named by path open (a z/OS key ring name needs `pagent check -c`).
pub fn for_search(rule: &Rule) -> Vec<UsedCertificates> {
    if !rule.settings.ttls_enabled {
        return Vec::new();
    }
    used_by(rule, &mut Keyrings::new(&[], None))
}

/// `pagent search --json` keys: `not_after` (the default certificate's leaf, RFC 3339, null when
/// the keyring did not open) and `certificates` (`{label, subject, not_after}` of every
/// certificate used, each keyed certificate's leaf before the rest of its chain).
pub fn search_json(used: &[UsedCertificates]) -> (Value, Value) {
    let leaf =
        used.first().and_then(|u| u.chain.first()).map_or(Value::Null, |c| json!(rfc3339(c.not_after)));
    let all: Vec<Value> = used
        .iter()
        .flat_map(|u| u.chain.iter().map(move |c| (u, c)))
        .map(|(u, c)| json!({ "label": u.label, "subject": c.subject, "not_after": rfc3339(c.not_after) }))
        .collect();
    (leaf, Value::Array(all))
}
