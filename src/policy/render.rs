//! Renders a [`RuleTable`] back into policy text that loads into the same table: conditions inline
//! or as named address and port groups, each action once under its own name, with every effective
//! setting written out (values from the [`effective`](super::effective) view). Where several rules
//! share an action, the values of the first rule that uses it (in evaluation order, preferring one
//! without a connection action) are written there; the connection action of each rule then writes
//! its rule's values in full.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::ast::{AddrMatch, PortSpan};
use super::catalog::Kind;
use super::effective::{Effective, effective};
use super::table::{AddrCond, PortCond, Rule, RuleTable, Settings};

pub fn render(table: &RuleTable) -> String {
    let mut out = String::from("# rendered by attls\n");
    if table.rules().is_empty() {
        // A file of comments alone does not load (an empty policy is an error, D34), while a
        // policy of actions without rules does: an unreferenced action keeps the rendering valid.
        out.push_str("TTLSGroupAction rendered~no~rules\n{\n  TTLSEnabled Off\n}\n");
        return out;
    }
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

fn render_actions(out: &mut String, table: &RuleTable) {
    let mut done: HashSet<(Kind, &str)> = HashSet::new();
    // Rules without a connection action first: their environment action must hold their values.
    let mut order: Vec<&Rule> =
        table.rules().iter().map(|r| &**r).filter(|r| r.connection_action.is_none()).collect();
    order.extend(table.rules().iter().map(|r| &**r).filter(|r| r.connection_action.is_some()));
    for r in order {
        let view = effective(r);
        if done.insert((Kind::GroupAction, &r.group_action)) {
            let _ = writeln!(out, "TTLSGroupAction {}\n{{", r.group_action);
            write_settings(out, &view, &["TTLSEnabled", "Trace", "CtraceClearText"], "  ");
            out.push_str("  TTLSGroupAdvancedParms\n  {\n");
            write_settings(out, &view, &["SyslogFacility"], "    ");
            out.push_str("  }\n}\n");
        }
        if let Some(e) = &r.environment_action
            && done.insert((Kind::EnvironmentAction, e))
        {
            render_environment(out, r, &view, e);
        }
        if let Some(c) = &r.connection_action
            && done.insert((Kind::ConnectionAction, c))
        {
            let _ = writeln!(out, "TTLSConnectionAction {c}\n{{");
            write_settings(out, &view, &["HandshakeRole"], "  ");
            render_level(out, &r.settings, &view, "Connection");
            out.push_str("}\n");
        }
    }
}

/// Writes the values of the named settings, one `Name value` line each, in the order of `names`.
fn write_settings(out: &mut String, view: &[Effective], names: &[&str], indent: &str) {
    for name in names {
        for v in view.iter().filter(|e| e.name == *name).filter_map(|e| e.value.as_deref()) {
            let _ = writeln!(out, "{indent}{name} {}", text(v));
        }
    }
}

fn render_environment(out: &mut String, r: &Rule, view: &[Effective], name: &str) {
    let s = &r.settings;
    let _ = writeln!(out, "TTLSEnvironmentAction {name}\n{{");
    write_settings(out, view, &["HandshakeRole"], "  ");
    if s.keyring.is_some() {
        out.push_str("  TTLSKeyringParms\n  {\n");
        write_settings(out, view, &["Keyring"], "    ");
        if let Some(pw) = &s.keyring_pw {
            let _ = writeln!(out, "    KeyringPw {}", text(pw));
        }
        write_settings(out, view, &["KeyringStashFile"], "    ");
        out.push_str("  }\n");
    }
    out.push_str("  TTLSGskAdvancedParms\n  {\n");
    let gsk: Vec<&str> =
        view.iter().map(|e| e.name).filter(|n| Kind::GskAdvancedParms.param(n).is_some()).collect();
    write_settings(out, view, &gsk, "    ");
    for (k, v) in s.other.iter().filter(|(k, _)| Kind::GskAdvancedParms.param(k).is_some()) {
        let _ = writeln!(out, "    {k} {v}");
    }
    out.push_str("  }\n");
    if r.connection_action.is_none() {
        render_level(out, s, view, "Environment");
    } else {
        let codes: String = s.environment_ciphers.iter().map(|c| format!("{c:04X}")).collect();
        let _ = writeln!(out, "  TTLSCipherParms\n  {{\n    V3CipherSuites4Char {codes}\n  }}");
    }
    out.push_str("}\n");
}

/// The advanced parameters a level writes, in the order written.
const ADVANCED: [&str; 15] = [
    "SSLv2",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "ApplicationControlled",
    "SecondaryMap",
    "HandshakeTimeout",
    "ResetCipherTimer",
    "ClientAuthType",
    "CertificateLabel",
    "ClientHandshakeSNI",
    "ClientHandshakeSNIList",
    "HostReferenceIdDNS",
];

/// Everything a connection action can override, written at one level.
fn render_level(out: &mut String, s: &Settings, view: &[Effective], level: &str) {
    write_settings(out, view, &["Trace", "CtraceClearText"], "  ");
    out.push_str("  TTLSCipherParms\n  {\n");
    write_settings(out, view, &["V3CipherSuites4Char"], "    ");
    for (k, v) in s.other.iter().filter(|(k, _)| Kind::CipherParms.param(k).is_some()) {
        let _ = writeln!(out, "    {k} {v}");
    }
    out.push_str("  }\n");
    let sig_other: Vec<_> = s.other.iter().filter(|(k, _)| Kind::SignatureParms.param(k).is_some()).collect();
    if s.groups.is_some() || !sig_other.is_empty() {
        out.push_str("  TTLSSignatureParms\n  {\n");
        if s.groups.is_some() {
            // The view names the role's keyword (D30).
            write_settings(out, view, &["ServerKeyShareGroups", "ClientKeyShareGroups"], "    ");
        }
        for (k, v) in sig_other {
            let _ = writeln!(out, "    {k} {v}");
        }
        out.push_str("  }\n");
    }
    let _ = writeln!(out, "  TTLS{level}AdvancedParms\n  {{");
    write_settings(out, view, &ADVANCED, "    ");
    for (k, v) in s.other.iter().filter(|(k, _)| Kind::EnvironmentAdvancedParms.param(k).is_some()) {
        let _ = writeln!(out, "    {k} {v}");
    }
    out.push_str("  }\n");
}

/// A rest-of-line value, quoted when it holds characters the lexer would take as layout.
fn text(v: &str) -> String {
    if v.contains(['#', '{', '}']) || v.starts_with('"') { format!("\"{v}\"") } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{LoadOptions, load_str};

    #[test]
    fn a_policy_without_rules_renders_as_one_that_loads_without_rules() {
        let loaded = load_str("x.pol", "TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n", LoadOptions::default());
        let table = loaded.table.expect("actions without rules load");
        assert!(table.rules().is_empty());
        let again = load_str("rendered.pol", &render(&table), LoadOptions::default());
        let again = again.table.expect("the rendering loads");
        assert!(again.rules().is_empty());
    }
}
