//! Dates in the report: RFC 3339 times, and the `NotAfter` of a secure connection (the server's
//! certificate: the peer's in the Client role, the one the handshake chose in a server role).

use super::*;
use crate::registry::PeerCert;

#[test]
fn rfc3339_dates() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)), "2024-02-29T23:59:59Z");
    assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00Z");
}

/// A one-rule policy with role `role` and keyring `ring`, its rule.
fn rule_with(role: &str, ring: &std::path::Path) -> Arc<Rule> {
    let policy = format!(
        "TTLSRule r\n{{\n  LocalPortRange 443\n  Direction Inbound\n  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n}}\n\
         TTLSGroupAction g\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction e\n{{\n  HandshakeRole {role}\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n}}\n",
        ring.display()
    );
    let loaded = crate::policy::load_str("t.pol", &policy, Default::default());
    loaded.table.expect("policy loads").rules()[0].clone()
}

/// A DER certificate valid until 2031-05-06.
fn server_cert_der() -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    params.not_after = rcgen::date_time_ymd(2031, 5, 6);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").der().to_vec()
}

#[test]
fn client_role_shows_the_servers_certificate() {
    let mut c = ftp_control();
    c.rule = Some(rule_with("Client", std::path::Path::new("/nonexistent")));
    c.peer_cert = Some(PeerCert { der: Arc::new(server_cert_der()), validated: true });
    let text = detail_text(&c);
    assert!(text.ends_with("  NotAfter:      2031-05-06T00:00:00Z\n"), "{text}");
    assert_eq!(detail_json(&c)["not_after"], "2031-05-06T00:00:00Z");
    c.tls_version = None;
    assert!(!detail_text(&c).contains("NotAfter"), "a clear connection has none");
    assert_eq!(list_json(&[c])["connections"][0]["not_after"], Value::Null);
}

#[test]
fn server_roles_show_the_certificate_the_handshake_chose() {
    let mut c = ftp_control();
    c.rule = Some(rule_with("Server", std::path::Path::new("/nonexistent")));
    assert!(!detail_text(&c).contains("NotAfter"), "none chosen yet:\n{}", detail_text(&c));
    c.server_cert_not_after = Some(UNIX_EPOCH + Duration::from_secs(1_951_000_000));
    c.peer_cert = Some(PeerCert { der: Arc::new(server_cert_der()), validated: true });
    let text = detail_text(&c);
    assert!(
        text.ends_with("  NotAfter:      2031-10-29T00:26:40Z\n"),
        "not the client's certificate:\n{text}"
    );
    assert_eq!(detail_json(&c)["not_after"], "2031-10-29T00:26:40Z");
}
