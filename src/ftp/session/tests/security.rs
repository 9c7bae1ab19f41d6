//! RFC 4217 security commands: the AUTH/PBSZ/PROT/CCC sequence, refused and Kerberos-only verbs,
//! SecureFtp/SecureLogin enforcement and implicit FTPS.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::ftp::settings::{SecureDataConn, SecureLogin};

#[test]
fn rfc4217_sequence() {
    let mut s = session(|i| i.settings.ccc = Ccc::Allowed);
    assert_eq!(reply(&mut s, 220, "ready"), [client("220 ready\r\n")]);
    assert_eq!(s.status_word(), "clear");
    let out = cmd(&mut s, "AUTH TLS");
    assert!(matches!(&out[..], [Out::ToClient(t), Out::StartTls] if t.starts_with("234 ")));
    assert_eq!(s.status_word(), "TLS handshake");
    s.tls_started(false);
    assert!(s.secure());
    assert_eq!(cmd(&mut s, "PBSZ 0"), [client("200 PBSZ=0\r\n")]);
    assert_eq!(answer(&mut s, "PROT P"), 200);
    assert!(s.protect_data());
    assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")]);
    assert_eq!(reply(&mut s, 331, "Password"), [client("331 Password\r\n")]);
    assert_eq!(cmd(&mut s, "PASS secret"), [backend("PASS secret\r\n")]);
    assert_eq!(reply(&mut s, 230, "ok"), [client("230 ok\r\n")]);
    assert_eq!(cmd(&mut s, "PASV"), [backend("PASV\r\n")]);
    let want = BackendData::Addr(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 1025));
    let out = reply(&mut s, 227, "Entering Passive Mode (10,0,0,2,4,1).");
    assert_eq!(out, [Out::OpenPassive { backend: want, extended: false }]);
    assert_eq!(
        cmd(&mut s, "RETR f"),
        [backend("RETR f\r\n"), Out::BeginTransfer { protect: true, upload: false }]
    );
    assert_eq!(reply(&mut s, 150, "Opening"), [client("150 Opening\r\n")]);
    let done = Out::TransferReply { reply: "226 Done\r\n".into(), positive: true };
    assert_eq!(reply(&mut s, 226, "Done"), [done]);
    let out = cmd(&mut s, "CCC");
    assert!(matches!(&out[..], [Out::ToClient(t), Out::StopTls] if t.starts_with("200 ")));
    assert!(!s.secure());
    s.tls_stopped();
    assert_eq!(s.status_word(), "clear after CCC");
    assert_eq!(answer(&mut s, "PROT C"), 503);
    assert_eq!(answer(&mut s, "PBSZ 0"), 503);
    assert_eq!(answer(&mut s, "AUTH TLS"), 503);
    assert!(s.protect_data(), "data keeps its PROT after CCC");
    assert_eq!(
        cmd(&mut s, "LIST"),
        [backend("LIST\r\n"), Out::BeginTransfer { protect: true, upload: false }]
    );
}

#[test]
fn auth_mechanisms() {
    for m in ["TLS", "tls-c", "Tls"] {
        let mut s = session(|_| {});
        assert_eq!(cmd(&mut s, &format!("AUTH {m}"))[1], Out::StartTls);
        assert!(!s.protect_data());
    }
    for m in ["SSL", "tls-p"] {
        let mut s = session(|_| {});
        assert_eq!(cmd(&mut s, &format!("AUTH {m}"))[1], Out::StartTls);
        s.tls_started(false);
        assert!(s.protect_data(), "AUTH {m} protects data as the drafts did");
        assert_eq!(answer(&mut s, "PROT C"), 200, "PBSZ counts as done");
    }
    let mut s = session(|i| i.settings.secure_data = SecureDataConn::Never);
    cmd(&mut s, "AUTH SSL");
    assert!(!s.protect_data());
    assert_eq!(answer(&mut session(|_| {}), "AUTH GSSAPI"), 504);
    assert_eq!(answer(&mut session(|_| {}), "AUTH"), 501);
    assert_eq!(answer(&mut session(|i| i.tls_available = false), "AUTH TLS"), 534);
    let mut s = secured(|_| {});
    assert_eq!(answer(&mut s, "AUTH TLS"), 503);
}

#[test]
fn commands_during_handshake_and_failed_handshake() {
    let mut s = session(|_| {});
    cmd(&mut s, "AUTH SSL");
    assert_eq!(answer(&mut s, "NOOP"), 503);
    s.tls_failed();
    assert_eq!((s.secure(), s.protect_data(), s.status_word()), (false, false, "clear"));
    assert_eq!(answer(&mut s, "PBSZ 0"), 503);
}

#[test]
fn pbsz_and_prot() {
    let mut s = session(|_| {});
    assert_eq!(answer(&mut s, "PBSZ 0"), 503);
    assert_eq!(answer(&mut s, "PROT P"), 503);
    cmd(&mut s, "AUTH TLS");
    s.tls_started(false);
    assert_eq!(answer(&mut s, "PROT P"), 503, "PROT before PBSZ");
    assert_eq!(cmd(&mut s, "PBSZ 1024"), [client("200 PBSZ=0\r\n")]);
    for (level, want) in [("S", 536), ("E", 536), ("X", 504), ("", 504), ("p", 200), ("c", 200)] {
        assert_eq!(answer(&mut s, &format!("PROT {level}")), want, "PROT {level}");
    }
    assert!(!s.protect_data());
    for data in [SecureDataConn::Safe, SecureDataConn::Private] {
        let mut s = secured(|i| i.settings.secure_data = data);
        assert_eq!(answer(&mut s, "PROT C"), 536);
        assert_eq!(answer(&mut s, "PROT P"), 200);
    }
    let mut s = secured(|i| i.settings.secure_data = SecureDataConn::Never);
    assert_eq!(answer(&mut s, "PROT P"), 536);
    assert_eq!(answer(&mut s, "PROT C"), 200);
}

