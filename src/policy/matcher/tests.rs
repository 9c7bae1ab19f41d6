use super::*;
use crate::policy::{LoadOptions, load_str};

const POLICY: &str = "
TTLSRule ctl { LocalPortRange 21  Jobname FTPD*  Direction Inbound  Priority 300  TTLSGroupActionRef gOn  TTLSEnvironmentActionRef eSrv  TTLSConnectionActionRef cSec }
TTLSRule data { LocalPortRange 50000-50200  Direction Inbound  Priority 100  TTLSGroupActionRef gOn  TTLSEnvironmentActionRef eSrv }
TTLSRule data-high { LocalPortRange 50100  Direction Inbound  Priority 400  TTLSGroupActionRef gOn  TTLSEnvironmentActionRef eSrv }
TTLSRule data-same { LocalPortRange 50150  Direction Inbound  Priority 300  TTLSGroupActionRef gOn  TTLSEnvironmentActionRef eSrv }
TTLSRule v6 { LocalAddr 2001:db8::/32  LocalPortRange 23  Direction Both  TTLSGroupActionRef gOn  TTLSEnvironmentActionRef eSrv }
TTLSRule v4 { LocalAddr 10.1.0.0/16  LocalPortRange 23  Direction Inbound  Userid OPS*  TTLSGroupActionRef gOff }
TTLSRule out { RemotePortRange 443  Direction Outbound  TTLSGroupActionRef gOn  TTLSEnvironmentActionRef eCli }
TTLSGroupAction gOn { TTLSEnabled On }
TTLSGroupAction gOff { TTLSEnabled Off }
TTLSEnvironmentAction eSrv { HandshakeRole Server  TTLSKeyringParms { Keyring /k } }
TTLSEnvironmentAction eCli { HandshakeRole Client  TTLSKeyringParms { Keyring /k } }
TTLSConnectionAction cSec { TTLSConnectionAdvancedParms { SecondaryMap On  ApplicationControlled On } }
";

/// The policy above with one parameter per line (two blanks separate parameters there).
fn table() -> RuleTable {
    let text = POLICY.replace("{ ", "\n{\n").replace("  ", "\n").replace(" }", "\n}");
    let loaded = load_str("m.pol", &text, LoadOptions::default());
    loaded.table.unwrap_or_else(|| panic!("{}", loaded.diagnostics.render(&loaded.sources)))
}

fn conn<'a>(
    d: ConnDirection,
    local: &str,
    remote: &str,
    job: Option<&'a str>,
    user: Option<&'a str>,
) -> Connection<'a> {
    Connection {
        direction: d,
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        jobname: job,
        userid: user,
    }
}

fn find<'t>(t: &'t RuleTable, c: &Connection<'_>) -> Option<&'t str> {
    let a = t.lookup(c).map(|r| r.name.as_str());
    assert_eq!(a, t.lookup_scan(c).map(|r| r.name.as_str()), "index and scan disagree");
    a
}

#[test]
fn jobname_prefix_is_case_insensitive_and_required_when_written() {
    let t = table();
    let c = conn(ConnDirection::Inbound, "10.1.1.2:21", "192.0.2.9:40000", Some("ftpd1"), None);
    assert_eq!(find(&t, &c), Some("ctl"));
    let c = conn(ConnDirection::Inbound, "10.1.1.2:21", "192.0.2.9:40000", None, None);
    assert_eq!(find(&t, &c), None);
    let c = conn(ConnDirection::Inbound, "10.1.1.2:21", "192.0.2.9:40000", Some("FTP"), None);
    assert_eq!(find(&t, &c), None);
}

#[test]
fn priority_decides_between_overlapping_port_rules() {
    let t = table();
    let at = |port: u16| {
        find(&t, &conn(ConnDirection::Inbound, &format!("10.1.1.2:{port}"), "192.0.2.9:40000", None, None))
            .map(String::from)
    };
    assert_eq!(at(50000).as_deref(), Some("data"));
    assert_eq!(at(50100).as_deref(), Some("data-high"));
    assert_eq!(at(50201), None);
}

