//! Renders a [`RuleTable`] back into policy text that loads into the same table: conditions inline
//! or as named address and port groups, each action once under its own name, with every effective
//! setting written out. Where several rules share an action, the values of the first rule that uses
//! it (in evaluation order, preferring one without a connection action) are written there; the
//! connection action of each rule then writes its rule's values in full.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::ast::{AddrMatch, PortSpan};
use super::catalog::Kind;
use super::table::{AddrCond, PortCond, Rule, RuleTable, Settings};

pub fn render(table: &RuleTable) -> String {
    let mut out = String::from("# rendered by attls\n");
    let mut addr_groups: BTreeMap<&str, &AddrCond> = BTreeMap::new();
    let mut port_groups: BTreeMap<&str, &PortCond> = BTreeMap::new();
    for rule in table.rules() {
        render_rule(&mut out, rule);
        for c in [&rule.local_addr, &rule.remote_addr] {
            if let Some(l) = &c.label {
                addr_groups.entry(l).or_insert(c);
            }
        }
        for c in [&rule.local_port, &rule.remote_port] {
            if let Some(l) = &c.label {
                port_groups.entry(l).or_insert(c);
            }
        }
    }
    for (name, cond) in addr_groups {
        let _ = writeln!(out, "IpAddrGroup {name}\n{{");
        if cond.entries.is_empty() {
            out.push_str(
                "  IpAddrSet\n  {\n    Prefix 0.0.0.0/0\n  }\n  IpAddrSet\n  {\n    Prefix ::/0\n  }\n",
            );
        }
        for e in &cond.entries {
            match e {
                AddrMatch::Range(lo, hi) => {
                    let _ = writeln!(out, "  IpAddrSet\n  {{\n    Range {lo}-{hi}\n  }}");
                }
                AddrMatch::Net(n) => {
                    let _ = writeln!(out, "  IpAddrSet\n  {{\n    Prefix {n}\n  }}");
                }
                AddrMatch::All => {}
            }
        }
        out.push_str("}\n");
    }
    for (name, cond) in port_groups {
        let _ = writeln!(out, "PortGroup {name}\n{{");
        if cond.entries.is_empty() {
            out.push_str("  PortRange\n  {\n    Port 0\n  }\n");
        }
        for s in &cond.entries {
            let _ = writeln!(out, "  PortRange\n  {{\n    Port {}\n  }}", port(s));
        }
        out.push_str("}\n");
    }
    render_actions(&mut out, table);
    out
}

fn port(s: &PortSpan) -> String {
    if s.lo == s.hi { s.lo.to_string() } else { format!("{}-{}", s.lo, s.hi) }
}

fn render_rule(out: &mut String, r: &Rule) {
    let _ = writeln!(out, "TTLSRule {}\n{{", r.name);
    for (kw, c) in [("Local", &r.local_addr), ("Remote", &r.remote_addr)] {
        match (&c.label, c.entries.as_slice()) {
            (Some(l), _) => {
                let _ = writeln!(out, "  {kw}AddrGroupRef {l}");
            }
            (None, []) => {}
            (None, [one]) => {
                let _ = writeln!(out, "  {kw}Addr {}", addr(one));
            }
            (None, _) => unreachable!("inline address conditions hold one entry"),
        }
    }
    for (kw, c) in [("Local", &r.local_port), ("Remote", &r.remote_port)] {
        match (&c.label, c.entries.as_slice()) {
            (Some(l), _) => {
                let _ = writeln!(out, "  {kw}PortGroupRef {l}");
            }
            (None, []) => {}
            (None, [one]) => {
                let _ = writeln!(out, "  {kw}PortRange {}", port(one));
            }
            (None, _) => unreachable!("inline port conditions hold one span"),
        }
    }
    let written_condition = !(r.local_addr.entries.is_empty() && r.local_addr.label.is_none());
    let any = [&r.remote_addr.label, &r.local_port.label, &r.remote_port.label].iter().any(|l| l.is_some())
        || !r.remote_addr.entries.is_empty()
        || !r.local_port.entries.is_empty()
        || !r.remote_port.entries.is_empty()
        || r.jobname.is_some()
        || r.userid.is_some();
    if !written_condition && !any {
        out.push_str("  LocalAddr All\n");
    }
    if let Some(j) = &r.jobname {
        let _ = writeln!(out, "  Jobname {j}");
    }
    if let Some(u) = &r.userid {
        let _ = writeln!(out, "  Userid {u}");
    }
    let _ = writeln!(out, "  Direction {}", r.direction.word());
    if let Some(p) = r.priority {
        let _ = writeln!(out, "  Priority {p}");
    }
    let _ = writeln!(out, "  TTLSGroupActionRef {}", r.group_action);
    if let Some(e) = &r.environment_action {
        let _ = writeln!(out, "  TTLSEnvironmentActionRef {e}");
    }
    if let Some(c) = &r.connection_action {
        let _ = writeln!(out, "  TTLSConnectionActionRef {c}");
    }
    out.push_str("}\n");
}

