//! Unit tests of the FTP control session: every local reply code, the RFC 4217 sequence, passive and
//! active data, reply order, and no panics on random input.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use proptest::prelude::*;

use super::*;
use crate::ftp::feat;
use crate::ftp::settings::{SecureDataConn, SecureLogin};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

fn init() -> SessionInit {
    SessionInit {
        settings: FtpSettings::default(),
        tls_available: true,
        implicit: false,
        client_ip: CLIENT,
        control_v6: false,
        backend_v6: false,
    }
}

fn session(f: impl FnOnce(&mut SessionInit)) -> Session {
    let mut i = init();
    f(&mut i);
    Session::new(i)
}

/// A session after AUTH TLS, the handshake and PBSZ 0.
fn secured(f: impl FnOnce(&mut SessionInit)) -> Session {
    let mut s = session(f);
    assert_eq!(cmd(&mut s, "AUTH TLS")[1], Out::StartTls);
    s.tls_started(false);
    assert_eq!(cmd(&mut s, "PBSZ 0"), [client("200 PBSZ=0\r\n")]);
    s
}

fn cmd(s: &mut Session, line: &str) -> Vec<Out> {
    s.on_command(format!("{line}\r\n").as_bytes())
}

fn reply(s: &mut Session, code: u16, text: &str) -> Vec<Out> {
    s.on_reply(&Reply::new(code, text))
}

fn client(text: &str) -> Out {
    Out::ToClient(text.to_owned())
}

fn backend(text: &str) -> Out {
    Out::ToBackend(text.to_owned())
}

/// The code of a single local answer (asserting there is exactly one `ToClient`, nothing else).
fn code(out: &[Out]) -> u16 {
    match out {
        [Out::ToClient(t)] => t.get(..3).and_then(|c| c.parse().ok()).expect("a reply code"),
        other => panic!("expected one local answer, got {other:?}"),
    }
}

fn answer(s: &mut Session, line: &str) -> u16 {
    code(&cmd(s, line))
}

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
    assert_eq!(cmd(&mut s, "SYST"), [backend("SYST\r\n")], "other commands are the backend's");
    reply(&mut s, 215, "UNIX");
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

#[test]
fn transfers_need_prot_p_when_data_must_be_protected() {
    for verb in ["RETR f", "STOR f", "STOU", "APPE f", "LIST", "NLST", "MLSD"] {
        let mut s = session(|i| i.settings.secure_data = SecureDataConn::Safe);
        let out = cmd(&mut s, verb);
        assert_eq!(code(&out), 521, "{verb}");
        assert!(matches!(&out[0], Out::ToClient(t) if t.contains("PROT P")));
    }
    let mut s = secured(|i| i.settings.secure_data = SecureDataConn::Private);
    assert_eq!(answer(&mut s, "RETR f"), 521);
    cmd(&mut s, "PROT P");
    assert_eq!(
        cmd(&mut s, "retr f"),
        [backend("retr f\r\n"), Out::BeginTransfer { protect: true, upload: false }]
    );
    let mut s = session(|_| {});
    assert_eq!(
        cmd(&mut s, "RETR f"),
        [backend("RETR f\r\n"), Out::BeginTransfer { protect: false, upload: false }]
    );
}

#[test]
fn transfer_replies_are_marked_for_the_data_connections_verdict() {
    let mut s = secured(|_| {});
    cmd(&mut s, "PROT P");
    cmd(&mut s, "RETR f");
    assert_eq!(reply(&mut s, 150, "Opening"), [client("150 Opening\r\n")]);
    let failed = Out::TransferReply { reply: "426 Failure\r\n".into(), positive: false };
    assert_eq!(reply(&mut s, 426, "Failure"), [failed]);
    cmd(&mut s, "RETR g");
    let noop = cmd(&mut s, "PBSZ 0");
    assert!(noop.is_empty(), "a local answer waits behind the transfer's reply: {noop:?}");
    let out = reply(&mut s, 226, "Done");
    assert_eq!(out[0], Out::TransferReply { reply: "226 Done\r\n".into(), positive: true });
    assert_eq!(out[1], client("200 PBSZ=0\r\n"));
    assert_eq!(cmd(&mut s, "NOOP"), [backend("NOOP\r\n")]);
    assert_eq!(reply(&mut s, 200, "ok"), [client("200 ok\r\n")]);
}

