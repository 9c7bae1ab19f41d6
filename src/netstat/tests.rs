//! The netstat report against the docs/policy-reference.md#netstat-report examples.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::policy::{MapType, PolicyStatus};
use crate::registry::{ConnId, ConnStatus};
use serde_json::Value;

mod cert_user;
mod group;
mod json;
mod not_after;
mod peer;

/// The example policy of docs/policy-reference.md#worked-example.
const POLICY: &str = r#"
TTLSRule              ftpd-ctl~4021
{
  LocalAddrGroupRef   grpHost
  LocalPortRange      4021
  RemotePortRange     1024-65535
  Jobname             FTPD*
  Direction           Inbound
  Priority            300
  TTLSGroupActionRef  gSecure
  TTLSEnvironmentActionRef eServer
  TTLSConnectionActionRef  cFtpCtl
}
TTLSRule              tn3270~2023
{
  LocalAddrGroupRef   grpHost
  LocalPortRange      2023
  Direction           Inbound
  Priority            200
  TTLSGroupActionRef  gSecure
  TTLSEnvironmentActionRef eServer
  TTLSConnectionActionRef  cTelnet
}
TTLSGroupAction       gSecure
{
  TTLSEnabled         On
  Trace               6
}
TTLSEnvironmentAction eServer
{
  HandshakeRole       Server
  TTLSKeyringParmsRef kServer
  TTLSCipherParmsRef  cipModern
  TTLSEnvironmentAdvancedParms
  {
    TLSv1.2           On
    TLSv1.3           On
    HandshakeTimeout  15
  }
}
TTLSConnectionAction  cFtpCtl
{
  TTLSConnectionAdvancedParms
  {
    ApplicationControlled On      # AUTH TLS decides when TLS starts
    SecondaryMap      On          # data connections inherit this rule
  }
}
TTLSConnectionAction  cTelnet
{
  TTLSConnectionAdvancedParms
  {
    ApplicationControlled On
    HandshakeTimeout  3           # also the wait for a direct ClientHello
  }
}
TTLSKeyringParms      kServer
{
  Keyring             /etc/attls/keys/server
}
TTLSCipherParms       cipModern
{
  V3CipherSuites4Char 13021301
  V3CipherSuites      TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  V3CipherSuites      TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
}
IpAddrGroup           grpHost
{
  IpAddr
  {
    Addr              192.0.2.10
  }
  IpAddrSet
  {
    Prefix            2001:db8:10::/64
  }
}
"#;

fn rule(name: &str) -> Arc<Rule> {
    let loaded = crate::policy::load_str("t.pol", POLICY, Default::default());
    let table = loaded.table.expect("example policy loads");
    Arc::new(Rule::clone(table.get(name).expect("rule present")))
}

fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Connection 2A of the docs/policy-reference.md#netstat-report example: the FTP control
/// connection, secure with TLS 1.3.
fn ftp_control() -> ConnSnapshot {
    ConnSnapshot {
        userid: "ftp".into(),
        local: sock("192.0.2.10:4021"),
        remote: sock("198.51.100.7:50122"),
        policy_status: PolicyStatus::ApplCntrl,
        conn_status: ConnStatus::Secure,
        map_type: Some(MapType::Primary),
        rule: Some(rule("ftpd-ctl~4021")),
        generation: 3,
        protocol_helper: "Ftp",
        tls_version: Some("TLSv1.3"),
        cipher: Some(0x1302),
        key_share: Some(0x11EC),
        secured_how: Some("AUTH TLS".into()),
        bytes_in: 1200,
        bytes_out: 3400,
        started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ..ConnSnapshot::sample(ConnId(0x2A), "FTPD1")
    }
}

/// Connection 2C of the docs/policy-reference.md#netstat-report example: a passive data connection,
/// secondary of 2A.
fn ftp_data() -> ConnSnapshot {
    ConnSnapshot {
        id: ConnId(0x2C),
        local: sock("192.0.2.10:50010"),
        remote: sock("198.51.100.7:50130"),
        map_type: Some(MapType::Secondary),
        primary: Some(ConnId(0x2A)),
        secured_how: Some("Negotiated".into()),
        ..ftp_control()
    }
}

