//! The record of a snapshot: every key of the contract in order, values as docs/audit.md says.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::audit::tests::snapshot as clear;
use crate::registry::{ConnStatus, PeerCert};

const KEYS: [&str; 24] = [
    "conn",
    "rule",
    "listener",
    "local",
    "remote",
    "status",
    "protocol",
    "cipher",
    "key_share",
    "resumed",
    "fips_mode",
    "peer_subject",
    "peer_not_after",
    "server_cert_not_after",
    "cert_userid",
    "bytes_in",
    "bytes_out",
    "duration_ms",
    "rc",
    "time",
    "generation",
    "jobname",
    "helper",
    "secured_how",
];

fn rule(name: &str) -> Arc<crate::policy::Rule> {
    let policy = format!(
        "TTLSRule {name}\n{{\n  LocalPortRange 443\n  Direction Inbound\n  TTLSGroupActionRef g\n  \
         TTLSEnvironmentActionRef e\n}}\nTTLSGroupAction g\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction e\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring /k\n  }}\n}}\n"
    );
    let loaded = crate::policy::load_str("t.pol", &policy, Default::default());
    let text = loaded.diagnostics.render(&loaded.sources);
    loaded.table.unwrap_or_else(|| panic!("policy loads: {text}")).rules()[0].clone()
}

/// A client certificate for `CN=client1` valid until 2030-04-05.
fn client_cert() -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(vec!["client1".into()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "client1");
    params.not_after = rcgen::date_time_ymd(2030, 4, 5);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").der().to_vec()
}

#[test]
fn a_secure_connection_with_a_client_certificate() {
    let started = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut c = clear(started);
    c.rule = Some(rule("web~443"));
    c.conn_status = ConnStatus::Secure;
    c.tls_version = Some("TLSv1.3");
    c.cipher = Some(0x1302);
    c.key_share = Some(0x001D);
    c.tls_resumed = Some(false);
    c.fips_mode = Some(false);
    c.peer_subject = Some("CN=client1".into());
    c.peer_cert = Some(PeerCert { der: Arc::new(client_cert()), validated: true });
    c.server_cert_not_after = Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    c.cert_user = Some("alice".into());
    c.secured_how = Some("Direct".into());
    let ended = Ended { snapshot: c, at: started + Duration::from_millis(1_234) };
    let v = record(&ended);
    let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, KEYS);
    let want = json!({
        "conn": "0000002A", "rule": "web~443", "listener": "WEB1",
        "local": "127.0.0.1:8443", "remote": "[2001:db8::7]:50122",
        "status": "SECURE", "protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
        "key_share": "X25519", "resumed": false, "fips_mode": false, "peer_subject": "CN=client1",
        "peer_not_after": "2030-04-05T00:00:00Z", "server_cert_not_after": "2030-03-17T17:46:40Z",
        "cert_userid": "alice", "bytes_in": 12, "bytes_out": 34, "duration_ms": 1234, "rc": 0,
        "time": "2023-11-14T22:13:21Z", "generation": 4, "jobname": "WEBJOB", "helper": "Raw",
        "secured_how": "Direct",
    });
    assert_eq!(v, want);
    let text = line(&ended);
    assert!(text.ends_with("}\n") && text.matches('\n').count() == 1, "one line: {text}");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), want);
}

#[test]
fn a_clear_connection_and_a_failed_handshake() {
    let started = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ended = Ended { snapshot: clear(started), at: started };
    let v = record(&ended);
    for key in [
        "rule",
        "protocol",
        "cipher",
        "key_share",
        "resumed",
        "fips_mode",
        "peer_subject",
        "peer_not_after",
        "server_cert_not_after",
        "cert_userid",
        "secured_how",
    ] {
        assert_eq!(v[key], Value::Null, "{key}");
    }
    assert_eq!(
        (v["status"].as_str(), v["rc"].as_u64(), v["duration_ms"].as_u64()),
        (Some("NOT_SECURE"), Some(0), Some(0))
    );

    let mut failed = clear(started);
    failed.rule = Some(rule("web~443"));
    failed.rc = Some(5003);
    failed.cipher = Some(0xC0FF);
    failed.key_share = Some(42);
    // An end before the start (the clock stepped back) is 0 ms, not an error.
    let v = record(&Ended { snapshot: failed, at: started - Duration::from_secs(1) });
    assert_eq!((v["rc"].as_u64(), v["duration_ms"].as_u64()), (Some(5003), Some(0)));
    assert_eq!(
        (v["cipher"].as_str(), v["key_share"].as_str()),
        (Some("C0FF"), Some("0042")),
        "unnamed codes"
    );
}
