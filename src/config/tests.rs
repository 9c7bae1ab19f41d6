use super::*;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attls-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("pagent.conf");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn full_configuration_parses_with_defaults_and_relative_paths() {
    let p = write(
        "full",
        "# main configuration\nCommonTTLSConfig common.pol\nTTLSConfig ftp.pol FLUSH NOPURGE\nTTLSConfig /etc/attls/tn.pol flush nopurge\nKeyringMap FTPD/FTPRING keys/ftpd\nRefreshInterval 0\nListener FTPD1\n{\n  Listen 0.0.0.0:2121\n  Backend localhost:21\n  Direction Inbound\n}\nListener out1 {\n  Listen [::1]:7000\n  Backend [2001:db8::5]:443\n  Direction outbound\n  Jobname CLIENT1\n}\n",
    );
    let c = load(&p).unwrap_or_else(|e| panic!("{e}"));
    let dir = p.parent().unwrap();
    assert_eq!(
        c.policy_files,
        vec![dir.join("common.pol"), dir.join("ftp.pol"), PathBuf::from("/etc/attls/tn.pol")]
    );
    assert!(c.flush && !c.purge);
    assert_eq!(c.refresh_interval, None);
    assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
    assert_eq!(c.keyring_map, vec![("FTPD/FTPRING".to_string(), dir.join("keys/ftpd"))]);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].jobname, "FTPD1");
    assert_eq!(c.listeners[0].backend(), "localhost:21");
    assert_eq!(c.listeners[1].direction, ConnDirection::Outbound);
    assert_eq!(c.listeners[1].backend(), "[2001:db8::5]:443");
    assert_eq!(c.listeners[1].jobname, "CLIENT1");
}

#[test]
fn errors_are_reported_in_d11_shape_all_at_once() {
    let p = write(
        "bad",
        "TTLSConfig a.pol FLUSH\nTTLSConfig b.pol NOFLUSH\nTTLSConfig //'USER1.TCPPARMS(ATTLS)'\nRefreshIntervl 10\nListener x\n{\n  Listen nowhere\n  Direction Sideways\n}\n",
    );
    let e = load(&p).unwrap_err();
    let out = e.to_string();
    assert!(out.contains(":2:1: error: TTLSConfig statements disagree on FLUSH/PURGE"), "{out}");
    assert!(out.contains("is a z/OS data set name"), "{out}");
    assert!(out.contains("did you mean RefreshInterval?"), "{out}");
    assert!(out.contains("`nowhere` is not ADDR:PORT"), "{out}");
    assert!(out.contains("`Sideways` is not Inbound or Outbound"), "{out}");
    assert!(out.contains("Listener x has no Backend"), "{out}");
}

#[test]
fn missing_file_names_it() {
    let e = load(Path::new("/no/such/pagent.conf")).unwrap_err();
    assert!(e.to_string().starts_with("/no/such/pagent.conf:1:1: error: cannot read the main configuration"));
}

#[test]
fn ftp_and_tn3270_listener_keywords_land_in_their_settings() {
    use crate::ftp::settings::{Ccc, SecureDataConn, SecureFtp, SecureLogin, SessionReuse};
    use crate::tn3270::settings::{ClientAuth, ConnType};
    let p = write(
        "helpers",
        "TTLSConfig ftp.pol\nListener FTPD1\n{\n  Listen 127.0.0.1:2121\n  Backend 127.0.0.1:21\n  Direction Inbound\n  Protocol Ftp\n  \
         SecureFtp required\n  SecureLogin Required\n  SecureDataConn Safe\n  SessionReuse Allowed\n  Ccc Allowed\n  \
         PassivePorts 50000-50100\n  PassiveAddress 203.0.113.7\n}\n\
         Listener TN1\n{\n  Listen 127.0.0.1:2323\n  Backend 127.0.0.1:23\n  Direction Inbound\n  Protocol Tn3270\n  \
         ConnType NegSecure\n  ClientAuth SslCert\n  StartTlsWait 3\n}\n",
    );
    let c = load(&p).unwrap_or_else(|e| panic!("{e}"));
    let f = &c.listeners[0].ftp;
    assert_eq!(
        (f.secure_ftp, f.secure_login, f.secure_data, f.session_reuse, f.ccc),
        (
            SecureFtp::Required,
            SecureLogin::Required,
            SecureDataConn::Safe,
            SessionReuse::Allowed,
            Ccc::Allowed
        )
    );
    assert_eq!(f.passive_ports, Some((50000, 50100)));
    assert_eq!(f.passive_address, Some("203.0.113.7".parse().unwrap()));
    let t = &c.listeners[1].tn3270;
    assert_eq!((t.conn_type, t.client_auth), (ConnType::NegTSecure, ClientAuth::SslCert));
    assert_eq!(t.start_tls_wait, Some(Duration::from_secs(3)));
}