fn telnet_clear() -> ConnSnapshot {
    ConnSnapshot {
        id: ConnId(0x31),
        listener: "TN3270A".into(),
        jobname: "TN3270A".into(),
        local: sock("192.0.2.10:2023"),
        remote: sock("203.0.113.40:61800"),
        conn_status: ConnStatus::NotSecure,
        rule: Some(rule("tn3270~2023")),
        protocol_helper: "Tn3270",
        tls_version: None,
        cipher: None,
        key_share: None,
        secured_how: None,
        tls_resumed: None,
        fips_mode: None,
        server_cert_not_after: None,
        ..ftp_control()
    }
}

fn no_policy() -> ConnSnapshot {
    ConnSnapshot {
        id: ConnId(0x40),
        listener: "web".into(),
        jobname: "web".into(),
        local: sock("[::ffff:192.0.2.10]:8080"),
        remote: sock("[::ffff:198.51.100.9]:40000"),
        policy_status: PolicyStatus::NoPolicy,
        conn_status: ConnStatus::NotSecure,
        map_type: None,
        rule: None,
        protocol_helper: "Raw",
        tls_version: None,
        cipher: None,
        key_share: None,
        secured_how: None,
        tls_resumed: None,
        fips_mode: None,
        server_cert_not_after: None,
        ..ftp_control()
    }
}

const HEADER: &str =
    "ConnID   JobName Local              Remote               TLS        Map       Version Cipher Rule";

#[test]
fn list_header_alone_without_connections() {
    assert_eq!(list_text(&[]), format!("{HEADER}\n"));
}

#[test]
fn list_line_matches_the_contract_example() {
    let text = list_text(&[ftp_control()]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], HEADER);
    assert_eq!(
        lines[1],
        "0000002A FTPD1   192.0.2.10..4021   198.51.100.7..50122  SECURE     Primary   TLSv1.3 1302   ftpd-ctl~4021"
    );
}

#[test]
fn list_reproduces_the_whole_section_7_example() {
    let text = list_text(&[ftp_control(), ftp_data(), telnet_clear()]);
    let expected = "\
ConnID   JobName Local              Remote               TLS        Map       Version Cipher Rule
0000002A FTPD1   192.0.2.10..4021   198.51.100.7..50122  SECURE     Primary   TLSv1.3 1302   ftpd-ctl~4021
0000002C FTPD1   192.0.2.10..50010  198.51.100.7..50130  SECURE     Secondary TLSv1.3 1302   ftpd-ctl~4021
00000031 TN3270A 192.0.2.10..2023   203.0.113.40..61800  NOT_SECURE Primary   -       -      tn3270~2023
";
    assert_eq!(text, expected);
}

#[test]
fn list_widens_for_long_values_and_never_cuts_rules() {
    let mut c = no_policy();
    c.jobname = "AVERYLONGJOBNAME".into();
    c.remote = sock("[2001:db8:ffff:ffff:ffff:ffff:ffff:1]:65535");
    let text = list_text(&[c, ftp_control()]);
    let lines: Vec<&str> = text.lines().collect();
    let col = lines[0].find("Local").expect("Local");
    assert_eq!(lines[1].find("192.0.2.10..8080"), Some(col));
    assert_eq!(lines[2].find("192.0.2.10..4021"), Some(col));
    assert!(lines[1].contains("2001:db8:ffff:ffff:ffff:ffff:ffff:1..65535 NOT_SECURE"));
    assert!(lines[2].ends_with("ftpd-ctl~4021"));
}

#[test]
fn no_policy_line_has_none_and_dashes_and_mapped_addresses_as_ipv4() {
    let text = list_text(&[no_policy()]);
    let line = text.lines().nth(1).expect("line");
    assert_eq!(
        line,
        "00000040 web     192.0.2.10..8080   198.51.100.9..40000  NOT_SECURE none      -       -      -"
    );
    assert_eq!(socket_text(&sock("[::ffff:10.1.2.3]:21")), "10.1.2.3..21");
    assert_eq!(socket_text(&sock("[2001:db8::1]:443")), "2001:db8::1..443");
    assert_eq!(socket_text(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0))), "127.0.0.1..0");
}

