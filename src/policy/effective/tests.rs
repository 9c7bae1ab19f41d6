//! The effective-settings view: order, defaults against the resolver, levels, whole blocks.

use super::*;
use crate::policy::{LoadOptions, RuleTable, load_files, load_str};

fn table(text: &str) -> RuleTable {
    let loaded = load_str("t.pol", text, LoadOptions::default());
    loaded.table.unwrap_or_else(|| panic!("{}", loaded.diagnostics.render(&loaded.sources)))
}

fn view_of(t: &RuleTable, rule: &str) -> Vec<Effective> {
    effective(t.get(rule).unwrap_or_else(|| panic!("no rule {rule}")))
}

fn entry<'v>(view: &'v [Effective], name: &str) -> &'v Effective {
    find(view, name).unwrap_or_else(|| panic!("no {name} in {view:#?}"))
}

/// Rule `r` with group, environment and connection action, rule `r~env` without the connection
/// action; each action writes what is required plus the given lines.
fn policy(group: &str, env: &str, conn: &str) -> String {
    format!(
        "TTLSRule r\n{{\n  LocalPortRange 1\n  Direction Inbound\n  TTLSGroupActionRef g\n  \
         TTLSEnvironmentActionRef e\n  TTLSConnectionActionRef c\n}}\n\
         TTLSRule r~env\n{{\n  LocalPortRange 2\n  Direction Inbound\n  TTLSGroupActionRef g\n  \
         TTLSEnvironmentActionRef e\n}}\n\
         TTLSGroupAction g\n{{\n  TTLSEnabled On\n{group}}}\n\
         TTLSEnvironmentAction e\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring /k\n  }}\n{env}}}\n\
         TTLSConnectionAction c\n{{\n{conn}}}\n"
    )
}

const ORDER: &[&str] = &[
    "TTLSEnabled",
    "Trace",
    "CtraceClearText",
    "SyslogFacility",
    "HandshakeRole",
    "ClientAuthType",
    "Keyring",
    "KeyringStashFile",
    "CertificateLabel",
    "SSLv2",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "V3CipherSuites4Char",
    "ServerKeyShareGroups",
    "ApplicationControlled",
    "SecondaryMap",
    "HandshakeTimeout",
    "ResetCipherTimer",
    "ClientHandshakeSNI",
    "ClientHandshakeSNIList",
    "HostReferenceIdDNS",
    "GSK_V3_SESSION_TIMEOUT",
    "GSK_V3_SIDCACHE_SIZE",
    "GSK_SESSION_TICKET_SERVER_ENABLE",
    "GSK_SESSION_TICKET_SERVER_COUNT",
    "GSK_SESSION_TICKET_SERVER_TIMEOUT",
    "GSK_SESSION_TICKET_SERVER_KEY_REFRESH",
    "GSK_SESSION_TICKET_CLIENT_ENABLE",
];

/// The settings that have no default: unset means absent (or required where they are written).
const NO_DEFAULT: &[&str] = &[
    "HandshakeRole",
    "Keyring",
    "KeyringStashFile",
    "CertificateLabel",
    "ClientHandshakeSNI",
    "ClientHandshakeSNIList",
    "HostReferenceIdDNS",
];

#[test]
fn order_is_the_documented_one() {
    let t = table(&policy("", "", ""));
    let names: Vec<&str> = view_of(&t, "r").iter().map(|e| e.name).collect();
    assert_eq!(names, ORDER);
}

#[test]
fn every_setting_shown_has_a_default_but_the_documented_few() {
    let t = table(&policy("", "", ""));
    for e in view_of(&t, "r") {
        assert_eq!(e.default.is_none(), NO_DEFAULT.contains(&e.name), "{e:?}");
    }
}

#[test]
fn catalog_defaults_are_what_the_resolver_fills_in() {
    // Only the required parameters are written: everything else is the resolver's default, and
    // the view must show the catalog's default as that value.
    let t = table(&policy("", "", ""));
    for e in view_of(&t, "r") {
        match e.name {
            "TTLSEnabled" => assert_eq!((e.level, e.value.as_deref()), (Level::Group, Some("On"))),
            "HandshakeRole" | "Keyring" => assert_eq!(e.level, Level::Environment, "{e:?}"),
            _ => {
                assert_eq!(e.level, Level::Default, "{e:?}");
                assert_eq!(e.value, e.default, "{e:?}");
            }
        }
    }
    let view = view_of(&t, "r");
    assert_eq!(
        entry(&view, "V3CipherSuites4Char").default.as_deref(),
        Some("130213011303C02CC02BCCA9C030C02FCCA8")
    );
    assert_eq!(entry(&view, "Trace").default.as_deref(), Some("2"));
    assert_eq!(entry(&view, "TTLSEnabled").default.as_deref(), Some("Off"));
}