#[test]
fn bad_helper_values_are_errors_with_the_accepted_words() {
    let p = write(
        "badhelpers",
        "TTLSConfig ftp.pol\nListener FTPD1\n{\n  Listen 127.0.0.1:2121\n  Backend 127.0.0.1:21\n  Direction Inbound\n  Protocol Ftp\n  \
         SecureDataConn Sometimes\n  PassivePorts 80-90\n  ConnType Secure\n}\n\
         Listener OUT\n{\n  Listen 127.0.0.1:2000\n  Backend 127.0.0.1:21\n  Direction Outbound\n  Protocol Ftp\n}\n",
    );
    let out = load(&p).unwrap_err().to_string();
    assert!(out.contains("`Sometimes` is not a SecureDataConn value"), "{out}");
    assert!(out.contains("write one of Never, Clear, Safe, Private"), "{out}");
    assert!(out.contains("`80-90` is not a port range LOW-HIGH within 1024-65535"), "{out}");
    assert!(out.contains("warning: ConnType applies to Protocol Tn3270 listeners; this one is Ftp"), "{out}");
    assert!(out.contains("Protocol Ftp serves inbound listeners only"), "{out}");
}

#[test]
fn limits_and_nopolicy_have_defaults_and_keywords() {
    let p = write(
        "limits",
        "TTLSConfig a.pol\nMaxConnections 5000\nShutdownDrain 5\nListener side\n{\n  Listen 127.0.0.1:1\n  Backend localhost:2\n  Direction Inbound\n}\nListener tuned\n{\n  Listen 127.0.0.1:3\n  Backend localhost:4\n  Direction Inbound\n  NoPolicy Clear\n  MaxConnections 10\n  MaxConnectionsPerSource 2\n  Backlog 64\n  ConnectTimeout 3\n  IdleTimeout 600\n  JobnameFrom Unit\n}\nListener intercept\n{\n  Listen 127.0.0.1:5\n  Direction Inbound\n  Transparent Redirect\n}\n",
    );
    let c = load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.max_connections, c.shutdown_drain), (5000, std::time::Duration::from_secs(5)));
    let [side, tuned, intercept] = &c.listeners[..] else { panic!("three listeners") };
    assert_eq!(side.no_policy, NoPolicy::Refuse, "a sidecar listener refuses by default (D32)");
    assert_eq!(intercept.no_policy, NoPolicy::Clear, "a transparent one relays in clear by default");
    assert_eq!(side.limits, ListenerLimits::default());
    assert_eq!(side.limits.idle_timeout, None);
    assert_eq!(tuned.no_policy, NoPolicy::Clear);
    assert_eq!((side.jobname_from, tuned.jobname_from), (JobnameFrom::Command, JobnameFrom::Unit));
    let secs = std::time::Duration::from_secs;
    assert_eq!(
        (tuned.limits.max_connections, tuned.limits.max_per_source, tuned.limits.backlog),
        (10, 2, 64)
    );
    assert_eq!((tuned.limits.connect_timeout, tuned.limits.idle_timeout), (secs(3), Some(secs(600))));
    let bad = write(
        "limits-bad",
        "TTLSConfig a.pol\nListener x\n{\n  Listen 127.0.0.1:1\n  Backend localhost:2\n  Direction Inbound\n  NoPolicy Maybe\n  Backlog 0\n}\n",
    );
    let text = load(&bad).expect_err("bad values").to_string();
    assert!(
        text.contains("`Maybe` is not Refuse or Clear") && text.contains("Backlog needs a number"),
        "{text}"
    );
}

/// The PAGTCONF of the seed's z/OS example, as copied: other disciplines, data set names.
const PAGTCONF: &str = "##\n## USER1.TCPCS.TCPPARMS(PAGTCONF)\n##\nTcpImage TCPCS FLUSH 600\n\
     TTLSConfig //'USER1.TCPCS.TCPPARMS(ATTLS)' FLUSH NOPURGE\n\
     QosConfig //'USER1.TCPCS.TCPPARMS(QOS)' FLUSH NOPURGE\n\
     IDSConfig //'USER1.TCPCS.TCPPARMS(IDS)' FLUSH NOPURGE\n\
     IDSConfig //'USER1.TCPCS.TCPPARMS(IDS)' FLUSH NOPURGE\n\
     IPSecConfig //'USER1.TCPCS.TCPPARMS(IPSEC)' FLUSH NOPURGE\n";