#[test]
fn passive_modes() {
    let mut s = session(|i| i.control_v6 = true);
    assert_eq!(code(&cmd(&mut s, "PASV")), 522);
    assert_eq!(answer(&mut s, "EPSV 1"), 522);
    assert_eq!(cmd(&mut s, "EPSV 2"), [backend("PASV\r\n")]);
    let out = reply(&mut s, 227, "Entering Passive Mode (10,0,0,2,4,1)");
    assert!(matches!(&out[..], [Out::OpenPassive { extended: true, .. }]));
    let mut s = session(|i| i.backend_v6 = true);
    assert_eq!(cmd(&mut s, "PASV"), [backend("EPSV\r\n")]);
    let out = reply(&mut s, 229, "Entering Extended Passive Mode (|||50000|)");
    assert_eq!(out, [Out::OpenPassive { backend: BackendData::Port(50000), extended: false }]);
    assert_eq!(cmd(&mut s, "EPSV"), [backend("EPSV\r\n")]);
    let out = reply(&mut s, 500, "no");
    assert_eq!(out, [Out::PlanFailed, client("500 no\r\n")], "refusals pass through, and no plan comes");
    cmd(&mut s, "EPSV");
    let out = reply(&mut s, 229, "no port here");
    assert_eq!(out[0], Out::PlanFailed);
    assert_eq!(code(&out[1..]), 425);
    let mut s = session(|_| {});
    assert_eq!(cmd(&mut s, "EPSV 2"), [client("522 Network protocol not supported, use (1)\r\n")]);
    assert_eq!(answer(&mut s, "EPSV x"), 501);
    assert_eq!(answer(&mut s, "EPSV 3"), 522);
}

#[test]
fn epsv_all() {
    let mut s = session(|_| {});
    assert_eq!(cmd(&mut s, "EPSV ALL"), [client("200 EPSV ALL ok\r\n")]);
    assert_eq!(answer(&mut s, "PASV"), 503);
    assert_eq!(answer(&mut s, "PORT 192,0,2,10,4,1"), 503);
    assert_eq!(answer(&mut s, "EPRT |1|192.0.2.10|1025|"), 503);
    assert_eq!(cmd(&mut s, "EPSV"), [backend("PASV\r\n")]);
}

#[test]
fn active_modes_and_port_theft() {
    let mut s = session(|_| {});
    assert_eq!(cmd(&mut s, "PORT 192,0,2,10,4,1"), [backend("PASV\r\n")]);
    let out = reply(&mut s, 227, "Entering Passive Mode (10,0,0,2,7,208).");
    let backend_addr = BackendData::Addr(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2000));
    let want: SocketAddr = "192.0.2.10:1025".parse().expect("test address");
    assert_eq!(
        out,
        [Out::ActiveReady { backend: backend_addr, client: want }, client("200 PORT command successful\r\n")]
    );
    assert_eq!(cmd(&mut s, "EPRT |1|192.0.2.10|1025|"), [backend("PASV\r\n")]);
    assert_eq!(reply(&mut s, 227, "(10,0,0,2,7,208)")[1], client("200 EPRT command successful\r\n"));
    cmd(&mut s, "PORT 192,0,2,10,4,1");
    assert_eq!(reply(&mut s, 530, "Log in"), [Out::PlanFailed, client("530 Log in\r\n")]);
    for bad in ["PORT 192,0,2,11,4,1", "EPRT |1|203.0.113.5|25|", "EPRT |2|::1|1025|"] {
        let out = cmd(&mut s, bad);
        assert_eq!(code(&out), 501, "{bad}");
        assert!(matches!(&out[0], Out::ToClient(t) if t.contains("bounce")), "{out:?}");
    }
    for bad in ["PORT 192,0,2,10,0,0", "PORT x", "EPRT |1|192.0.2.10|0|", "EPRT"] {
        let out = cmd(&mut s, bad);
        assert!(matches!(&out[..], [Out::ToClient(t)] if t.starts_with("501 Syntax")), "{bad}: {out:?}");
    }
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 10).to_ipv6_mapped());
    let mut s = session(|i| {
        i.client_ip = mapped;
        i.backend_v6 = true;
    });
    assert_eq!(cmd(&mut s, "EPRT |2|::ffff:192.0.2.10|1025|"), [backend("EPSV\r\n")]);
    let out = reply(&mut s, 229, "(|||3000|)");
    assert_eq!(out[0], Out::ActiveReady { backend: BackendData::Port(3000), client: want });
}

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

