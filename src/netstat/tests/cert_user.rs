//! The CertUserID (D37): the detail report's `CertUserID:` line and the JSON `cert_user_id`,
//! the mapped user or `N/A` / null.

use super::*;

#[test]
fn detail_and_json_show_the_cert_user_id() {
    let mapped = ConnSnapshot { cert_user: Some("alice".into()), ..ftp_control() };
    let text = detail_text(&mapped);
    assert!(text.contains("\n  CertUserID:    alice\n"), "{text}");
    assert_eq!(detail_json(&mapped)["cert_user_id"], "alice");
    assert_eq!(list_json(&[mapped])["connections"][0]["cert_user_id"], "alice");
    let text = detail_text(&ftp_control());
    assert!(text.contains("\n  CertUserID:    N/A\n"), "{text}");
    assert_eq!(detail_json(&ftp_control())["cert_user_id"], Value::Null);
}