#[test]
fn a_zos_pagtconf_loads_with_a_data_set_map_and_one_warning_per_statement() {
    let text = format!("{PAGTCONF}DataSetMap //'user1.tcpcs.tcpparms(attls)' policies/attls.pol\n");
    let p = write("pagtconf", &text);
    let (c, warnings) = parse_text(&p, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.policy_files, vec![p.parent().unwrap().join("policies/attls.pol")]);
    assert_eq!(c.refresh_interval, Some(Duration::from_secs(600)));
    assert!(c.flush && !c.purge);
    let out = warnings.to_string();
    for w in [
        ":4:1: warning: TcpImage is read as RefreshInterval",
        ":6:1: warning: QOSConfig configures Quality of Service (QoS) policy, which attls does not apply; ignored",
        ":7:1: warning: IDSConfig configures Intrusion Detection Services (IDS) policy, which attls does not apply; ignored (and 1 more in this file)",
        ":9:1: warning: IPSecConfig configures IP security (IPSec) policy",
    ] {
        assert!(out.contains(w), "{w} not in\n{out}");
    }
    assert_eq!(warnings.diagnostics.warning_count(), 4, "{out}");
    let strict = format!("{text}Strict On\n");
    let out = load_str(&p, &strict).expect_err("Strict On refuses them").to_string();
    assert_eq!(out.matches("error: ").count(), 5, "{out}");
    assert!(out.contains(":8:1: error: IDSConfig configures"), "{out}");
}

#[test]
fn data_set_names_resolve_in_any_order_and_unmapped_ones_say_what_to_add() {
    let text = "CommonTTLSConfig //'SYS1.ATTLS(COMMON)'\nTTLSConfig //'USER1.TCPPARMS(ATTLS)'\nTTLSConfig local.pol\n\
                DataSetMap //'SYS1.ATTLS(COMMON)' /etc/attls/common.pol\nCommonIPSecConfig //'X.Y(Z)'\n\
                RoutingConfig /etc/routing.conf\nCommonRoutingConfig //'A.B'\nPEPInstance TCPIP 0\n";
    let p = write("dsn", text);
    let out = load_str(&p, text).expect_err("one name is unmapped").to_string();
    assert!(
        out.contains(":2:12: error: `//'USER1.TCPPARMS(ATTLS)'` is a z/OS data set name with no DataSetMap"),
        "{out}"
    );
    assert!(
        out.contains(
            "hint: copy the data set to a Linux file and add `DataSetMap //'USER1.TCPPARMS(ATTLS)' attls.pol`"
        ),
        "{out}"
    );
    assert_eq!(out.matches("error: ").count(), 1, "{out}");
    let mapped = format!("{text}DataSetMap //'USER1.TCPPARMS(ATTLS)' attls.pol\n");
    let c = load_str(&p, &mapped).unwrap_or_else(|e| panic!("{e}"));
    let dir = p.parent().unwrap();
    assert_eq!(
        c.policy_files,
        vec![PathBuf::from("/etc/attls/common.pol"), dir.join("attls.pol"), dir.join("local.pol")]
    );
    assert_eq!(c.data_set_map.len(), 2);
    assert_eq!(c.refresh_interval, None, "PEPInstance is TcpImage's synonym");
}

#[test]
fn bad_data_set_maps_and_expiry_days_are_errors() {
    let text = "TTLSConfig a.pol\nDataSetMap //'A.B(C)'\nDataSetMap a.pol //'A.B(C)'\nDataSetMap //'A.B(C)' x.pol\n\
                DataSetMap //'a.b(c)' y.pol\nExpiryWarningDays 5000\nIDSConfg x\n";
    let out = load_str(&write("dsn-bad", text), text).expect_err("bad lines").to_string();
    for e in [
        ":2:1: error: DataSetMap needs a data set name and a path",
        ":3:12: error: `a.pol` is not a z/OS data set name",
        ":5:12: error: //'a.b(c)' is mapped twice",
        "note: the first DataSetMap is at",
        ":6:19: error: ExpiryWarningDays needs a number from 0 to 3650, not `5000`",
        "hint: did you mean IDSConfig?",
    ] {
        assert!(out.contains(e), "{e} not in\n{out}");
    }
    let ok = "TTLSConfig a.pol\nExpiryWarningDays 0\n";
    assert_eq!(load_str(&write("days", ok), ok).unwrap_or_else(|e| panic!("{e}")).expiry_warning_days, 0);
    let default = "TTLSConfig a.pol\n";
    assert_eq!(load_str(&write("days", default), default).unwrap().expiry_warning_days, 30);
}