fn addr(m: &AddrMatch) -> String {
    match m {
        AddrMatch::Net(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn on(b: bool) -> &'static str {
    if b { "On" } else { "Off" }
}

fn render_actions(out: &mut String, table: &RuleTable) {
    let mut done: HashSet<(Kind, &str)> = HashSet::new();
    // Rules without a connection action first: their environment action must hold their values.
    let mut order: Vec<&Rule> =
        table.rules().iter().map(|r| &**r).filter(|r| r.connection_action.is_none()).collect();
    order.extend(table.rules().iter().map(|r| &**r).filter(|r| r.connection_action.is_some()));
    for r in order {
        let s = &r.settings;
        if done.insert((Kind::GroupAction, &r.group_action)) {
            let _ =
                writeln!(out, "TTLSGroupAction {}\n{{\n  TTLSEnabled {}", r.group_action, on(s.ttls_enabled));
            let _ = writeln!(out, "  Trace {}\n  CtraceClearText {}", s.trace, on(s.ctrace_clear_text));
            let _ = writeln!(
                out,
                "  TTLSGroupAdvancedParms\n  {{\n    SyslogFacility {}\n  }}\n}}",
                s.syslog_facility
            );
        }
        if let Some(e) = &r.environment_action
            && done.insert((Kind::EnvironmentAction, e))
        {
            let _ = writeln!(out, "TTLSEnvironmentAction {e}\n{{");
            if let Some(role) = s.handshake_role {
                let _ = writeln!(out, "  HandshakeRole {}", role.word());
            }
            if let Some(k) = &s.keyring {
                let _ = writeln!(out, "  TTLSKeyringParms\n  {{\n    Keyring {}", text(k));
                if let Some(pw) = &s.keyring_pw {
                    let _ = writeln!(out, "    KeyringPw {}", text(pw));
                }
                if let Some(st) = &s.keyring_stash_file {
                    let _ = writeln!(out, "    KeyringStashFile {}", text(st));
                }
                out.push_str("  }\n");
            }
            let g = &s.session;
            let _ = writeln!(
                out,
                "  TTLSGskAdvancedParms\n  {{\n    GSK_V3_SESSION_TIMEOUT {}\n    GSK_V3_SIDCACHE_SIZE {}\n    \
                 GSK_SESSION_TICKET_SERVER_ENABLE {}\n    GSK_SESSION_TICKET_SERVER_COUNT {}\n    \
                 GSK_SESSION_TICKET_SERVER_TIMEOUT {}\n    GSK_SESSION_TICKET_SERVER_KEY_REFRESH {}\n    \
                 GSK_SESSION_TICKET_CLIENT_ENABLE {}",
                g.session_timeout,
                g.sid_cache_size,
                on(g.ticket_server_enable),
                g.ticket_server_count,
                g.ticket_server_timeout,
                g.ticket_server_key_refresh,
                on(g.ticket_client_enable)
            );
            for (k, v) in s.other.iter().filter(|(k, _)| Kind::GskAdvancedParms.param(k).is_some()) {
                let _ = writeln!(out, "    {k} {v}");
            }
            out.push_str("  }\n");
            if r.connection_action.is_none() {
                render_level(out, s, "Environment");
            } else {
                let codes: String = s.environment_ciphers.iter().map(|c| format!("{c:04X}")).collect();
                let _ = writeln!(out, "  TTLSCipherParms\n  {{\n    V3CipherSuites4Char {codes}\n  }}");
            }
            out.push_str("}\n");
        }
        if let Some(c) = &r.connection_action
            && done.insert((Kind::ConnectionAction, c))
        {
            let _ = writeln!(out, "TTLSConnectionAction {c}\n{{");
            if let Some(role) = s.handshake_role {
                let _ = writeln!(out, "  HandshakeRole {}", role.word());
            }
            render_level(out, s, "Connection");
            out.push_str("}\n");
        }
    }
}

/// Everything a connection action can override, written at one level.
fn render_level(out: &mut String, s: &Settings, level: &str) {
    let _ = writeln!(out, "  Trace {}\n  CtraceClearText {}", s.trace, on(s.ctrace_clear_text));
    let codes: String = s.ciphers.iter().map(|c| format!("{c:04X}")).collect();
    let _ = writeln!(out, "  TTLSCipherParms\n  {{\n    V3CipherSuites4Char {codes}");
    for (k, v) in s.other.iter().filter(|(k, _)| Kind::CipherParms.param(k).is_some()) {
        let _ = writeln!(out, "    {k} {v}");
    }
    out.push_str("  }\n");
    let sig_other: Vec<_> = s.other.iter().filter(|(k, _)| Kind::SignatureParms.param(k).is_some()).collect();
    if s.groups.is_some() || !sig_other.is_empty() {
        out.push_str("  TTLSSignatureParms\n  {\n");
        if let Some(groups) = &s.groups {
            let kw = if s.handshake_role == Some(super::table::Role::Client) {
                "ClientKeyShareGroups"
            } else {
                "ServerKeyShareGroups"
            };
            let list: String = groups.iter().map(|g| format!("{g:04}")).collect();
            let _ = writeln!(out, "    {kw} {list}");
        }
        for (k, v) in sig_other {
            let _ = writeln!(out, "    {k} {v}");
        }
        out.push_str("  }\n");
    }
    let p = &s.protocols;
    let _ = writeln!(out, "  TTLS{level}AdvancedParms\n  {{");
    for (k, v) in [
        ("SSLv2", p.sslv2),
        ("SSLv3", p.sslv3),
        ("TLSv1", p.tlsv1),
        ("TLSv1.1", p.tlsv1_1),
        ("TLSv1.2", p.tlsv1_2),
        ("TLSv1.3", p.tlsv1_3),
    ] {
        let _ = writeln!(out, "    {k} {}", on(v));
    }
    let _ = writeln!(
        out,
        "    ApplicationControlled {}\n    SecondaryMap {}",
        on(s.application_controlled),
        on(s.secondary_map)
    );
    let _ = writeln!(
        out,
        "    HandshakeTimeout {}\n    ResetCipherTimer {}",
        s.handshake_timeout, s.reset_cipher_timer
    );
    let _ = writeln!(out, "    ClientAuthType {}", s.client_auth_type.word());
    if let Some(l) = &s.certificate_label {
        let _ = writeln!(out, "    CertificateLabel {}", text(l));
    }
    if let Some(sni) = s.client_handshake_sni {
        let _ = writeln!(out, "    ClientHandshakeSNI {sni}");
    }
    for n in &s.client_handshake_sni_list {
        let _ = writeln!(out, "    ClientHandshakeSNIList {}", text(n));
    }
    for n in &s.host_reference_id_dns {
        let _ = writeln!(out, "    HostReferenceIdDNS {}", text(n));
    }
    for (k, v) in s.other.iter().filter(|(k, _)| Kind::EnvironmentAdvancedParms.param(k).is_some()) {
        let _ = writeln!(out, "    {k} {v}");
    }
    out.push_str("  }\n");
}

/// A rest-of-line value, quoted when it holds characters the lexer would take as layout.
fn text(v: &str) -> String {
    if v.contains(['#', '{', '}']) || v.starts_with('"') { format!("\"{v}\"") } else { v.to_string() }
}
