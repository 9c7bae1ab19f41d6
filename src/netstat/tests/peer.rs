//! The peer's certificate in the detail report and the JSON: `PeerValidated: Yes|No` after
//! `PeerSubject`, `peer_validated` true, false or null.

use super::*;
use crate::registry::PeerCert;

fn with_peer(validated: bool) -> ConnSnapshot {
    let mut c = ftp_control();
    c.peer_subject = Some("CN=client1".into());
    c.peer_cert = Some(PeerCert { der: Arc::new(vec![0x30, 0x00]), validated });
    c
}

#[test]
fn detail_says_whether_the_peer_certificate_was_validated() {
    let text = detail_text(&with_peer(false));
    assert!(text.ends_with("  PeerSubject:   CN=client1\n  PeerValidated: No\n"), "{text}");
    let text = detail_text(&with_peer(true));
    assert!(text.ends_with("  PeerValidated: Yes\n"), "{text}");
    let text = detail_text(&ftp_control());
    assert!(!text.contains("PeerValidated"), "no certificate, no line:\n{text}");
}

#[test]
fn json_peer_validated_is_true_false_or_null() {
    assert_eq!(detail_json(&with_peer(false))["peer_validated"], Value::Bool(false));
    assert_eq!(detail_json(&with_peer(true))["peer_validated"], Value::Bool(true));
    assert_eq!(detail_json(&ftp_control())["peer_validated"], Value::Null);
    let list = list_json(&[with_peer(true)]);
    assert_eq!(list["connections"][0]["peer_validated"], Value::Bool(true));
}
