//! Tests of `diff`: rules added, removed and changed, with each setting by its effective name.

use super::*;
use crate::policy::{LoadOptions, load_str};

fn table(text: &str) -> RuleTable {
    let loaded = load_str("t.pol", text, LoadOptions::default());
    loaded.table.unwrap_or_else(|| panic!("policy loads:\n{}", loaded.diagnostics.render(&loaded.sources)))
}

/// A server rule on `port` with its own actions; `advanced` lines go in the environment's
/// advanced parms.
fn server(name: &str, port: u16, advanced: &str) -> String {
    format!(
        "TTLSRule {name}\n{{\n  LocalPortRange {port}\n  Direction Inbound\n  TTLSGroupActionRef g\n  \
         TTLSEnvironmentActionRef e~{name}\n}}\n\
         TTLSEnvironmentAction e~{name}\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    \
         Keyring /etc/attls/keys/server\n  }}\n  TTLSEnvironmentAdvancedParms\n  {{\n{advanced}\n  }}\n}}\n"
    )
}

const GROUP: &str = "TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n";

fn policy(rules: &[String]) -> RuleTable {
    table(&(GROUP.to_string() + &rules.concat()))
}

fn change(name: &str, old: Option<&str>, new: Option<&str>) -> SettingChange {
    SettingChange { name: name.into(), old: old.map(String::from), new: new.map(String::from) }
}

#[test]
fn the_same_policy_has_no_changes() {
    let rules = [server("a", 443, "    HandshakeTimeout 10"), server("b", 8443, "    TLSv1.3 On")];
    let d = diff(&policy(&rules), &policy(&rules));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(d.text(), "no changes\n");
}

#[test]
fn added_removed_and_changed_rules_with_each_setting_old_and_new() {
    let old = policy(&[server("keep", 443, "    HandshakeTimeout 10"), server("gone", 25, "    TLSv1.3 On")]);
    let new = policy(&[
        server("keep", 4443, "    HandshakeTimeout 20\n    TLSv1.3 Off"),
        server("fresh", 993, "    TLSv1.3 On"),
    ]);
    let d = diff(&old, &new);
    assert_eq!(d.added, ["fresh"]);
    assert_eq!(d.removed, ["gone"]);
    assert_eq!(d.changed.len(), 1, "{d:?}");
    assert_eq!(d.changed[0].rule, "keep");
    assert_eq!(
        d.changed[0].settings,
        [
            change("LocalPort", Some("443"), Some("4443")),
            change("TLSv1.3", Some("On"), Some("Off")),
            change("HandshakeTimeout", Some("10"), Some("20")),
        ]
    );
    assert_eq!(
        d.text(),
        "+ fresh\n- gone\n~ keep\n    LocalPort: 443 -> 4443\n    TLSv1.3: On -> Off\n    \
         HandshakeTimeout: 10 -> 20\n"
    );
}

#[test]
fn unset_values_and_lists_and_other_parameters_are_compared_too() {
    let old = policy(&[server("c", 443, "    HostReferenceIdDNS a.example")]);
    let new = policy(&[server(
        "c",
        443,
        "    HostReferenceIdDNS a.example\n    HostReferenceIdDNS b.example\n    CertificateLabel web",
    )]);
    let d = diff(&old, &new);
    let names: Vec<&str> = d.changed[0].settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["CertificateLabel", "HostReferenceIdDNS"], "{d:?}");
    assert_eq!(d.changed[0].settings[0], change("CertificateLabel", None, Some("web")));
    assert_eq!(
        d.changed[0].settings[1],
        change("HostReferenceIdDNS", Some("a.example"), Some("a.example, b.example"))
    );
    assert!(d.text().contains("    CertificateLabel: - -> web\n"), "{}", d.text());
}

#[test]
fn a_changed_group_action_shows_under_every_rule_that_uses_it() {
    let rules = [server("a", 443, "    TLSv1.3 On"), server("b", 8443, "    TLSv1.3 On")];
    let old = policy(&rules);
    let new = table(&(GROUP.replace("TTLSEnabled On", "TTLSEnabled On\n  Trace 6") + &rules.concat()));
    let d = diff(&old, &new);
    let changed: Vec<(&str, &[SettingChange])> =
        d.changed.iter().map(|c| (c.rule.as_str(), c.settings.as_slice())).collect();
    let trace = [change("Trace", Some("2"), Some("6"))];
    assert_eq!(changed, [("a", &trace[..]), ("b", &trace[..])]);
}
