//! The effective settings of a rule as one list: each setting's z/OS keyword, its value, the action
//! level it came from and its default. Defaults, value types and which statements may write a
//! keyword come from the [`catalog`](super::catalog); values from the resolved [`Settings`]. The
//! `pagent search` and `pagent check --match` settings lines, the netstat detail report and
//! [`render`](super::render) all print from this view.
//!
//! Order (stable; the order of the `pagent search` settings lines): `TTLSEnabled`, `Trace`,
//! `CtraceClearText`, `SyslogFacility`, `HandshakeRole`, `ClientAuthType`, `Keyring`,
//! `KeyringStashFile`, `CertificateLabel`, `SSLv2`, `SSLv3`, `TLSv1`, `TLSv1.1`, `TLSv1.2`,
//! `TLSv1.3`, `V3CipherSuites4Char`, the role's key-share groups (`ClientKeyShareGroups` for role
//! Client, else `ServerKeyShareGroups`), `ApplicationControlled`, `SecondaryMap`,
//! `HandshakeTimeout`, `ResetCipherTimer`, `ClientHandshakeSNI`, `ClientHandshakeSNIList`,
//! `HostReferenceIdDNS`, then the seven `GSK_…` session parameters in catalog order.
//!
//! - Values are in policy spelling (`On`, `10`, `Required`, `1302C02F`, `00290023`, `Any`); `None`
//!   is a setting that is unset and has no default (`HandshakeRole` without an environment action,
//!   `CertificateLabel`, …). A list setting gives one entry per value, or one entry without a value
//!   when empty. Written parameters without a setting of their own (`Settings::other`) are not here.
//! - The level is the highest action level that wrote the setting, among the levels whose
//!   statements (or their parms blocks) may write it and where attls applies it
//!   (docs/policy-reference.md#levels-and-precedence). TTLSCipherParms and TTLSSignatureParms are
//!   replaced whole: a level that writes any of their parameters owns the setting, and if it does
//!   not write this one the value is the default. (An empty block writes no parameter and so is
//!   not seen here, though the resolver lets it replace the lower level's.)
//! - A setting at [`Level::Default`] has its default as its value.

use super::catalog::{ALL_KINDS, Kind, Support, ValueType, default_of};
use super::resolve::DEFAULT_CIPHERS;
use super::table::{Role, Rule, Settings, WrittenActions};

/// Where an effective value came from, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Default,
    Group,
    Environment,
    Connection,
}

impl Level {
    /// The action levels, highest (winning) first.
    pub const ACTIONS: [Level; 3] = [Level::Connection, Level::Environment, Level::Group];

    pub fn word(self) -> &'static str {
        match self {
            Level::Default => "default",
            Level::Group => "group",
            Level::Environment => "environment",
            Level::Connection => "connection",
        }
    }

    /// The action statement of this level (`None` for the default).
    pub fn action(self) -> Option<Kind> {
        match self {
            Level::Default => None,
            Level::Group => Some(Kind::GroupAction),
            Level::Environment => Some(Kind::EnvironmentAction),
            Level::Connection => Some(Kind::ConnectionAction),
        }
    }

    /// The parameters written at this level, in file order.
    pub fn written(self, w: &WrittenActions) -> &[(String, String)] {
        match self {
            Level::Default => &[],
            Level::Group => &w.group,
            Level::Environment => &w.environment,
            Level::Connection => &w.connection,
        }
    }
}

/// One effective setting of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The z/OS keyword.
    pub name: &'static str,
    /// The effective value; `None`: unset, no default.
    pub value: Option<String>,
    pub level: Level,
    /// `None`: the setting has no default.
    pub default: Option<String>,
}

impl Effective {
    /// The value as the block of action level `at` shows it (the netstat detail report): the
    /// effective value, unless a higher level wrote it; then the last value written at `at` or a
    /// lower level (`On`/`Off` and enumerated words in canonical spelling, the rest as written),
    /// else the default.
    pub fn shown_at(&self, at: Level, written: &WrittenActions) -> Option<String> {
        if self.level <= at {
            return self.value.clone();
        }
        Level::ACTIONS
            .into_iter()
            .filter(|l| *l <= at)
            .find_map(|l| last_written(l, written, self.name))
            .map(|raw| canonical(self.name, raw))
            .or_else(|| self.default.clone())
    }
}

