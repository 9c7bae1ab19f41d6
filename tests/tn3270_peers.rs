//! Smoke tests of the TN3270 harness, straight against the plaintext servers (no attls): s3270 gets
//! the Hercules logo from its console port, and the TN3270E test server's screen in TN3270E mode
//! (and in traditional TN3270 when s3270 refuses TN3270E). Then attls's START_TLS core, driven by
//! the harness's synchronous [`Front`], with real clients: s3270 (START_TLS, direct `L:`, refusal)
//! and `openssl s_client -starttls telnet`.

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use attls::tn3270::negotiate::{How, Step};
use attls::tn3270::settings::ConnType;
use attls::tn3270::telnet::{START_TLS, TERMINAL_TYPE, TN3270E, Verb, command, start_tls_follows};

use crate::support::agent::peers::{s_client, tcp_connect};
use crate::support::agent::{Pki, TempDir, eventually};
use crate::support::tn3270::front::server_config;
use crate::support::tn3270::hercules::LOGO_TEXT;
use crate::support::tn3270::server::{DEVICE_NAME, SCREEN_TEXT};
use crate::support::tn3270::{Front, Hercules, Mode, S3270, Tn3270eServer, WaitFor};

#[test]
fn s3270_shows_the_hercules_logo() {
    let herc = Hercules::start();
    let run = S3270::new().run(herc.port());
    run.expect_screen(LOGO_TEXT).expect_screen("Device number     : 070");
    assert!(run.connected && run.waited, "{run}");
    assert_eq!(run.state, "connected-3270", "Hercules speaks traditional TN3270\n{run}");
    assert_eq!(run.tls, "not secure");
    assert!(herc.clients() >= 1, "{}", herc.log());
    // The server speaks first: what attls's backend side sees after a handshake.
    assert_eq!(first_bytes(herc.addr()), command(Verb::Do, TERMINAL_TYPE));
}

fn first_bytes(addr: SocketAddr) -> [u8; 3] {
    let mut got = [0u8; 3];
    tcp_connect(addr).read_exact(&mut got).unwrap_or_else(|e| panic!("read from {addr}: {e}"));
    got
}

#[test]
fn s3270_negotiates_tn3270e_with_the_test_server() {
    let server = Tn3270eServer::start();
    let run = S3270::new().wait_for(WaitFor::InputField).run(server.port());
    run.expect_screen(SCREEN_TEXT).expect_screen("NEGOTIATED TN3270E");
    assert_eq!(run.state, "connected-tn3270e", "{run}");
    let s = server.wait_screen(0, Duration::from_secs(5)).expect("a session got its screen");
    assert_eq!(s.mode, Mode::Tn3270e, "{s:?}");
    let device = s.device_type.as_deref().unwrap_or_default();
    assert!(device.starts_with("IBM-327"), "{s:?}");
    assert!(s.functions.iter().all(|f| [2, 4].contains(f)), "{s:?}");
    assert_eq!(s.terminal_type, None);
    assert_eq!(run.lu_name, DEVICE_NAME, "the granted device name\n{run}");
    assert_eq!(first_bytes(server.addr()), command(Verb::Do, TN3270E));
}

#[test]
fn s3270_falls_back_to_tn3270_when_it_refuses_tn3270e() {
    let server = Tn3270eServer::start();
    let run = S3270::new().prefix("N:").wait_for(WaitFor::InputField).run(server.port());
    run.expect_screen(SCREEN_TEXT).expect_screen("NEGOTIATED TN3270");
    assert_eq!(run.state, "connected-3270", "{run}");
    let s = server.wait_screen(0, Duration::from_secs(5)).expect("a session got its screen");
    assert_eq!(s.mode, Mode::Tn3270, "{s:?}");
    assert!(s.terminal_type.as_deref().is_some_and(|t| t.starts_with("IBM-327")), "{s:?}");
    assert_eq!(s.device_type, None);
}

/// The front's StartTlsWait: s3270 sends nothing first, so START_TLS is offered after it.
const WAIT: Duration = Duration::from_millis(300);

fn pki(tag: &str) -> (TempDir, Pki) {
    let dir = TempDir::new(tag);
    let pki = Pki::write(dir.path(), "pki");
    (dir, pki)
}

fn do_start_tls() -> Step {
    Step::Send(command(Verb::Do, START_TLS).to_vec())
}

