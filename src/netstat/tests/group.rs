//! `netstat --group`: per TTLSGroupAction and environment action, the rules and the live
//! connections by TLS state; groups only earlier generations' connections use are `Stale`.

use super::*;
use crate::netstat::group::{Counts, Status, group_json, group_text, groups};

/// The worked example's table (generation 3).
fn example() -> crate::policy::RuleTable {
    crate::policy::load_str("t.pol", POLICY, Default::default()).table.expect("example policy loads")
}

/// A connection of generation 2 whose rule (`old~1`, group `gOld`, environment `eOld`) is gone.
fn stale(status: ConnStatus) -> ConnSnapshot {
    let text = "TTLSRule old~1\n{\n  LocalPortRange 1\n  Direction Inbound\n  TTLSGroupActionRef gOld\n  \
                TTLSEnvironmentActionRef eOld\n}\n\
                TTLSGroupAction gOld\n{\n  TTLSEnabled On\n}\n\
                TTLSEnvironmentAction eOld\n{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {\n    \
                Keyring /k\n  }\n}\n";
    let loaded = crate::policy::load_str("old.pol", text, Default::default());
    let table = loaded.table.expect("old policy loads");
    let rule = table.get("old~1").expect("old~1").clone();
    ConnSnapshot { id: ConnId(0x50), rule: Some(rule), generation: 2, conn_status: status, ..ftp_control() }
}

#[test]
fn groups_count_connections_by_state_under_their_rules_group_and_environment() {
    let conns = [ftp_control(), ftp_data(), telnet_clear(), no_policy()];
    let g = groups(&example(), 3, &conns);
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!((g[0].name.as_str(), g[0].status, g[0].group_id), ("gSecure", Status::Active, 3));
    assert_eq!(g[0].rules, ["ftpd-ctl~4021", "tn3270~2023"]);
    assert_eq!(g[0].conns, Counts { total: 3, secure: 2, handshake: 0, not_secure: 1 });
    assert_eq!(g[0].environments.len(), 1);
    assert_eq!(g[0].environments[0].conns, g[0].conns);
    let expected = "\
TTLSGrpAction:      gSecure
  GroupID:          00000003
  GroupStatus:      Active
  Rules:            ftpd-ctl~4021, tn3270~2023
  GroupConns:       3
  SecureConns:      2
  HandshakeConns:   0
  NotSecureConns:   1
  TTLSEnvAction:    eServer
    EnvStatus:        Active
    Rules:            ftpd-ctl~4021, tn3270~2023
    EnvironmentConns: 3
    SecureConns:      2
    HandshakeConns:   0
    NotSecureConns:   1
";
    assert_eq!(group_text(&g), expected);
}

#[test]
fn a_group_only_old_connections_use_is_listed_stale_after_the_active_ones() {
    let conns = [stale(ConnStatus::Handshake), telnet_clear()];
    let g = groups(&example(), 3, &conns);
    let names: Vec<(&str, Status)> = g.iter().map(|g| (g.name.as_str(), g.status)).collect();
    assert_eq!(names, [("gSecure", Status::Active), ("gOld", Status::Stale)]);
    assert_eq!((g[1].group_id, g[1].rules.as_slice()), (2, &["old~1".to_string()][..]));
    assert_eq!(g[1].conns, Counts { total: 1, secure: 0, handshake: 1, not_secure: 0 });
    assert_eq!((g[1].environments[0].name.as_str(), g[1].environments[0].status), ("eOld", Status::Stale));
    let text = group_text(&g);
    assert!(
        text.contains(
            "\n\nTTLSGrpAction:      gOld\n  GroupID:          00000002\n  GroupStatus:      Stale\n"
        ),
        "{text}"
    );
    let json = group_json(3, &g);
    assert_eq!(json["generation"], 3);
    assert_eq!(json["groups"][1]["status"], "Stale");
    assert_eq!(json["groups"][1]["group_id"], "00000002");
    assert_eq!(json["groups"][1]["conns"]["handshake"], 1);
    assert_eq!(json["groups"][0]["environments"][0]["conns"]["not_secure"], 1);
    assert_eq!(json["groups"][0]["rules"][1], "tn3270~2023");
}

#[test]
fn without_connections_every_group_of_the_table_is_listed_with_zero_counts() {
    let g = groups(&example(), 7, &[]);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].conns, Counts::default());
    assert_eq!(group_text(&[]), "no TTLSGroupAction\n");
}
