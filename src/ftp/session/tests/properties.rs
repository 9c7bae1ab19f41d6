//! Property test: random settings, command lines, replies and TLS events never panic the session
//! and never forward a security command to the backend.

use proptest::prelude::*;

use super::*;
use crate::ftp::settings::SecureDataConn;

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