#[test]
fn s3270_gets_the_screen_over_negotiated_start_tls() {
    let (_dir, pki) = pki("tn3270-starttls");
    for ct in [ConnType::Secure, ConnType::NegTSecure, ConnType::Any] {
        let front = Front::start(ct, Some(server_config(&pki)), WAIT);
        let run = S3270::tls(&pki.ca).wait_for(WaitFor::InputField).run(front.port());
        run.expect_screen(SCREEN_TEXT).expect_screen("NEGOTIATED TN3270E");
        assert_eq!(
            (run.tls.as_str(), run.state.as_str()),
            ("secure host-verified", "connected-tn3270e"),
            "{run}"
        );
        let o = front.outcome(0, Duration::from_secs(5)).expect("the connection ended");
        let follows = Step::Send(start_tls_follows());
        assert_eq!(o.steps[..2], [do_start_tls(), follows], "{ct}");
        // s3270 waits for our FOLLOWS before its ClientHello, so usually nothing is left over; when
        // its WILL and FOLLOWS come in two reads, the ClientHello may share the FOLLOWS' read.
        assert!(
            matches!(&o.steps[2..], [Step::StartTlsNow { leftover }]
                if leftover.is_empty() || leftover.starts_with(&[0x16, 0x03])),
            "{ct}: {:?}",
            o.steps
        );
        assert_eq!(o.how, Some(How::Negotiated));
        assert!(o.tls_done && o.session.is_some_and(|s| s.mode == Mode::Tn3270e));
    }
}

#[test]
fn s3270_direct_tls_with_the_l_prefix() {
    let (_dir, pki) = pki("tn3270-direct");
    let front = Front::start(ConnType::Secure, Some(server_config(&pki)), Duration::from_secs(5));
    let run = S3270::tls(&pki.ca).prefix("L:").wait_for(WaitFor::InputField).run(front.port());
    run.expect_screen(SCREEN_TEXT);
    assert!(run.secure(), "{run}");
    let o = front.outcome(0, Duration::from_secs(5)).expect("the connection ended");
    assert_eq!(o.how, Some(How::Direct));
    assert!(matches!(&o.steps[..], [Step::StartTlsNow { leftover }] if leftover.starts_with(&[0x16, 0x03])));
}

#[test]
fn s3270_refusing_start_tls() {
    let (_dir, pki) = pki("tn3270-refuse");
    let refuse = |s: S3270| s.arg("-xrm").arg("s3270.startTls: false").timeout(Duration::from_secs(5));
    let front = Front::start(ConnType::Secure, Some(server_config(&pki)), WAIT);
    let run = refuse(S3270::tls(&pki.ca)).run(front.port());
    // s3270 4.1ga10 crashes when a server closes after its WONT START_TLS (see the s3270 module).
    assert!(!run.connected, "{run}");
    let o = front.outcome(0, Duration::from_secs(5)).expect("the connection ended");
    let why = "client refused START_TLS (WONT) and ConnType Secure requires TLS".to_string();
    assert_eq!(o.steps, vec![do_start_tls(), Step::Close { why }]);

    let front = Front::start(ConnType::Any, Some(server_config(&pki)), WAIT);
    let run = refuse(S3270::tls(&pki.ca)).wait_for(WaitFor::InputField).run(front.port());
    run.expect_screen("NEGOTIATED TN3270E");
    assert_eq!(run.tls, "not secure", "{run}");
    let o = front.outcome(0, Duration::from_secs(5)).expect("the connection ended");
    assert_eq!(o.steps, vec![do_start_tls(), Step::Clear { forward: vec![] }]);
    assert!(matches!(o.how, Some(How::Clear(why)) if why.contains("(WONT); ConnType Any goes on in clear")));

    let front = Front::start(ConnType::None, Some(server_config(&pki)), WAIT);
    let run = S3270::tls(&pki.ca).timeout(Duration::from_secs(5)).run(front.port());
    assert_eq!(run.connect_error().as_deref(), Some("Host disconnected"), "{run}");
    let o = front.outcome(0, Duration::from_secs(5)).expect("the connection ended");
    assert!(matches!(&o.steps[..], [Step::Close { why }] if why.contains("ConnType None")), "{o:?}");
}

#[test]
fn openssl_s_client_starttls_telnet() {
    let (_dir, pki) = pki("tn3270-openssl");
    let front = Front::start(ConnType::NegTSecure, Some(server_config(&pki)), WAIT);
    let addr = SocketAddr::from(([127, 0, 0, 1], front.port()));
    let mut client = s_client(addr, &pki.ca, &["-starttls", "telnet"]);
    // Inside TLS the session starts over: the server's first bytes are IAC DO TN3270E.
    let dialog = eventually(Duration::from_secs(10), || {
        client.stdout().windows(3).any(|w| w == command(Verb::Do, TN3270E))
    });
    client.close_stdin();
    client.wait(Duration::from_secs(10));
    assert!(dialog, "no TN3270E offer inside TLS; stderr:\n{}", client.stderr());
    assert!(client.stderr().contains("Verification: OK"), "{}", client.stderr());
    let o = front.outcome(0, Duration::from_secs(5)).expect("the connection ended");
    assert_eq!(o.how, Some(How::Negotiated));
    assert!(o.tls_done);
}