fn any_init() -> impl Strategy<Value = SessionInit> {
    (any::<[bool; 6]>(), 0usize..4).prop_map(|(b, data)| {
        let mut i = init();
        i.tls_available = b[0];
        i.implicit = b[1];
        i.control_v6 = b[2];
        i.backend_v6 = b[3];
        i.settings.ccc = if b[4] { Ccc::Allowed } else { Ccc::Refused };
        i.settings.secure_ftp = if b[5] { SecureFtp::Required } else { SecureFtp::Allowed };
        i.settings.secure_data =
            [SecureDataConn::Never, SecureDataConn::Clear, SecureDataConn::Safe, SecureDataConn::Private]
                [data % 4];
        i
    })
}

#[derive(Clone, Debug)]
enum Event {
    Line(Vec<u8>),
    Reply(u16, String),
    Tls(u8),
}

fn event() -> impl Strategy<Value = Event> {
    const LINES: &str =
        "(AUTH|PBSZ|PROT|CCC|USER|PASV|EPSV|PORT|EPRT|RETR|FEAT|NOOP|ABOR|auth)( [ -~]{0,30})?\r\n";
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(Event::Line),
        LINES.prop_map(|l| Event::Line(l.into_bytes())),
        (any::<u16>(), "\\PC{0,40}").prop_map(|(c, t)| Event::Reply(c, t)),
        (100u16..600, "[(0-9,|) ]{0,30}").prop_map(|(c, t)| Event::Reply(c, t)),
        (0u8..5).prop_map(Event::Tls),
    ]
}

proptest! {
    #[test]
    fn never_panics_and_never_forwards_security_commands(
        init in any_init(),
        events in proptest::collection::vec(event(), 0..60),
    ) {
        let mut s = Session::new(init);
        for e in events {
            let out = match e {
                Event::Line(l) => s.on_command(&l),
                Event::Reply(code, text) => s.on_reply(&Reply { code, text }),
                Event::Tls(0) => { s.tls_started(true); Vec::new() }
                Event::Tls(1) => { s.tls_failed(); Vec::new() }
                Event::Tls(2) => { s.tls_stopped(); Vec::new() }
                Event::Tls(_) => { let _ = (s.secure(), s.protect_data(), s.status_word()); Vec::new() }
            };
            for o in &out {
                if let Out::ToBackend(line) = o {
                    let verb = line.split(' ').next().unwrap_or_default().trim_end().to_ascii_uppercase();
                    prop_assert!(!["AUTH", "PBSZ", "PROT", "CCC"].contains(&verb.as_str()), "{line:?}");
                    prop_assert!(line.ends_with("\r\n") && !line[..line.len() - 2].contains('\n'));
                }
            }
        }
    }
}

#[test]
fn a_data_plan_is_pending_from_pasv_until_its_reply() {
    let mut s = secured(|_| {});
    assert!(!s.plan_pending());
    cmd(&mut s, "PASV");
    assert!(s.plan_pending(), "a transfer sent now waits for this plan");
    reply(&mut s, 227, "Entering Passive Mode (10,0,0,2,4,1).");
    assert!(!s.plan_pending());
}
