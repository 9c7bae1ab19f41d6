//! Tests of `dry_run`: live connections mapped again by a candidate table.

use std::net::SocketAddr;
use std::sync::Arc;

use super::*;
use crate::policy::{LoadOptions, PolicyStatus, load_str};

fn table(text: &str) -> RuleTable {
    let loaded = load_str("t.pol", text, LoadOptions::default());
    loaded.table.unwrap_or_else(|| panic!("policy loads:\n{}", loaded.diagnostics.render(&loaded.sources)))
}

/// `TTLSEnabled Off` rules: (name, local port, jobname condition, extra lines).
fn policy(rules: &[(&str, u16, Option<&str>, &str)]) -> RuleTable {
    let mut s = String::from("TTLSGroupAction gOff\n{\n  TTLSEnabled Off\n}\n");
    for (name, port, job, extra) in rules {
        let job = job.map(|j| format!("  Jobname {j}\n")).unwrap_or_default();
        s.push_str(&format!(
            "TTLSRule {name}\n{{\n  LocalPortRange {port}\n  Direction Inbound\n{job}{extra}  \
             TTLSGroupActionRef gOff\n}}\n"
        ));
    }
    table(&s)
}

fn conn(id: u32, local: &str, rule: Option<&Arc<Rule>>) -> ConnSnapshot {
    let addr = |s: &str| s.parse::<SocketAddr>().expect("address");
    ConnSnapshot {
        jobname: "WEB".into(),
        userid: "www".into(),
        local: addr(local),
        remote: addr("127.0.0.1:50000"),
        policy_status: rule.map_or(PolicyStatus::NoPolicy, |r| r.settings.status()),
        map_type: rule.map(|_| MapType::Primary),
        rule: rule.cloned(),
        ..ConnSnapshot::sample(ConnId(id), "L")
    }
}

#[test]
fn connections_count_when_their_rule_would_differ_or_be_none() {
    let running = policy(&[("a", 443, None, ""), ("b", 8443, None, "")]);
    let (a, b) = (running.get("a").expect("a"), running.get("b").expect("b"));
    let live = [
        conn(1, "127.0.0.1:443", Some(a)),
        conn(2, "127.0.0.1:8443", Some(b)),
        conn(3, "127.0.0.1:80", None),
    ];
    assert_eq!(remapped(&live, &running), 0, "the same table maps every connection as before");
    // a moves to another port and c takes 443; b disappears; nothing matches port 80 still.
    let candidate = policy(&[("a", 4443, None, ""), ("c", 443, None, "")]);
    assert_eq!(remapped(&live, &candidate), 2);
    // A rule for port 80 maps the connection that had none.
    let candidate = policy(&[("a", 443, None, ""), ("b", 8443, None, ""), ("web", 80, None, "")]);
    assert_eq!(remapped(&live, &candidate), 1);
}

#[test]
fn the_owner_counts_and_an_unknown_owner_is_refused_where_rules_condition_on_it() {
    let running = policy(&[("a", 443, None, "")]);
    let a = running.get("a").expect("a");
    let mut unknown = conn(2, "127.0.0.1:443", Some(a));
    unknown.owner_known = false;
    let live = [conn(1, "127.0.0.1:443", Some(a)), unknown];
    assert_eq!(remapped(&live, &running), 0);
    // Connection 1 (WEB) would get the Jobname rule; 2's owner is unknown: refused (D35).
    let candidate = policy(&[("a", 443, None, ""), ("web", 443, Some("WEB"), "  Priority 10\n")]);
    assert_eq!(remapped(&live, &candidate), 2);
    // A Jobname rule for another owner leaves 1 alone; 2 is still refused.
    let candidate = policy(&[("a", 443, None, ""), ("web", 443, Some("OTHER"), "  Priority 10\n")]);
    assert_eq!(remapped(&live, &candidate), 1);
}

/// An FTP-like pair: control rule `ctl` (port 21, SecondaryMap as given) and optionally a rule of
/// its own for the data port.
fn secondary_policy(secondary_map: &str, data_rule: bool) -> RuleTable {
    let mut s = format!(
        "TTLSGroupAction gOn\n{{\n  TTLSEnabled On\n}}\n\
         TTLSRule ctl\n{{\n  LocalPortRange 21\n  Direction Inbound\n  Priority 100\n  TTLSGroupActionRef gOn\n  \
         TTLSEnvironmentActionRef e\n}}\n\
         TTLSEnvironmentAction e\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring /k\n  }}\n  \
         TTLSEnvironmentAdvancedParms\n  {{\n    SecondaryMap {secondary_map}\n  }}\n}}\n"
    );
    if data_rule {
        s.push_str(
            "TTLSRule data\n{\n  LocalPortRange 50010\n  Direction Inbound\n  TTLSGroupActionRef gOn\n  \
             TTLSEnvironmentActionRef e\n}\n",
        );
    }
    table(&s)
}

#[test]
fn a_secondary_connection_is_mapped_again_with_its_live_primary() {
    let running = secondary_policy("On", false);
    let ctl = running.get("ctl").expect("ctl");
    let mut data = conn(2, "127.0.0.1:50010", Some(ctl));
    (data.map_type, data.primary) = (Some(MapType::Secondary), Some(ConnId(1)));
    let live = [conn(1, "127.0.0.1:21", Some(ctl)), data.clone()];
    assert_eq!(remapped(&live, &running), 0, "the data connection keeps its primary's rule");
    assert_eq!(remapped(&live, &secondary_policy("On", true)), 0, "a lower-priority own rule loses");
    assert_eq!(remapped(&live, &secondary_policy("Off", true)), 1, "without SecondaryMap: its own rule");
    assert_eq!(remapped(&[data], &running), 1, "without a live primary: its own rule (none)");
}