#[test]
fn addresses_match_their_family_and_mapped_ipv4_counts_as_ipv4() {
    let t = table();
    let c = conn(ConnDirection::Inbound, "[2001:db8::5]:23", "[2001:db8::9]:5000", None, None);
    assert_eq!(find(&t, &c), Some("v6"));
    let c = conn(ConnDirection::Outbound, "[2001:db8::5]:23", "[2001:db8::9]:5000", None, None);
    assert_eq!(find(&t, &c), Some("v6"), "Direction Both");
    let c =
        conn(ConnDirection::Inbound, "[::ffff:10.1.2.3]:23", "[::ffff:192.0.2.9]:5000", None, Some("ops1"));
    assert_eq!(find(&t, &c), Some("v4"));
    let c = conn(ConnDirection::Inbound, "10.1.2.3:23", "192.0.2.9:5000", None, Some("dev1"));
    assert_eq!(find(&t, &c), None);
}

#[test]
fn direction_is_a_condition() {
    let t = table();
    assert_eq!(
        find(&t, &conn(ConnDirection::Outbound, "10.0.0.1:40000", "203.0.113.5:443", None, None)),
        Some("out")
    );
    assert_eq!(
        find(&t, &conn(ConnDirection::Inbound, "10.0.0.1:40000", "203.0.113.5:443", None, None)),
        None
    );
}

#[test]
fn names_match_exact_prefix_star_and_unknown() {
    assert!(name_ok(None, None));
    assert!(name_ok(Some("*"), None));
    assert!(name_ok(Some("FTPD*"), Some("ftpd1")));
    assert!(name_ok(Some("FTPD*"), Some("FTPD")));
    assert!(!name_ok(Some("FTPD*"), Some("FTP")));
    assert!(name_ok(Some("TN3270A"), Some("tn3270a")));
    assert!(!name_ok(Some("TN3270A"), Some("TN3270AB")));
    assert!(!name_ok(Some("TN3270A"), None));
}

fn secondary(t: &RuleTable, own_port: u16, remote_ip: &str) -> (Option<String>, Option<MapType>) {
    let ctl = t.get("ctl").unwrap();
    let own = find(
        t,
        &conn(
            ConnDirection::Inbound,
            &format!("10.1.1.2:{own_port}"),
            &format!("{remote_ip}:50000"),
            None,
            None,
        ),
    )
    .and_then(|n| t.get(n));
    let primary =
        Primary { rule: ctl, local_ip: "10.1.1.2".parse().unwrap(), remote_ip: "192.0.2.9".parse().unwrap() };
    let (rule, map) = map_with_primary(
        own.map(|v| &**v),
        Some(primary),
        "10.1.1.2".parse().unwrap(),
        remote_ip.parse().unwrap(),
    );
    (rule.map(|r| r.name.clone()), map)
}

#[test]
fn secondary_map_takes_the_primary_rule_over_absent_or_lower_priority() {
    let t = table();
    // No own rule: secondary.
    assert_eq!(secondary(&t, 60000, "192.0.2.9"), (Some("ctl".into()), Some(MapType::Secondary)));
    // Own rule with lower priority (100 < 300): secondary.
    assert_eq!(secondary(&t, 50000, "192.0.2.9"), (Some("ctl".into()), Some(MapType::Secondary)));
    // Own rule with higher priority (400): keeps its own.
    assert_eq!(secondary(&t, 50100, "192.0.2.9"), (Some("data-high".into()), Some(MapType::Primary)));
    // Equal priority (300): keeps its own.
    assert_eq!(secondary(&t, 50150, "192.0.2.9"), (Some("data-same".into()), Some(MapType::Primary)));
    // Another client address: not the same IP pair.
    assert_eq!(secondary(&t, 60000, "192.0.2.10"), (None, None));
}

#[test]
fn secondary_map_needs_secondary_map_on_and_handles_absent_priorities() {
    let t = table();
    let data = t.get("data").unwrap();
    let ip = "10.1.1.2".parse().unwrap();
    let rip = "192.0.2.9".parse().unwrap();
    // The primary's rule has SecondaryMap Off: nothing changes.
    let p = Primary { rule: data, local_ip: ip, remote_ip: rip };
    assert_eq!(map_with_primary(None, Some(p), ip, rip).1, None);
    // Own rule without Priority counts lowest, below the primary's 300.
    let v6 = t.get("v6").unwrap();
    let ctl = t.get("ctl").unwrap();
    let p = Primary { rule: ctl, local_ip: ip, remote_ip: rip };
    assert_eq!(map_with_primary(Some(v6), Some(p), ip, rip).0.map(|r| r.name.as_str()), Some("ctl"));
    // IPv4-mapped addresses are the same IP pair.
    let mapped: std::net::IpAddr = "::ffff:10.1.1.2".parse().unwrap();
    assert_eq!(map_with_primary(None, Some(p), mapped, rip).1, Some(MapType::Secondary));
}