#[test]
fn ccc_and_kerberos_only_commands() {
    assert_eq!(answer(&mut session(|i| i.settings.ccc = Ccc::Allowed), "CCC"), 533);
    assert_eq!(answer(&mut secured(|_| {}), "CCC"), 534);
    let mut s = secured(|i| i.settings.ccc = Ccc::Allowed);
    assert_eq!(cmd(&mut s, "CCC")[1], Out::StopTls);
    assert_eq!(s.status_word(), "clearing (CCC)");
    assert_eq!(answer(&mut s, "CCC"), 533);
    assert_eq!(answer(&mut session(|_| {}), "ADAT abc"), 503);
    for v in ["MIC x", "CONF x", "ENC x"] {
        assert_eq!(answer(&mut secured(|_| {}), v), 537);
    }
    for v in ["LPSV", "LPRT 4,4,1,2,3,4,2,1,2", "REIN"] {
        assert_eq!(answer(&mut session(|_| {}), v), 502);
    }
}

#[test]
fn secure_ftp_required() {
    let mut s = session(|i| i.settings.secure_ftp = SecureFtp::Required);
    let out = cmd(&mut s, "USER anna");
    assert_eq!(
        out,
        [client("530 Log in with AUTH TLS first: this server requires FTPS (SecureFtp Required)\r\n")]
    );
    assert_eq!(answer(&mut s, "PASS x"), 530);
    // Nothing that reads or moves data reaches the backend before TLS protects the control
    // connection: a backend that serves without a login would send it in clear.
    for v in ["RETR f", "STOR f", "LIST", "PASV", "EPSV", "PORT 127,0,0,1,4,1", "CWD /", "SITE x", "DELE f"] {
        assert_eq!(answer(&mut s, v), 530, "{v}");
    }
    assert_eq!(cmd(&mut s, "SYST"), [backend("SYST\r\n")], "harmless commands are the backend's");
    reply(&mut s, 215, "UNIX");
    assert_eq!(cmd(&mut s, "FEAT"), [backend("FEAT\r\n")]);
    reply(&mut s, 211, "End");
    assert_eq!(answer(&mut s, "PBSZ 0"), 503, "PBSZ keeps its own answer");
    cmd(&mut s, "AUTH TLS");
    s.tls_started(false);
    assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")]);
}

#[test]
fn secure_login_needs_a_certificate() {
    for login in [SecureLogin::Required, SecureLogin::VerifyUser] {
        let mut s = secured(|i| i.settings.secure_login = login);
        assert_eq!(answer(&mut s, "USER anna"), 531);
        let mut s = session(|i| i.settings.secure_login = login);
        assert_eq!(cmd(&mut s, "AUTH TLS")[1], Out::StartTls);
        s.tls_started(true);
        assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")]);
        let mut s = session(|i| i.settings.secure_login = login);
        assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")], "clear logins are SecureFtp's");
    }
}

#[test]
fn verify_user_with_a_cert_user_map_wants_the_certificates_user() {
    let verify = |i: &mut SessionInit| {
        i.settings.secure_login = SecureLogin::VerifyUser;
        i.cert_user_map = true;
    };
    let mut s = session(verify);
    cmd(&mut s, "AUTH TLS");
    s.tls_started(true);
    s.set_cert_user(Ok("anna".into()));
    assert_eq!(answer(&mut s, "USER bob"), 530, "another user");
    assert_eq!(answer(&mut s, "USER Anna"), 530, "user names compare exactly");
    assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")]);
    let mut s = session(verify);
    cmd(&mut s, "AUTH TLS");
    s.tls_started(true);
    s.set_cert_user(Err("no line of the CertUserMap matches".into()));
    let out = cmd(&mut s, "USER anna");
    assert!(
        matches!(&out[..], [Out::ToClient(t)] if t.starts_with("530 ") && t.contains("no user ID")),
        "{out:?}"
    );
    // Not told the user: refused (fail closed); no certificate at all: still 531 first.
    let mut s = session(verify);
    cmd(&mut s, "AUTH TLS");
    s.tls_started(true);
    assert_eq!(answer(&mut s, "USER anna"), 530);
    let mut s = secured(verify);
    assert_eq!(answer(&mut s, "USER anna"), 531);
}

#[test]
fn implicit_mode() {
    let mut s = session(|i| {
        i.implicit = true;
        i.settings.secure_data = SecureDataConn::Private;
        i.settings.secure_login = SecureLogin::Required;
    });
    assert!(s.secure() && s.protect_data());
    s.tls_started(true);
    assert_eq!(answer(&mut s, "AUTH TLS"), 503);
    assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")]);
    reply(&mut s, 230, "ok");
    assert_eq!(answer(&mut s, "PROT P"), 200, "PBSZ counts as done");
    assert_eq!(cmd(&mut s, "STOR f")[1], Out::BeginTransfer { protect: true, upload: true });
    let mut s = session(|i| {
        i.implicit = true;
        i.settings.secure_data = SecureDataConn::Never;
    });
    assert!(s.secure() && !s.protect_data());
    assert_eq!(cmd(&mut s, "NLST")[1], Out::BeginTransfer { protect: false, upload: false });
}
