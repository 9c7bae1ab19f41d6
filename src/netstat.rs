//! `pagent netstat`: the Netstat TTLS report of live connections
//! (docs/policy-reference.md#netstat-report), as text and JSON.
//!
//! - [`list_text`]: one line per connection under a fixed header (the contract of
//!   docs/policy-reference.md#netstat-report). Each column is padded to its widest value, at least
//!   the width it has in that example (ConnID 8, JobName 7, Local 18, Remote 20, TLS 10, Map 9,
//!   Version 7, Cipher 6); the Rule column is last and never cut.
//! - [`detail_text`]: the z/OS `NETSTAT TTLS CONN id DETAIL` layout in the seed's field order (its
//!   `CertUserID` is the user the `CertUserMap` maps the client certificate to, `N/A` without), then
//!   an `attls:` block (listener, protocol, generation, how it went secure, bytes, start time, the
//!   peer's certificate subject and whether it was validated, `PeerValidated: Yes|No`, and the
//!   `NotAfter` of [`crate::expiry::of_connection`]: the server's certificate). The
//!   action blocks take values, levels and defaults from [`crate::policy::effective`].
//! - [`list_json`], [`detail_json`]: the same facts with the status words of
//!   docs/policy-reference.md#status-words. [`group`]: the per-TTLSGroupAction view (`--group`).
//!
//! Sockets print as `addr..port`, IPv4-mapped IPv6 as plain IPv4 (D2). Nothing here panics on any
//! snapshot: unknown codes, missing actions and odd values print as they are or as `N/A`.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::policy::catalog::default_of;
use crate::policy::ciphers;
use crate::policy::effective::{self, Effective, Level, last_written};
use crate::policy::table::{AddrCond, PortCond, Rule, WrittenActions};
use crate::registry::ConnSnapshot;

pub mod group;
mod json;
#[cfg(test)]
mod tests;

pub use json::{detail_json, list_json};

/// Column headers of the list and their minimum widths (the widths of the
/// docs/policy-reference.md#netstat-report example).
const COLUMNS: [(&str, usize); 9] = [
    ("ConnID", 8),
    ("JobName", 7),
    ("Local", 18),
    ("Remote", 20),
    ("TLS", 10),
    ("Map", 9),
    ("Version", 7),
    ("Cipher", 6),
    ("Rule", 0),
];

/// Value-column offsets: header fields, rule conditions, action parameters, attls additions.
const HEAD_W: usize = 15;
const RULE_W: usize = 16;
const ACTION_W: usize = 25;

