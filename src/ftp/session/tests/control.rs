//! Control-channel bookkeeping: FEAT merging, local answers kept in reply order, greetings and
//! unsolicited replies, the pending-command limit, and malformed or non-UTF-8 lines.

use super::*;
use crate::ftp::feat;

#[test]
fn feat_merged_with_backend() {
    let mut s = session(|_| {});
    assert_eq!(cmd(&mut s, "FEAT"), [backend("FEAT\r\n")]);
    let backend_feat = Reply { code: 211, text: "211-Features:\r\n MDTM\r\n211 End\r\n".into() };
    assert_eq!(
        s.on_reply(&backend_feat),
        [client("211-Features:\r\n MDTM\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n")]
    );
    cmd(&mut s, "FEAT");
    assert_eq!(reply(&mut s, 500, "unknown"), [client(&feat::merge(None))]);
    let mut s = session(|i| i.tls_available = false);
    cmd(&mut s, "FEAT");
    assert_eq!(s.on_reply(&backend_feat), [Out::ToClient(backend_feat.text.clone())]);
}

#[test]
fn local_answers_keep_reply_order() {
    let mut s = session(|i| i.settings.ccc = Ccc::Allowed);
    assert_eq!(cmd(&mut s, "NOOP"), [backend("NOOP\r\n")]);
    assert_eq!(cmd(&mut s, "PBSZ 0"), [], "waits for NOOP's reply");
    assert_eq!(cmd(&mut s, "AUTH TLS"), []);
    let out = reply(&mut s, 200, "NOOP ok");
    assert!(matches!(&out[..], [Out::ToClient(a), Out::ToClient(b), Out::ToClient(c), Out::StartTls]
        if a.starts_with("200 NOOP") && b.starts_with("503 ") && c.starts_with("234 ")));
}

#[test]
fn greeting_and_unsolicited_replies() {
    let mut s = session(|_| {});
    assert_eq!(cmd(&mut s, "USER anna"), [backend("USER anna\r\n")]);
    assert_eq!(reply(&mut s, 120, "wait"), [client("120 wait\r\n")]);
    assert_eq!(reply(&mut s, 220, "ready"), [client("220 ready\r\n")]);
    assert_eq!(reply(&mut s, 331, "Password"), [client("331 Password\r\n")]);
    assert_eq!(reply(&mut s, 421, "bye"), [client("421 bye\r\n")]);
    assert_eq!(reply(&mut s, 200, "stray"), [client("200 stray\r\n")]);
}

#[test]
fn too_many_pending_commands_close() {
    let mut s = session(|_| {});
    for _ in 0..MAX_PENDING {
        assert_eq!(cmd(&mut s, "NOOP"), [backend("NOOP\r\n")]);
    }
    let out = cmd(&mut s, "NOOP");
    assert!(matches!(&out[..], [Out::ToClient(t), Out::Close] if t.starts_with("421 ")));
    assert_eq!(cmd(&mut s, "NOOP"), []);
    assert_eq!(reply(&mut s, 200, "ok"), []);
}

#[test]
fn bad_lines_and_raw_forwarding() {
    let mut s = session(|_| {});
    assert_eq!(code(&s.on_command(&vec![b'A'; command::MAX_LINE + 1])), 500);
    assert_eq!(code(&s.on_overlong_line()), 500);
    assert_eq!(code(&s.on_command(b"12 34\r\n")), 501);
    assert_eq!(code(&s.on_command(b"\r\n")), 501);
    assert_eq!(s.on_command(b"RETR caf\xe9\r\n")[0], Out::ToBackendRaw(b"RETR caf\xe9\r\n".to_vec()));
    assert_eq!(s.on_command(b"\xff\xf4\xff\xf2ABOR\r\n"), [backend("ABOR\r\n")]);
    assert_eq!(s.on_command(b"SITE CHMOD 644 f\n"), [backend("SITE CHMOD 644 f\r\n")]);
}
