//! Certificate expiry (docs/policy-reference.md#certificate-expiry): the notAfter of every
//! certificate a TLS-enabled rule uses (each keyed certificate it may present or offer, see
//! [`used_by`]; leaf first, then the rest of the leaf's file), and what `ExpiryWarningDays` makes
//! of it:
//!
//! - an already expired leaf that a server-role rule presents (any of its candidates) is an error
//!   (`pagent check -c` exits 1; the agent logs it at ERROR level and still starts, since refusing
//!   would turn one expired certificate into an outage of every other rule);
//! - any other expired certificate, and one that expires within `ExpiryWarningDays` days, is a
//!   warning (no warnings with `ExpiryWarningDays 0`).
//!
//! Keyrings are opened here as the engine opens them ([`crate::engine::tls::Keyrings`], the same
//! password and label rules), so the dates are those of the certificates the rules present.
//! Reports are in [`report`]: `pagent check -c` diagnostics, the agent's start and refresh log,
//! `pagent search`.
//!
//! The netstat detail shows the `NotAfter` of the server's certificate ([`of_connection`]): the
//! one the peer presented in the Client role, the one attls chose for the client in a server role
//! (recorded in the connection's snapshot by the handshake).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::generation::CertificateExpiry;
use crate::engine::tls::Keyrings;
use crate::policy::source::Span;
use crate::policy::table::{Role, Rule, RuleTable, Settings};

pub mod report;
#[cfg(test)]
mod tests;

/// One certificate's subject and notAfter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDates {
    /// RFC 4514-like (`CN=localhost, O=…`).
    pub subject: String,
    pub not_after: SystemTime,
}

impl CertificateDates {
    /// The subject and notAfter of a DER certificate; `None` if it does not parse.
    pub fn of_der(der: &[u8]) -> Option<CertificateDates> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let not_after = system_time(cert.validity().not_after.timestamp());
        Some(CertificateDates { subject: cert.subject().to_string(), not_after })
    }
}

/// Seconds since the epoch as a `SystemTime` (clamped to what the platform holds).
fn system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) };
    t.unwrap_or(UNIX_EPOCH)
}

/// The certificates one rule's settings use (rules sharing settings are listed together).
#[derive(Debug, Clone)]
pub struct UsedCertificates {
    /// The rules with these settings, in evaluation order.
    pub rules: Vec<String>,
    pub role: Role,
    /// The keyed certificate's label.
    pub label: String,
    /// The file its chain came from.
    pub source: PathBuf,
    /// Leaf first, then the rest of the leaf's file.
    pub chain: Vec<CertificateDates>,
    /// Where `Keyring` was written (for diagnostics).
    pub keyring_span: Option<Span>,
    settings: Weak<Settings>,
}

impl UsedCertificates {
    /// `TTLSRule a` or `TTLSRule a, b`.
    pub fn rule_names(&self) -> String {
        format!("TTLSRule {}", self.rules.join(", "))
    }

    /// Whether the leaf is what a server presents (roles Server and ServerWithClientAuth).
    pub fn is_server(&self) -> bool {
        self.role != Role::Client
    }
}

/// The certificates of every TLS-enabled rule whose keyring opens, one entry per keyed
/// certificate it uses (a Client-role rule without one presents none). Rules whose keyring does
/// not open are left out: the keyring check reports them. Blocking (reads files).
pub fn used_certificates(table: &RuleTable, keyrings: &mut Keyrings<'_>) -> Vec<UsedCertificates> {
    let mut out: Vec<UsedCertificates> = Vec::new();
    for rule in table.rules() {
        if !rule.settings.ttls_enabled {
            continue;
        }
        let shared = Arc::as_ptr(&rule.settings);
        let mut same = out.iter_mut().filter(|u| std::ptr::eq(u.settings.as_ptr(), shared)).peekable();
        if same.peek().is_some() {
            same.for_each(|u| u.rules.push(rule.name.clone()));
        } else {
            out.extend(used_by(rule, keyrings));
        }
    }
    out
}