/// The list: header line then one line per connection, in the order given.
pub fn list_text(conns: &[ConnSnapshot]) -> String {
    let rows: Vec<[String; 9]> = conns.iter().map(list_row).collect();
    let mut widths = COLUMNS.map(|(h, min)| h.chars().count().max(min));
    for row in &rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut out = String::new();
    let header = COLUMNS.map(|(h, _)| h.to_string());
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (v, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(v);
            } else {
                let _ = write!(line, "{v:<w$} ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn list_row(c: &ConnSnapshot) -> [String; 9] {
    [
        c.id.to_string(),
        c.jobname.clone(),
        socket_text(&c.local),
        socket_text(&c.remote),
        c.conn_status.word().to_string(),
        map_word(c).to_string(),
        c.tls_version.unwrap_or("-").to_string(),
        c.cipher.map_or_else(|| "-".to_string(), ciphers::hex4),
        c.rule.as_ref().map_or_else(|| "-".to_string(), |r| r.name.clone()),
    ]
}

/// `addr..port`, IPv4-mapped IPv6 printed as plain IPv4 (D2), IPv6 plain (no brackets).
pub fn socket_text(a: &SocketAddr) -> String {
    format!("{}..{}", plain_ip(a.ip()), a.port())
}

/// The address with IPv4-mapped IPv6 turned into IPv4 (D2).
fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `ip:port` (brackets for IPv6), IPv4-mapped as IPv4.
pub fn socket_addr_text(a: &SocketAddr) -> String {
    SocketAddr::new(plain_ip(a.ip()), a.port()).to_string()
}

/// `Primary`, `Secondary`, or `none` when there is no rule (NO_POLICY) or no mapping yet.
fn map_word(c: &ConnSnapshot) -> &'static str {
    match (&c.rule, c.map_type) {
        (Some(_), Some(m)) => m.word(),
        _ => "none",
    }
}

/// `TLS Version 1.3` from `TLSv1.3`; `N/A` while clear.
fn sec_level(c: &ConnSnapshot) -> String {
    match c.tls_version {
        Some(v) => format!("TLS Version {}", v.strip_prefix("TLSv").unwrap_or(v)),
        None => "N/A".into(),
    }
}

/// `1302 TLS_AES_256_GCM_SHA384` (2-char code up to 0x00FF), the code alone when the name is unknown.
fn cipher_text(code: u16) -> String {
    match ciphers::name_of(code) {
        Some(name) => format!("{} {name}", ciphers::short_code(code)),
        None => ciphers::short_code(code),
    }
}

/// A key-share group as z/OS numbers it (4 decimal digits, as `ServerKeyShareGroups` and the
/// docs/policy-reference.md#netstat-report example `4588 X25519MLKEM768` write it) with its name.
fn key_share_text(group: u16) -> String {
    format!("{group:04} {}", group_name(group).unwrap_or("unknown"))
}

/// The IANA name of a key-exchange group attls may negotiate.
pub fn group_name(group: u16) -> Option<&'static str> {
    Some(match group {
        0x0017 => "secp256r1",
        0x0018 => "secp384r1",
        0x0019 => "secp521r1",
        0x001D => "X25519",
        0x001E => "X448",
        0x11EC => "X25519MLKEM768",
        _ => return None,
    })
}

/// One `Key:` line with the value at column `indent + width` (at least one space after the colon).
fn field(out: &mut String, indent: usize, width: usize, key: &str, value: &str) {
    let key = format!("{key}:");
    let pad = width.saturating_sub(key.chars().count()).max(1);
    let line = format!("{:indent$}{key}{:pad$}{value}", "", "");
    out.push_str(line.trim_end());
    out.push('\n');
}

type Params = [(String, String)];

/// `All`, `label (a, b)`, or the list.
fn addr_text(c: &AddrCond) -> String {
    let list: Vec<String> = c.entries.iter().map(|e| e.to_string()).collect();
    let list = if list.is_empty() { "All".to_string() } else { list.join(", ") };
    match &c.label {
        Some(l) => format!("{l} ({list})"),
        None => list,
    }
}

/// `LocalPort: n`, `LocalPortFrom: n  LocalPortTo: m`, or a list; nothing when any port matches.
fn port_lines(out: &mut String, side: &str, c: &PortCond) {
    if c.entries.is_empty() || c.entries.iter().any(|p| p.is_any()) {
        return;
    }
    match c.entries.as_slice() {
        [p] if p.lo == p.hi => field(out, 2, RULE_W, &format!("{side}Port"), &p.lo.to_string()),
        [p] => {
            let value = format!("{:<RULE_W$}{side}PortTo: {}", p.lo, p.hi);
            field(out, 2, RULE_W, &format!("{side}PortFrom"), &value);
        }
        many => {
            let list: Vec<String> = many.iter().map(|p| p.to_string()).collect();
            let list = list.join(", ");
            let value = c.label.as_ref().map_or_else(|| list.clone(), |l| format!("{l} ({list})"));
            field(out, 2, RULE_W, &format!("{side}Port"), &value);
        }
    }
}