#[test]
fn cert_user_map_is_a_path_and_silences_the_user_mapping_warnings() {
    let listeners = "Listener FTPD1\n{\n  Listen 127.0.0.1:2121\n  Backend 127.0.0.1:21\n  Direction Inbound\n  \
                     Protocol Ftp\n  SecureLogin VerifyUser\n}\nListener TN1\n{\n  Listen 127.0.0.1:2323\n  \
                     Backend 127.0.0.1:23\n  Direction Inbound\n  Protocol Tn3270\n  ClientAuth SafCert\n}\n";
    let without = format!("TTLSConfig a.pol\n{listeners}");
    let p = write("certmap", &without);
    let (c, warnings) = parse_text(&p, &without).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cert_user_map, None);
    let out = warnings.to_string();
    assert!(out.contains(":8:15: warning: SecureLogin VerifyUser needs a CertUserMap"), "{out}");
    assert!(out.contains(":16:14: warning: ClientAuth SafCert needs a CertUserMap"), "{out}");
    assert!(out.contains("add `CertUserMap PATH`"), "{out}");
    let strict = format!("Strict On\n{without}");
    assert_eq!(load_str(&p, &strict).expect_err("portability warnings").diagnostics.error_count(), 2);
    // Written after the listeners, the map still counts: no warning, and Strict On accepts them.
    let with = format!("Strict On\n{without}CertUserMap users.map\n");
    let (c, warnings) = parse_text(&p, &with).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cert_user_map, Some(p.parent().unwrap().join("users.map")));
    assert_eq!(warnings.diagnostics.items.len(), 0, "{warnings}");
    let bad = "TTLSConfig a.pol\nCertUserMap\n";
    assert!(
        load_str(&p, bad)
            .expect_err("no path")
            .to_string()
            .contains(":2:1: error: CertUserMap needs a value")
    );
}

#[test]
fn operations_keywords_parse_and_default() {
    let p = write("ops-default", "TTLSConfig a.pol\n");
    let c = load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.metrics_listen, c.audit_log.clone(), c.log, c.watch_files),
        (None, None, LogTarget::Stderr, true)
    );
    let p = write(
        "ops",
        "TTLSConfig a.pol\nMetricsListen 127.0.0.1:9100\nAuditLog audit/conns.jsonl\nLog syslog\nWatchFiles Off\n",
    );
    let c = load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
    assert_eq!(c.audit_log, Some(p.parent().unwrap().join("audit/conns.jsonl")));
    assert_eq!((c.log, c.watch_files), (LogTarget::Syslog, false));
    let p = write("ops-bad", "TTLSConfig a.pol\nMetricsListen localhost\nLog Journal\nWatchFiles Maybe\n");
    let out = load(&p).unwrap_err().to_string();
    assert!(out.contains(":2:15: error: `localhost` is not IP:PORT"), "{out}");
    assert!(out.contains("`Journal` is not Stderr or Syslog"), "{out}");
    assert!(out.contains("WatchFiles must be On or Off"), "{out}");
    let p = write("log-5424", "TTLSConfig a.pol\nLog Syslog Rfc5424\n");
    assert_eq!(load(&p).unwrap_or_else(|e| panic!("{e}")).log, LogTarget::SyslogRfc5424);
    let p = write("log-3164", "TTLSConfig a.pol\nLog syslog rfc3164\n");
    assert_eq!(load(&p).unwrap_or_else(|e| panic!("{e}")).log, LogTarget::Syslog);
    let p = write("log-bad", "TTLSConfig a.pol\nLog Syslog Rfc9999\n");
    let out = load(&p).unwrap_err().to_string();
    assert!(out.contains(":2:12: error: `Log Syslog` takes no such framing"), "{out}");
}

#[test]
fn client_inventory_limits_default_and_parse() {
    use crate::inventory::Limits;
    let c = load(&write("inv-default", "TTLSConfig a.pol\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.client_inventory, Some(Limits { profiles_per_rule: 64, rules: 1024 }));
    let limits =
        |text: &str| load(&write("inv", &format!("TTLSConfig a.pol\n{text}\n"))).map(|c| c.client_inventory);
    assert_eq!(limits("ClientInventory Off").ok(), Some(None));
    assert_eq!(limits("clientinventory on").ok(), Some(Some(Limits::default())));
    assert_eq!(limits("ClientInventory 8").ok(), Some(Some(Limits { profiles_per_rule: 8, rules: 1024 })));
    assert_eq!(limits("ClientInventory 8 16").ok(), Some(Some(Limits { profiles_per_rule: 8, rules: 16 })));
    for bad in [
        "ClientInventory 0",
        "ClientInventory 8 0",
        "ClientInventory Off 3",
        "ClientInventory 1 2 3",
        "ClientInventory lots",
    ] {
        let e = limits(bad).expect_err(bad).to_string();
        assert!(e.contains("ClientInventory"), "{bad}: {e}");
    }
}
