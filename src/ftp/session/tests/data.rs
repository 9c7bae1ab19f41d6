//! Data connections: PROT P required for transfers, the transfer reply's verdict mark, passive and
//! extended passive modes, EPSV ALL, active modes with PORT theft checks, and data-plan tracking.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use super::*;
use crate::ftp::settings::SecureDataConn;

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
fn a_data_plan_is_pending_from_pasv_until_its_reply() {
    let mut s = secured(|_| {});
    assert!(!s.plan_pending());
    cmd(&mut s, "PASV");
    assert!(s.plan_pending(), "a transfer sent now waits for this plan");
    reply(&mut s, 227, "Entering Passive Mode (10,0,0,2,4,1).");
    assert!(!s.plan_pending());
}