/// The z/OS-style detail report of one connection (docs/policy-reference.md#netstat-report detail,
/// seed field order), plus attls lines.
///
/// The group block's `GroupID` is the policy generation the connection was mapped with (8 hex
/// digits): attls has no z/OS group instance, and the generation is what identifies the actions a
/// connection runs with.
pub fn detail_text(c: &ConnSnapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ConnID: {}", c.id);
    let head = |out: &mut String, k: &str, v: &str| field(out, 2, HEAD_W, k, v);
    head(&mut out, "JobName", &c.jobname);
    head(&mut out, "LocalSocket", &socket_text(&c.local));
    head(&mut out, "RemoteSocket", &socket_text(&c.remote));
    head(&mut out, "SecLevel", &sec_level(c));
    head(&mut out, "Cipher", &c.cipher.map_or_else(|| "N/A".into(), cipher_text));
    if let (Some("TLSv1.3"), Some(g)) = (c.tls_version, c.key_share) {
        head(&mut out, "KeyShare", &key_share_text(g));
    }
    head(&mut out, "CertUserID", c.cert_user.as_deref().unwrap_or("N/A"));
    head(&mut out, "MapType", map_word(c));
    if let (Some(crate::policy::MapType::Secondary), Some(p)) = (c.map_type, c.primary) {
        head(&mut out, "PrimaryConnID", &p.to_string());
    }
    if let Some(rule) = &c.rule {
        rule_block(&mut out, rule, c.generation);
    }
    out.push_str("attls:\n");
    head(&mut out, "Listener", &c.listener);
    head(&mut out, "Protocol", c.protocol_helper);
    head(&mut out, "Generation", &c.generation.to_string());
    head(&mut out, "Secured", c.secured_how.as_deref().unwrap_or("N/A"));
    head(&mut out, "BytesIn", &c.bytes_in.to_string());
    head(&mut out, "BytesOut", &c.bytes_out.to_string());
    head(&mut out, "Started", &rfc3339(c.started));
    if let Some(s) = &c.peer_subject {
        head(&mut out, "PeerSubject", s);
    }
    if let Some(v) = c.peer_validated() {
        head(&mut out, "PeerValidated", if v { "Yes" } else { "No" });
    }
    if let Some(r) = c.tls_resumed {
        head(&mut out, "Resumed", if r { "Yes" } else { "No" });
    }
    if let Some(f) = c.fips_mode {
        head(&mut out, "FIPSMode", if f { "On" } else { "Off" });
    }
    if let Some(not_after) = crate::expiry::of_connection(c) {
        head(&mut out, "NotAfter", &rfc3339(not_after));
    }
    out
}

fn rule_block(out: &mut String, r: &Rule, generation: u64) {
    let _ = writeln!(out, "TTLSRule: {}", r.name);
    let cond = |out: &mut String, k: &str, v: &str| field(out, 2, RULE_W, k, v);
    if let Some(p) = r.priority {
        cond(out, "Priority", &p.to_string());
    }
    cond(out, "LocalAddr", &addr_text(&r.local_addr));
    port_lines(out, "Local", &r.local_port);
    cond(out, "RemoteAddr", &addr_text(&r.remote_addr));
    port_lines(out, "Remote", &r.remote_port);
    if let Some(j) = &r.jobname {
        cond(out, "Jobname", j);
    }
    if let Some(u) = &r.userid {
        cond(out, "Userid", u);
    }
    cond(out, "Direction", r.direction.word());

    let view = effective::effective(r);
    group_block(out, r, &view, generation);
    if let Some(env_name) = &r.environment_action {
        env_block(out, r, &view, env_name);
    }
    if let Some(conn_name) = &r.connection_action {
        let _ = writeln!(out, "  TTLSConnAction: {conn_name}");
        for (k, v) in &r.settings.written.connection {
            action_field(out, k, v);
        }
    }
}

fn action_field(out: &mut String, key: &str, value: &str) {
    field(out, 4, ACTION_W, key, value);
}

