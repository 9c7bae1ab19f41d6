//! Reports of the rule table: `pagent search` (like z/OS `pasearch -t`: every rule in evaluation
//! order with its conditions and resolved actions) as text and JSON, and the settings block that
//! `pagent check --match` prints. Both use the same JSON keys. The search report adds each used
//! certificate's notAfter where the rule's keyring opens (`NotAfter:`, `not_after`).

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::expiry::report as expiry;
use crate::policy::catalog::Kind;
use crate::policy::ciphers;
use crate::policy::effective;
use crate::policy::table::{AddrCond, PortCond, Rule, Settings};

fn addrs(c: &AddrCond) -> Value {
    c.entries.iter().map(|e| Value::String(e.to_string())).collect()
}

fn ports(c: &PortCond) -> Value {
    c.entries.iter().map(|e| Value::String(e.to_string())).collect()
}

fn hex_list(codes: &[u16]) -> Value {
    codes.iter().map(|&c| Value::String(ciphers::hex4(c))).collect()
}

/// One rule as a JSON object with the keys of the `pagent search --json` contract.
pub fn rule_json(r: &Rule) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(r.name));
    m.insert("priority".into(), json!(r.priority));
    m.insert("direction".into(), json!(r.direction.word()));
    m.insert("local_addr".into(), addrs(&r.local_addr));
    m.insert("local_addr_ref".into(), json!(r.local_addr.label));
    m.insert("remote_addr".into(), addrs(&r.remote_addr));
    m.insert("remote_addr_ref".into(), json!(r.remote_addr.label));
    m.insert("local_port".into(), ports(&r.local_port));
    m.insert("local_port_ref".into(), json!(r.local_port.label));
    m.insert("remote_port".into(), ports(&r.remote_port));
    m.insert("remote_port_ref".into(), json!(r.remote_port.label));
    m.insert("jobname".into(), json!(r.jobname));
    m.insert("userid".into(), json!(r.userid));
    m.insert("time_condition".into(), json!(r.time_condition));
    m.insert("group_action".into(), json!(r.group_action));
    m.insert("environment_action".into(), json!(r.environment_action));
    m.insert("connection_action".into(), json!(r.connection_action));
    settings_into(&mut m, &r.settings);
    Value::Object(m)
}

fn settings_into(m: &mut Map<String, Value>, s: &Settings) {
    m.insert("status".into(), json!(s.status().word()));
    m.insert("ttls_enabled".into(), json!(s.ttls_enabled));
    m.insert("handshake_role".into(), json!(s.handshake_role.map(|r| r.word())));
    m.insert("client_auth_type".into(), json!(s.client_auth_type.word()));
    m.insert("keyring".into(), json!(s.keyring));
    m.insert("keyring_stash_file".into(), json!(s.keyring_stash_file));
    m.insert("certificate_label".into(), json!(s.certificate_label));
    m.insert("protocols".into(), json!(s.protocols.names()));
    m.insert("ciphers".into(), hex_list(&s.ciphers));
    m.insert("ciphers_rustls".into(), hex_list(&s.ciphers_rustls));
    let groups =
        |g: &Option<Vec<u16>>| g.as_ref().map(|g| g.iter().map(|n| format!("{n:04}")).collect::<Vec<_>>());
    m.insert("groups".into(), json!(groups(&s.groups)));
    m.insert("groups_rustls".into(), json!(groups(&s.groups_rustls)));
    m.insert("application_controlled".into(), json!(s.application_controlled));
    m.insert("secondary_map".into(), json!(s.secondary_map));
    m.insert("handshake_timeout".into(), json!(s.handshake_timeout));
    m.insert("reset_cipher_timer".into(), json!(s.reset_cipher_timer));
    m.insert("trace".into(), json!(s.trace));
    m.insert("ctrace_clear_text".into(), json!(s.ctrace_clear_text));
    m.insert("syslog_facility".into(), json!(s.syslog_facility));
    m.insert("client_handshake_sni".into(), json!(s.client_handshake_sni));
    m.insert("client_handshake_sni_list".into(), json!(s.client_handshake_sni_list));
    m.insert("host_reference_id_dns".into(), json!(s.host_reference_id_dns));
    let g = &s.session;
    m.insert(
        "session".into(),
        json!({
            "session_timeout": g.session_timeout,
            "sid_cache_size": g.sid_cache_size,
            "ticket_server_enable": g.ticket_server_enable,
            "ticket_server_count": g.ticket_server_count,
            "ticket_server_timeout": g.ticket_server_timeout,
            "ticket_server_key_refresh": g.ticket_server_key_refresh,
            "ticket_client_enable": g.ticket_client_enable,
        }),
    );
    let other: Map<String, Value> =
        s.other.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    m.insert("other".into(), Value::Object(other));
}

/// `{"rules": [...]}` for `pagent search --json`: each rule object with `not_after` and
/// `certificates` ([`crate::expiry::report::search_json`]).
pub fn search_json<'a>(rules: impl Iterator<Item = &'a Rule>) -> Value {
    let with_dates = |r: &Rule| {
        let mut v = rule_json(r);
        let (not_after, certificates) = expiry::search_json(&expiry::for_search(r));
        if let Value::Object(m) = &mut v {
            m.insert("not_after".into(), not_after);
            m.insert("certificates".into(), certificates);
        }
        v
    };
    json!({ "rules": rules.map(with_dates).collect::<Vec<_>>() })
}