#[test]
fn detail_reproduces_the_section_7_example() {
    let text = detail_text(&ftp_data());
    let expected = "\
ConnID: 0000002C
  JobName:       FTPD1
  LocalSocket:   192.0.2.10..50010
  RemoteSocket:  198.51.100.7..50130
  SecLevel:      TLS Version 1.3
  Cipher:        1302 TLS_AES_256_GCM_SHA384
  KeyShare:      4588 X25519MLKEM768
  CertUserID:    N/A
  MapType:       Secondary
  PrimaryConnID: 0000002A
TTLSRule: ftpd-ctl~4021
  Priority:       300
  LocalAddr:      grpHost (192.0.2.10, 2001:db8:10::/64)
  LocalPort:      4021
  RemoteAddr:     All
  RemotePortFrom: 1024            RemotePortTo: 65535
  Jobname:        FTPD*
  Direction:      Inbound
  TTLSGrpAction: gSecure
    GroupID:                 00000003
    TTLSEnabled:             On
    CtraceClearText:         Off
    Trace:                   6
    SyslogFacility:          Daemon
    SecondaryMap:            Off
  TTLSEnvAction: eServer
    EnvironmentUserInstance: 0
    HandshakeRole:           Server
    Keyring:                 /etc/attls/keys/server
    SSLV2:                   Off
    SSLV3:                   Off
    TLSV1:                   Off
    TLSV1.1:                 Off
    TLSV1.2:                 On
    TLSV1.3:                 On
    V3CipherSuites:          1302 TLS_AES_256_GCM_SHA384
                             1301 TLS_AES_128_GCM_SHA256
                             C030 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                             C02F TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    ResetCipherTimer:        0
    ApplicationControlled:   Off
    HandshakeTimeout:        15
    ClientAuthType:          Required
  TTLSConnAction: cFtpCtl
    ApplicationControlled:   On
    SecondaryMap:            On
attls:
  Listener:      FTPD1
  Protocol:      Ftp
  Generation:    3
  Secured:       Negotiated
  BytesIn:       1200
  BytesOut:      3400
  Started:       2023-11-14T22:13:20Z
";
    assert_eq!(text, expected);
}

#[test]
fn detail_of_primary_has_no_primary_conn_id_and_connection_overrides_show_env_values() {
    let text = detail_text(&ftp_control());
    assert!(text.contains("  MapType:       Primary\n"));
    assert!(!text.contains("PrimaryConnID"));
    // tn3270: the connection action writes HandshakeTimeout 3; the environment block shows 15.
    let text = detail_text(&telnet_clear());
    assert!(text.contains("  SecLevel:      N/A\n  Cipher:        N/A\n  CertUserID:    N/A\n"));
    assert!(!text.contains("KeyShare"));
    assert!(text.contains("    HandshakeTimeout:        15\n"));
    assert!(text.contains(
        "  TTLSConnAction: cTelnet\n    ApplicationControlled:   On\n    HandshakeTimeout:        3\n"
    ));
    assert!(text.contains("  LocalPort:      2023\n  RemoteAddr:     All\n  Direction:      Inbound\n"));
}

#[test]
fn detail_no_policy_stops_after_header() {
    let mut c = no_policy();
    c.peer_subject = Some("CN=client".into());
    let text = detail_text(&c);
    assert!(text.starts_with("ConnID: 00000040\n  JobName:       web\n  LocalSocket:   192.0.2.10..8080\n"));
    assert!(text.contains("  MapType:       none\nattls:\n"));
    assert!(!text.contains("TTLSRule"));
    assert!(text.ends_with("  PeerSubject:   CN=client\n"));
}

#[test]
fn detail_field_order() {
    let text = detail_text(&ftp_data());
    let order = [
        "ConnID:",
        "JobName:",
        "LocalSocket:",
        "RemoteSocket:",
        "SecLevel:",
        "Cipher:",
        "KeyShare:",
        "CertUserID:",
        "MapType:",
        "PrimaryConnID:",
        "TTLSRule:",
        "Priority:",
        "LocalAddr:",
        "LocalPort:",
        "RemoteAddr:",
        "RemotePortFrom:",
        "Jobname:",
        "Direction:",
        "TTLSGrpAction:",
        "GroupID:",
        "TTLSEnvAction:",
        "EnvironmentUserInstance:",
        "TTLSConnAction:",
        "attls:",
        "Listener:",
        "Protocol:",
        "Generation:",
        "Secured:",
        "BytesIn:",
        "BytesOut:",
        "Started:",
    ];
    let mut at = 0;
    for key in order {
        let pos = text[at..].find(key).unwrap_or_else(|| panic!("{key} missing or out of order"));
        at += pos + key.len();
    }
}