/// A setting as the block of `level` shows it ([`Effective::shown_at`]), `N/A` when it has no value.
fn shown(view: &[Effective], w: &WrittenActions, name: &str, level: Level) -> String {
    effective::find(view, name).and_then(|e| e.shown_at(level, w)).unwrap_or_else(|| "N/A".into())
}

/// The group block's fields and the level each is shown at: z/OS shows SecondaryMap here, attls
/// applies it from the environment or connection advanced parms.
const GROUP_FIELDS: [(&str, Level); 5] = [
    ("TTLSEnabled", Level::Group),
    ("CtraceClearText", Level::Group),
    ("Trace", Level::Group),
    ("SyslogFacility", Level::Group),
    ("SecondaryMap", Level::Environment),
];

/// The group action block; then what else the group wrote.
fn group_block(out: &mut String, r: &Rule, view: &[Effective], generation: u64) {
    let w = &r.settings.written;
    let _ = writeln!(out, "  TTLSGrpAction: {}", r.group_action);
    action_field(out, "GroupID", &format!("{generation:08X}"));
    for (name, level) in GROUP_FIELDS {
        action_field(out, name, &shown(view, w, name, level));
    }
    for (k, v) in w.group.iter().filter(|(k, _)| GROUP_FIELDS.iter().all(|(n, _)| n != k)) {
        action_field(out, k, v);
    }
}

/// The environment block's fields before the cipher list (z/OS label, keyword) and after it.
const ENV_BEFORE: [(&str, &str); 8] = [
    ("HandshakeRole", "HandshakeRole"),
    ("Keyring", "Keyring"),
    ("SSLV2", "SSLv2"),
    ("SSLV3", "SSLv3"),
    ("TLSV1", "TLSv1"),
    ("TLSV1.1", "TLSv1.1"),
    ("TLSV1.2", "TLSv1.2"),
    ("TLSV1.3", "TLSv1.3"),
];
const ENV_AFTER: [&str; 4] =
    ["ResetCipherTimer", "ApplicationControlled", "HandshakeTimeout", "ClientAuthType"];
const ENV_OTHER_SHOWN: [&str; 3] = ["EnvironmentUserInstance", "V3CipherSuites", "V3CipherSuites4Char"];

/// The environment action block with defaults filled in; then what else the environment wrote.
fn env_block(out: &mut String, r: &Rule, view: &[Effective], env_name: &str) {
    let (s, w) = (&r.settings, &r.settings.written);
    let _ = writeln!(out, "  TTLSEnvAction: {env_name}");
    let key = "EnvironmentUserInstance";
    action_field(out, key, last_written(Level::Environment, w, key).or(default_of(key)).unwrap_or("N/A"));
    for (label, key) in ENV_BEFORE {
        action_field(out, label, &shown(view, w, key, Level::Environment));
    }
    // The environment's own list when the connection action replaces it.
    let replaced = effective::find(view, "V3CipherSuites4Char").is_some_and(|c| c.level == Level::Connection);
    let list = if replaced { &s.environment_ciphers } else { &s.ciphers };
    match list.split_first() {
        None => action_field(out, "V3CipherSuites", "N/A"),
        Some((first, rest)) => {
            action_field(out, "V3CipherSuites", &cipher_text(*first));
            for &code in rest {
                let _ = writeln!(out, "{:w$}{}", "", cipher_text(code), w = 4 + ACTION_W);
            }
        }
    }
    for name in ENV_AFTER {
        action_field(out, name, &shown(view, w, name, Level::Environment));
    }
    let shown_above = |k: &str| {
        ENV_BEFORE.iter().any(|(_, n)| *n == k) || ENV_AFTER.contains(&k) || ENV_OTHER_SHOWN.contains(&k)
    };
    for (k, v) in w.environment.iter().filter(|(k, _)| !shown_above(k)) {
        action_field(out, k, v);
    }
}

/// RFC 3339 UTC (`2024-05-01T12:00:00Z`), whole seconds; times before 1970 print as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}