#[test]
fn a_value_comes_from_each_level_in_turn() {
    let t = table(&policy("  Trace 1\n", "  Trace 7\n", "  Trace 15\n"));
    assert_eq!(entry(&view_of(&t, "r"), "Trace").level, Level::Connection);
    assert_eq!(entry(&view_of(&t, "r"), "Trace").value.as_deref(), Some("15"));
    assert_eq!(entry(&view_of(&t, "r~env"), "Trace").level, Level::Environment);
    assert_eq!(entry(&view_of(&t, "r~env"), "Trace").value.as_deref(), Some("7"));
    let t = table(&policy("  Trace 1\n", "", ""));
    assert_eq!(entry(&view_of(&t, "r"), "Trace").level, Level::Group);
    assert_eq!(entry(&view_of(&t, "r"), "Trace").value.as_deref(), Some("1"));
    let t = table(&policy("", "", ""));
    assert_eq!(entry(&view_of(&t, "r"), "Trace").level, Level::Default);

    let adv = |lines: &str, block: &str| format!("  {block}\n  {{\n{lines}  }}\n");
    let t = table(&policy(
        "",
        &adv("    HandshakeTimeout 30\n    ClientAuthType Full\n", "TTLSEnvironmentAdvancedParms"),
        &format!(
            "  HandshakeRole Client\n{}",
            adv("    HandshakeTimeout 0\n", "TTLSConnectionAdvancedParms")
        ),
    ));
    let view = view_of(&t, "r");
    assert_eq!(
        (entry(&view, "HandshakeTimeout").level, entry(&view, "HandshakeTimeout").value.as_deref()),
        (Level::Connection, Some("0"))
    );
    assert_eq!(
        (entry(&view, "ClientAuthType").level, entry(&view, "ClientAuthType").value.as_deref()),
        (Level::Environment, Some("Full"))
    );
    assert_eq!(
        (entry(&view, "HandshakeRole").level, entry(&view, "HandshakeRole").value.as_deref()),
        (Level::Connection, Some("Client"))
    );
    assert_eq!(entry(&view, "ResetCipherTimer").level, Level::Default);
}

#[test]
fn secondary_map_in_the_group_is_not_applied_so_not_a_level() {
    let group = "  TTLSGroupAdvancedParms\n  {\n    SecondaryMap On\n  }\n";
    let t = table(&policy(group, "", ""));
    let view = view_of(&t, "r");
    let e = entry(&view, "SecondaryMap");
    assert_eq!((e.level, e.value.as_deref()), (Level::Default, Some("Off")));
    assert_eq!(e.shown_at(Level::Group, &t.get("r").expect("r").settings.written).as_deref(), Some("Off"));
    // Overridden by the connection, the levels below show what they wrote, the group's included.
    let conn = "  TTLSConnectionAdvancedParms\n  {\n    SecondaryMap Off\n  }\n";
    let t = table(&policy(group, "", conn));
    let view = view_of(&t, "r");
    let e = entry(&view, "SecondaryMap");
    assert_eq!(e.level, Level::Connection);
    assert_eq!(
        e.shown_at(Level::Environment, &t.get("r").expect("r").settings.written).as_deref(),
        Some("On")
    );
}

#[test]
fn cipher_and_signature_blocks_are_replaced_whole() {
    let env = "  TTLSCipherParms\n  {\n    V3CipherSuites4Char 1302C02F\n  }\n  TTLSSignatureParms\n  {\n    ServerKeyShareGroups 00290023\n  }\n";
    // The connection's blocks write neither the suites nor the server's groups.
    let conn = "  TTLSCipherParms\n  {\n    V2CipherSuites 01\n  }\n  TTLSSignatureParms\n  {\n    ClientKeyShareGroups 0029\n  }\n";
    let t = table(&policy("", env, conn));
    let view = view_of(&t, "r");
    for name in ["V3CipherSuites4Char", "ServerKeyShareGroups"] {
        let e = entry(&view, name);
        assert_eq!(e.level, Level::Default, "{e:?}");
        assert_eq!(e.value, e.default, "{e:?}");
    }
    let view = view_of(&t, "r~env");
    assert_eq!(entry(&view, "V3CipherSuites4Char").value.as_deref(), Some("1302C02F"));
    assert_eq!(entry(&view, "V3CipherSuites4Char").level, Level::Environment);
    assert_eq!(entry(&view, "ServerKeyShareGroups").value.as_deref(), Some("00290023"));
    assert_eq!(entry(&view, "ServerKeyShareGroups").level, Level::Environment);

    let conn = "  HandshakeRole Client\n  TTLSCipherParms\n  {\n    V3CipherSuites 2F\n    V3CipherSuites4Char 1301\n  }\n  TTLSSignatureParms\n  {\n    ClientKeyShareGroups 0029\n  }\n";
    let t = table(&policy("", env, conn));
    let view = view_of(&t, "r");
    assert!(find(&view, "ServerKeyShareGroups").is_none());
    let groups = entry(&view, "ClientKeyShareGroups");
    assert_eq!((groups.level, groups.value.as_deref()), (Level::Connection, Some("0029")));
    let ciphers = entry(&view, "V3CipherSuites4Char");
    assert_eq!((ciphers.level, ciphers.value.as_deref()), (Level::Connection, Some("002F1301")));
}

