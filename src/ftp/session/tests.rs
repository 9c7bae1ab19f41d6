//! Unit tests of the FTP control session: every local reply code, the RFC 4217 sequence, passive and
//! active data, reply order, and no panics on random input. This file holds the shared fixtures
//! (a session, its commands and replies); the tests are in the submodules, by theme.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

fn init() -> SessionInit {
    SessionInit {
        settings: FtpSettings::default(),
        tls_available: true,
        implicit: false,
        client_ip: CLIENT,
        control_v6: false,
        backend_v6: false,
        cert_user_map: false,
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

mod control;
mod data;
mod properties;
mod security;