/// The last value written for `key` at one level.
pub fn last_written<'w>(level: Level, written: &'w WrittenActions, key: &str) -> Option<&'w str> {
    level.written(written).iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The effective settings of a rule, in the documented order.
pub fn effective(rule: &Rule) -> Vec<Effective> {
    of_settings(&rule.settings)
}

/// The effective settings of one resolved combination of actions, in the documented order.
pub fn of_settings(s: &Settings) -> Vec<Effective> {
    let mut out = Vec::with_capacity(SPECS.len() + 2);
    for spec in SPECS {
        let keys = spec.keys_for(s.handshake_role);
        let name = keys[0];
        let level = level_of(keys, &s.written);
        let default = if name == CIPHER_KEYS[0] {
            Some(hex4_list(&DEFAULT_CIPHERS))
        } else {
            default_of(name).map(String::from)
        };
        let values = (spec.values)(s);
        if values.is_empty() {
            out.push(Effective { name, value: None, level, default });
            continue;
        }
        for v in values {
            out.push(Effective { name, value: Some(v), level, default: default.clone() });
        }
    }
    out
}

/// The first entry named `name`.
pub fn find<'v>(view: &'v [Effective], name: &str) -> Option<&'v Effective> {
    view.iter().find(|e| e.name == name)
}

/// One setting: the keywords that write it (the first is its name) and its values.
struct Spec {
    keys: &'static [&'static str],
    values: fn(&Settings) -> Vec<String>,
}

impl Spec {
    /// Key-share groups are read from the role's keywords (D30).
    fn keys_for(&self, role: Option<Role>) -> &'static [&'static str] {
        if self.keys == SERVER_GROUP_KEYS && role == Some(Role::Client) {
            CLIENT_GROUP_KEYS
        } else {
            self.keys
        }
    }
}

const CIPHER_KEYS: &[&str] = &["V3CipherSuites4Char", "V3CipherSuites"];
const SERVER_GROUP_KEYS: &[&str] = &["ServerKeyShareGroups", "ServerKexECurves"];
const CLIENT_GROUP_KEYS: &[&str] = &["ClientKeyShareGroups", "ClientECurves"];

fn on(b: bool) -> Vec<String> {
    vec![if b { "On" } else { "Off" }.to_string()]
}

fn hex4_list(codes: &[u16]) -> String {
    codes.iter().map(|c| format!("{c:04X}")).collect()
}