#[test]
fn a_block_shows_its_own_value_when_a_higher_level_overrides_it() {
    let adv =
        "  TTLSEnvironmentAdvancedParms\n  {\n    HandshakeTimeout 012\n    ApplicationControlled on\n  }\n";
    let conn = "  CtraceClearText Off\n  TTLSConnectionAdvancedParms\n  {\n    HandshakeTimeout 3\n    ApplicationControlled Off\n    ResetCipherTimer 5\n  }\n";
    let t = table(&policy("  CtraceClearText on\n", adv, conn));
    let w = &t.get("r").expect("r").settings.written;
    let view = view_of(&t, "r");
    let at = |name: &str, level| entry(&view, name).shown_at(level, w);
    // Overridden: what the lower level wrote, words in canonical spelling, numbers as written.
    assert_eq!(at("HandshakeTimeout", Level::Environment).as_deref(), Some("012"));
    assert_eq!(at("ApplicationControlled", Level::Environment).as_deref(), Some("On"));
    assert_eq!(at("CtraceClearText", Level::Group).as_deref(), Some("On"));
    // Overridden but not written below: the default.
    assert_eq!(at("ResetCipherTimer", Level::Environment).as_deref(), Some("0"));
    // Not overridden: the effective value.
    assert_eq!(at("HandshakeTimeout", Level::Connection).as_deref(), Some("3"));
    assert_eq!(at("TLSv1.2", Level::Environment).as_deref(), Some("On"));
    assert_eq!(last_written(Level::Environment, w, "HandshakeTimeout"), Some("012"));
}

#[test]
fn list_settings_give_one_entry_per_value() {
    let adv = "  TTLSEnvironmentAdvancedParms\n  {\n    HostReferenceIdDNS a.example\n    HostReferenceIdDNS b.example\n  }\n";
    let t = table(&policy("", adv, ""));
    let view = view_of(&t, "r~env");
    let dns: Vec<_> = view.iter().filter(|e| e.name == "HostReferenceIdDNS").collect();
    assert_eq!(
        dns.iter().map(|e| e.value.as_deref()).collect::<Vec<_>>(),
        [Some("a.example"), Some("b.example")]
    );
    assert!(dns.iter().all(|e| e.level == Level::Environment));
    let sni: Vec<_> = view.iter().filter(|e| e.name == "ClientHandshakeSNIList").collect();
    assert_eq!(sni.len(), 1);
    assert_eq!((sni[0].level, &sni[0].value), (Level::Default, &None));
}

#[test]
fn every_shipped_and_corpus_rule_at_default_has_its_default_as_value() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut rules = 0;
    for dir in ["tests/fixtures/policy/valid", "policies"] {
        for f in std::fs::read_dir(root.join(dir)).expect("read dir").flatten() {
            if f.path().extension().is_none_or(|x| x != "pol") {
                continue;
            }
            let Some(t) = load_files(&[f.path()], LoadOptions::default()).table else { continue };
            for r in t.rules() {
                rules += 1;
                for e in effective(r) {
                    if e.level == Level::Default {
                        assert_eq!(e.value, e.default, "{} {}: {e:?}", f.path().display(), r.name);
                    }
                }
            }
        }
    }
    assert!(rules > 20, "the corpus is missing");
}

#[test]
fn imports_stay_in_the_policy_core() {
    let source = include_str!("../effective.rs");
    for line in source.lines().map(str::trim_start) {
        if line.starts_with("use ") {
            assert!(line.starts_with("use super::") || line.starts_with("use std::"), "{line}");
        }
        assert!(!line.contains("crate::") || line.contains("crate::policy"), "{line}");
    }
}