#[test]
fn environment_cipher_list_is_the_resolvers_when_the_connection_replaces_it() {
    let text = "TTLSRule r\n{\n  LocalPortRange 1\n  Direction Inbound\n  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n  TTLSConnectionActionRef c\n}\n\
TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n\
TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {\n    Keyring /k\n  }\n  TTLSCipherParms\n  {\n    V3CipherSuites4Char 13021301\n    V3CipherSuites 2F35\n  }\n}\n\
TTLSConnectionAction c\n{\n  TTLSCipherParms\n  {\n    V3CipherSuites4Char C02F\n  }\n}\n";
    let loaded = crate::policy::load_str("n.pol", text, Default::default());
    let table = loaded.table.expect("loads");
    let s = &table.rules()[0].settings;
    assert_eq!(s.ciphers, vec![0xC02F]);
    assert_eq!(s.environment_ciphers, vec![0x1302, 0x1301, 0x2F, 0x35]);
    let loaded = crate::policy::load_str(
        "n.pol",
        &text.replace(
            "  TTLSCipherParms\n  {\n    V3CipherSuites4Char 13021301\n    V3CipherSuites 2F35\n  }\n",
            "",
        ),
        Default::default(),
    );
    assert_eq!(
        loaded.table.expect("loads").rules()[0].settings.environment_ciphers,
        crate::policy::resolve::DEFAULT_CIPHERS.to_vec()
    );
}

#[test]
fn overridden_settings_show_the_lower_levels_value_or_the_default() {
    let text = "TTLSRule r\n{\n  LocalPortRange 1\n  Direction Inbound\n  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n  TTLSConnectionActionRef c\n}\n\
TTLSGroupAction g\n{\n  TTLSEnabled On\n  CtraceClearText on\n}\n\
TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  Trace 3\n  TTLSKeyringParms\n  {\n    Keyring /k\n  }\n  TTLSEnvironmentAdvancedParms\n  {\n    HandshakeTimeout 012\n    SecondaryMap on\n  }\n}\n\
TTLSConnectionAction c\n{\n  Trace 11\n  CtraceClearText Off\n  TTLSConnectionAdvancedParms\n  {\n    HandshakeTimeout 3\n    SecondaryMap Off\n    ResetCipherTimer 5\n    TLSv1.2 Off\n  }\n}\n";
    let loaded = crate::policy::load_str("n.pol", text, Default::default());
    let rule = Arc::new(Rule::clone(&loaded.table.expect("loads").rules()[0]));
    let text = detail_text(&ConnSnapshot { rule: Some(rule), ..ftp_control() });
    for line in [
        // The group wrote CtraceClearText (canonical spelling), not Trace (the default).
        "    CtraceClearText:         On\n    Trace:                   2\n",
        // SecondaryMap as the environment wrote it.
        "    SecondaryMap:            On\n  TTLSEnvAction: e\n    EnvironmentUserInstance: 0\n",
        "    TLSV1.2:                 On\n",
        // Numbers as written; ResetCipherTimer unwritten below the connection: the default.
        "    ResetCipherTimer:        0\n    ApplicationControlled:   Off\n    HandshakeTimeout:        012\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
}

#[test]
fn odd_snapshots_do_not_panic() {
    let mut c = ftp_data();
    c.cipher = Some(0xFFFF);
    c.key_share = Some(0x9999);
    c.tls_version = Some("weird");
    c.generation = u64::MAX;
    c.started = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
    c.map_type = Some(MapType::Secondary);
    c.primary = None;
    let text = detail_text(&c);
    assert!(text.contains("  Cipher:        FFFF\n"));
    assert!(text.contains("  SecLevel:      TLS Version weird\n"));
    assert!(!text.contains("PrimaryConnID"));
    let _ = list_text(&[c.clone()]);
    let _ = detail_json(&c);
}