static SPECS: &[Spec] = &[
    Spec { keys: &["TTLSEnabled"], values: |s| on(s.ttls_enabled) },
    Spec { keys: &["Trace"], values: |s| vec![s.trace.to_string()] },
    Spec { keys: &["CtraceClearText"], values: |s| on(s.ctrace_clear_text) },
    Spec { keys: &["SyslogFacility"], values: |s| vec![s.syslog_facility.to_string()] },
    Spec {
        keys: &["HandshakeRole"],
        values: |s| s.handshake_role.map(|r| r.word().to_string()).into_iter().collect(),
    },
    Spec { keys: &["ClientAuthType"], values: |s| vec![s.client_auth_type.word().to_string()] },
    Spec { keys: &["Keyring"], values: |s| s.keyring.iter().cloned().collect() },
    Spec { keys: &["KeyringStashFile"], values: |s| s.keyring_stash_file.iter().cloned().collect() },
    Spec { keys: &["CertificateLabel"], values: |s| s.certificate_label.iter().cloned().collect() },
    Spec { keys: &["SSLv2"], values: |s| on(s.protocols.sslv2) },
    Spec { keys: &["SSLv3"], values: |s| on(s.protocols.sslv3) },
    Spec { keys: &["TLSv1"], values: |s| on(s.protocols.tlsv1) },
    Spec { keys: &["TLSv1.1"], values: |s| on(s.protocols.tlsv1_1) },
    Spec { keys: &["TLSv1.2"], values: |s| on(s.protocols.tlsv1_2) },
    Spec { keys: &["TLSv1.3"], values: |s| on(s.protocols.tlsv1_3) },
    Spec { keys: CIPHER_KEYS, values: |s| vec![hex4_list(&s.ciphers)] },
    // `Any`: the provider's groups, whether written so or unwritten (D30).
    Spec {
        keys: SERVER_GROUP_KEYS,
        values: |s| {
            vec![
                s.groups
                    .as_ref()
                    .map_or_else(|| "Any".into(), |g| g.iter().map(|n| format!("{n:04}")).collect()),
            ]
        },
    },
    Spec { keys: &["ApplicationControlled"], values: |s| on(s.application_controlled) },
    Spec { keys: &["SecondaryMap"], values: |s| on(s.secondary_map) },
    Spec { keys: &["HandshakeTimeout"], values: |s| vec![s.handshake_timeout.to_string()] },
    Spec { keys: &["ResetCipherTimer"], values: |s| vec![s.reset_cipher_timer.to_string()] },
    Spec {
        keys: &["ClientHandshakeSNI"],
        values: |s| s.client_handshake_sni.map(String::from).into_iter().collect(),
    },
    Spec { keys: &["ClientHandshakeSNIList"], values: |s| s.client_handshake_sni_list.clone() },
    Spec { keys: &["HostReferenceIdDNS"], values: |s| s.host_reference_id_dns.clone() },
    Spec { keys: &["GSK_V3_SESSION_TIMEOUT"], values: |s| vec![s.session.session_timeout.to_string()] },
    Spec { keys: &["GSK_V3_SIDCACHE_SIZE"], values: |s| vec![s.session.sid_cache_size.to_string()] },
    Spec { keys: &["GSK_SESSION_TICKET_SERVER_ENABLE"], values: |s| on(s.session.ticket_server_enable) },
    Spec {
        keys: &["GSK_SESSION_TICKET_SERVER_COUNT"],
        values: |s| vec![s.session.ticket_server_count.to_string()],
    },
    Spec {
        keys: &["GSK_SESSION_TICKET_SERVER_TIMEOUT"],
        values: |s| vec![s.session.ticket_server_timeout.to_string()],
    },
    Spec {
        keys: &["GSK_SESSION_TICKET_SERVER_KEY_REFRESH"],
        values: |s| vec![s.session.ticket_server_key_refresh.to_string()],
    },
    Spec { keys: &["GSK_SESSION_TICKET_CLIENT_ENABLE"], values: |s| on(s.session.ticket_client_enable) },
];

/// Parms blocks that a higher level replaces whole instead of parameter by parameter.
const WHOLE_BLOCKS: [Kind; 2] = [Kind::CipherParms, Kind::SignatureParms];

/// The highest level that wrote the setting written by `keys` (see the module documentation).
fn level_of(keys: &[&str], w: &WrittenActions) -> Level {
    let whole = WHOLE_BLOCKS.into_iter().find(|k| k.param(keys[0]).is_some());
    for level in Level::ACTIONS.into_iter().filter(|l| applies_at(keys[0], *l)) {
        let list = level.written(w);
        let wrote_setting = list.iter().any(|(k, _)| keys.contains(&k.as_str()));
        match whole {
            Some(block) if list.iter().any(|(k, _)| block.param(k).is_some()) => {
                return if wrote_setting { level } else { Level::Default };
            }
            None if wrote_setting => return level,
            _ => {}
        }
    }
    Level::Default
}

/// Whether the statements of `level` (the action or one of its parms blocks) may write `key` and
/// attls applies it there (not `Pending`, as SecondaryMap in TTLSGroupAdvancedParms).
fn applies_at(key: &str, level: Level) -> bool {
    let Some(action) = level.action() else { return false };
    std::iter::once(action)
        .chain(action.children().iter().map(|(k, _)| *k))
        .filter_map(|k| k.param(key))
        .any(|p| !matches!(p.support, Support::Pending | Support::PendingUnlessOff))
}

/// A written value in canonical spelling when its type is `On`/`Off` or a list of words (case is
/// ignored when reading, D3); anything else as written.
fn canonical(key: &str, raw: &str) -> String {
    let words: &[&str] = match ALL_KINDS.into_iter().find_map(|k| k.param(key)).map(|p| p.ty) {
        Some(ValueType::OnOff) => &["On", "Off"],
        Some(ValueType::Enum(words)) => words,
        _ => &[],
    };
    words.iter().find(|w| w.eq_ignore_ascii_case(raw)).map_or_else(|| raw.to_string(), |w| w.to_string())
}

#[cfg(test)]
mod tests;