/// The keyed certificates one rule uses, if its keyring opens: in the Client role the one
/// `CertificateLabel` names (offered when the server asks); in a server role the candidates
/// `ServerCertificateLabel` names (else `CertificateLabel`'s, else the keyring's only one), then
/// those `ServerHandshakeSNIList` names, each once. The first is the default certificate.
pub fn used_by(rule: &Rule, keyrings: &mut Keyrings<'_>) -> Vec<UsedCertificates> {
    let s = &rule.settings;
    let (Some(ring), Some(role)) = (&s.keyring, s.handshake_role) else { return Vec::new() };
    let (pw, stash, dir) =
        (s.keyring_pw.as_deref(), s.keyring_stash_file.as_deref(), s.keyring_dir.as_deref());
    let Ok(password) = crate::keyring::password_for(pw, stash, dir) else { return Vec::new() };
    let Ok(keyring) = keyrings.open(ring, dir, password.as_deref()) else { return Vec::new() };
    let labels = if role == Role::Client { vec![s.certificate_label.as_deref()] } else { server_labels(s) };
    let mut out: Vec<UsedCertificates> = Vec::new();
    for label in labels {
        let Ok(id) = keyring.identity(label) else { continue };
        if out.iter().any(|u| u.label == id.label) {
            continue;
        }
        out.push(UsedCertificates {
            rules: vec![rule.name.clone()],
            role,
            label: id.label.clone(),
            source: id.source.clone(),
            chain: id.chain.iter().filter_map(|c| CertificateDates::of_der(c.as_ref())).collect(),
            keyring_span: s.keyring_span,
            settings: Arc::downgrade(&rule.settings),
        });
    }
    out
}

/// The labels a server role may present, default first (as `engine::certs` picks them).
fn server_labels(s: &Settings) -> Vec<Option<&str>> {
    let c = &s.server_certs;
    let mut labels: Vec<Option<&str>> = if c.labels.is_empty() {
        vec![s.certificate_label.as_deref()]
    } else {
        c.labels.iter().map(|l| Some(l.as_str())).collect()
    };
    labels.extend(c.sni_list.iter().filter_map(|e| e.split_once('/')).map(|(_, l)| Some(l.trim())));
    labels
}

/// How bad one certificate's date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// The leaf a server-role rule presents has expired: clients refuse it.
    ExpiredServer,
    /// Another certificate has expired.
    Expired,
    /// It expires within `ExpiryWarningDays`; the figure is the whole days left.
    Soon(u64),
}

/// One certificate that needs attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Index into the [`UsedCertificates`] list.
    pub used: usize,
    /// Index into its chain (0 = the leaf).
    pub position: usize,
    pub urgency: Urgency,
}

/// What `warning_days` (0 = no warnings) makes of the dates, at `now`.
pub fn findings(used: &[UsedCertificates], warning_days: u32, now: SystemTime) -> Vec<Finding> {
    let horizon = Duration::from_secs(u64::from(warning_days) * 86_400);
    let mut out = Vec::new();
    for (i, u) in used.iter().enumerate() {
        for (position, cert) in u.chain.iter().enumerate() {
            let urgency = match cert.not_after.duration_since(now) {
                Err(_) if position == 0 && u.is_server() => Urgency::ExpiredServer,
                Err(_) if warning_days > 0 => Urgency::Expired,
                Ok(left) if left < horizon => Urgency::Soon(left.as_secs() / 86_400),
                _ => continue,
            };
            out.push(Finding { used: i, position, urgency });
        }
    }
    out
}

/// Every keyed certificate in `used`, once per keyring (as the rule wrote it) and label, with its
/// leaf's earliest notAfter: what a generation records for the metrics (docs/metrics.md).
pub fn leaf_expiry(used: &[UsedCertificates]) -> Vec<CertificateExpiry> {
    let mut leaves: BTreeMap<(String, String), SystemTime> = BTreeMap::new();
    for u in used {
        let (Some(leaf), Some(settings)) = (u.chain.first(), u.settings.upgrade()) else { continue };
        let Some(keyring) = &settings.keyring else { continue };
        let at = leaves.entry((keyring.clone(), u.label.clone())).or_insert(leaf.not_after);
        *at = (*at).min(leaf.not_after);
    }
    leaves
        .into_iter()
        .map(|((keyring, label), not_after)| CertificateExpiry { keyring, label, not_after })
        .collect()
}

/// The notAfter the netstat detail shows for a secure connection: in the Client role the
/// server's certificate (as the peer presented it), in a server role the one attls chose for the
/// client in the handshake (as the connection's snapshot recorded it).
pub fn of_connection(c: &crate::registry::ConnSnapshot) -> Option<SystemTime> {
    let rule = c.rule.as_ref()?;
    c.tls_version?;
    match rule.settings.handshake_role? {
        Role::Client => {
            c.peer_cert.as_ref().and_then(|p| CertificateDates::of_der(&p.der)).map(|d| d.not_after)
        }
        Role::Server | Role::ServerWithClientAuth => c.server_cert_not_after,
    }
}