fn on(b: bool) -> &'static str {
    if b { "On" } else { "Off" }
}

fn cond_text(label: &Option<String>, entries: Vec<String>, any: &str) -> String {
    let list = entries.join(", ");
    match (label, entries.is_empty()) {
        (Some(l), true) => format!("{l} ({any})"),
        (Some(l), false) => format!("{l} ({list})"),
        (None, true) => any.to_string(),
        (None, false) => list,
    }
}

/// The pasearch-like text block of one rule.
pub fn rule_text(out: &mut String, r: &Rule) {
    let prio = r.priority.map_or("-".into(), |p| p.to_string());
    let _ = writeln!(out, "TTLSRule: {:<20} Priority: {prio:<6} Status: Active", r.name);
    let mut actions = format!("{} (Group)", r.group_action);
    if let Some(e) = &r.environment_action {
        let _ = write!(actions, " {e} (Environment)");
    }
    if let Some(c) = &r.connection_action {
        let _ = write!(actions, " {c} (Connection)");
    }
    let _ = writeln!(out, "  Actions: {actions}");
    let la =
        cond_text(&r.local_addr.label, r.local_addr.entries.iter().map(|e| e.to_string()).collect(), "All");
    let lp =
        cond_text(&r.local_port.label, r.local_port.entries.iter().map(|e| e.to_string()).collect(), "All");
    let ra =
        cond_text(&r.remote_addr.label, r.remote_addr.entries.iter().map(|e| e.to_string()).collect(), "All");
    let rp =
        cond_text(&r.remote_port.label, r.remote_port.entries.iter().map(|e| e.to_string()).collect(), "All");
    let _ = writeln!(out, "  Local:   {la}  Ports {lp}");
    let _ = writeln!(
        out,
        "  Remote:  {ra}  Ports {rp}   Jobname {}  Userid {}  Direction {}",
        r.jobname.as_deref().unwrap_or("*"),
        r.userid.as_deref().unwrap_or("*"),
        r.direction.word()
    );
    if r.time_condition {
        out.push_str("  IpTimeCondition: written, not evaluated (always active)\n");
    }
    settings_text(out, &r.settings, "  ");
    not_after_text(out, r);
}

/// `NotAfter:` of each certificate the rule uses when its keyring opens ([`expiry::for_search`]:
/// keyrings named by path): per keyed certificate its leaf with the label, then its chain.
fn not_after_text(out: &mut String, r: &Rule) {
    let used = expiry::for_search(r);
    let lines = used.iter().flat_map(|u| u.chain.iter().enumerate().map(move |(i, c)| (u, i, c)));
    for (n, (u, position, cert)) in lines.enumerate() {
        let key = if n == 0 { "NotAfter: " } else { "" };
        let label = if position == 0 { format!("  (label {})", u.label) } else { String::new() };
        let date = crate::netstat::rfc3339(cert.not_after);
        let _ = writeln!(out, "  {key:<24}{date}  {}{label}", cert.subject);
    }
}

/// The resolved settings, one `Name: value` per line, in the order of the effective settings
/// ([`effective`]): the cipher list one suite a line with those rustls will not offer marked, the
/// key-share groups only when written, the GSK session parameters summed up in one `Sessions` line,
/// then every other written parameter.
pub fn settings_text(out: &mut String, s: &Settings, indent: &str) {
    let mut line = |k: &str, v: String| {
        let key = if k.is_empty() { String::new() } else { format!("{k}: ") };
        let _ = writeln!(out, "{indent}{key:<24}{v}");
    };
    line("PolicyStatus", s.status().word().into());
    for e in effective::of_settings(s) {
        match e.name {
            "V3CipherSuites4Char" => {
                for (i, &c) in s.ciphers.iter().enumerate() {
                    let mark = if s.ciphers_rustls.contains(&c) { "" } else { "  (not offered)" };
                    let text = format!("{} {}{mark}", ciphers::hex4(c), ciphers::name_of(c).unwrap_or("?"));
                    line(if i == 0 { "V3CipherSuites" } else { "" }, text);
                }
            }
            "ServerKeyShareGroups" | "ClientKeyShareGroups" => {
                if let Some(g) = &s.groups {
                    let usable = s.groups_rustls.as_deref().unwrap_or_default();
                    let list: Vec<String> = g
                        .iter()
                        .map(|n| {
                            if usable.contains(n) {
                                format!("{n:04}")
                            } else {
                                format!("{n:04} (not offered)")
                            }
                        })
                        .collect();
                    line("KeyShareGroups", list.join(" "));
                }
            }
            name if Kind::GskAdvancedParms.param(name).is_some() => {}
            // Shown even when unset.
            "HandshakeRole" | "Keyring" => line(e.name, e.value.unwrap_or_else(|| "-".into())),
            _ => {
                if let Some(v) = e.value {
                    line(e.name, v);
                }
            }
        }
    }
    let g = &s.session;
    line(
        "Sessions",
        format!(
            "timeout {}s, cache {}, server tickets {} (count {}, lifetime {}s, key refresh {}s), client tickets {}",
            g.session_timeout,
            g.sid_cache_size,
            on(g.ticket_server_enable),
            g.ticket_server_count,
            g.ticket_server_timeout,
            g.ticket_server_key_refresh,
            on(g.ticket_client_enable)
        ),
    );
    for (k, v) in &s.other {
        line(k, v.clone());
    }
}
