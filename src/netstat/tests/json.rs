//! The `--json` forms of the list and the detail.

use super::*;

#[test]
fn json_keys_and_round_trip() {
    let list = list_json(&[ftp_control(), no_policy()]);
    let back: Value = serde_json::from_str(&list.to_string()).expect("round trip");
    assert_eq!(back, list);
    let conns = list["connections"].as_array().expect("array");
    assert_eq!(conns.len(), 2);
    let keys = [
        "conn",
        "jobname",
        "listener",
        "local",
        "remote",
        "local_addr",
        "remote_addr",
        "policy_status",
        "conn_status",
        "map_type",
        "primary_conn",
        "rule",
        "generation",
        "protocol",
        "tls_version",
        "cipher",
        "cipher_code",
        "key_share",
        "peer_subject",
        "peer_validated",
        "secured_how",
        "tls_resumed",
        "fips_mode",
        "bytes_in",
        "bytes_out",
        "started",
    ];
    for c in conns {
        for k in keys {
            assert!(c.get(k).is_some(), "{k}");
        }
    }
    let a = &conns[0];
    assert_eq!(a["conn"], "0000002A");
    assert_eq!(a["local"], "192.0.2.10..4021");
    assert_eq!(a["local_addr"], "192.0.2.10:4021");
    assert_eq!(a["policy_status"], "APPLCNTRL");
    assert_eq!(a["conn_status"], "SECURE");
    assert_eq!(a["map_type"], "Primary");
    assert_eq!(a["cipher"], "1302 TLS_AES_256_GCM_SHA384");
    assert_eq!(a["cipher_code"], "1302");
    assert_eq!(a["key_share"], "4588 X25519MLKEM768");
    assert_eq!(a["started"], "2023-11-14T22:13:20Z");
    let n = &conns[1];
    assert_eq!(n["map_type"], "none");
    assert_eq!(n["rule"], Value::Null);
    assert_eq!(n["policy_status"], "NO_POLICY");
    assert_eq!(n["remote_addr"], "198.51.100.9:40000");

    let d = detail_json(&ftp_data());
    assert_eq!(serde_json::from_str::<Value>(&d.to_string()).expect("round trip"), d);
    assert_eq!(d["primary_conn"], "0000002A");
    assert_eq!(d["rule_detail"]["name"], "ftpd-ctl~4021");
    assert_eq!(d["rule_detail"]["written"]["connection"]["SecondaryMap"], "On");
    assert_eq!(d["rule_detail"]["written"]["group"]["Trace"], "6");
    assert_eq!(
        d["rule_detail"]["written"]["environment"]["V3CipherSuites"].as_str().map(|s| s.contains(' ')),
        Some(true)
    );
    assert_eq!(detail_json(&no_policy())["rule_detail"], Value::Null);
}
