//! Fail closed: what a policy protects never leaves in clear and a cut stream never passes for a
//! complete one. Application bytes past an `init` switch point wait for the handshake; a TLS stream
//! that ends without close_notify resets the backend (a clean close_notify still gives a FIN); a
//! backend that cannot be reached resets the client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

use crate::support::agent::peers::client_config;
use crate::support::agent::{AgentSetup, policy};

const WAIT: Duration = Duration::from_secs(10);

fn control(socket: &Path, request: Value) -> Value {
    let mut s = UnixStream::connect(socket).expect("control socket");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(format!("{request}\n").as_bytes()).expect("send");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("reply");
    serde_json::from_str(&line).expect("reply is JSON")
}

/// Everything `s` delivers within `for_`.
fn read_for(s: &mut TcpStream, for_: Duration) -> Vec<u8> {
    let end = Instant::now() + for_;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn application_bytes_past_an_init_mark_wait_for_the_handshake_and_go_under_tls() {
    let setup = AgentSetup::new("fc-mark");
    let pki = setup.pki("pki");
    let app = TcpListener::bind("127.0.0.1:0").expect("bind");
    let rule = policy::server_rule(
        "app~mark",
        "APP1",
        &pki.server_ring,
        &["ApplicationControlled On", "HandshakeTimeout 6"],
        None,
    );
    let agent = setup.listener("APP1", app.local_addr().expect("addr"), "Inbound").policy(&rule).start();
    let mut client = TcpStream::connect(agent.addr("APP1")).expect("connect");
    let (mut server, peer) = app.accept().expect("the agent's backend connection");
    // The application: INIT after 6 bytes, allowing a handshake timeout, then one write across the mark.
    let socket = agent.socket().to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let init = serde_json::json!({"v":1,"op":"init","app_peer":peer.to_string(),"written":6,"allow_hstimeout":true});
        let _ = tx.send(control(&socket, init));
    });
    // INIT must reach the agent before the write (nothing the agent reports tells when it has):
    // a second, as a loaded machine can take hundreds of milliseconds to pass it on.
    std::thread::sleep(Duration::from_millis(1000));
    server.write_all(b"HELLO\nSECRET\n").expect("application write");
    // Before the client's ClientHello only the bytes before the mark reach it, in clear.
    let clear = read_for(&mut client, Duration::from_millis(1500));
    assert_eq!(String::from_utf8_lossy(&clear), "HELLO\n", "bytes past the mark left in clear");
    // The handshake, then the rest arrives under TLS.
    client.set_read_timeout(Some(WAIT)).expect("timeout");
    let conn =
        ClientConnection::new(client_config(&pki.ca), ServerName::try_from("localhost").expect("name"))
            .expect("client");
    let mut tls = StreamOwned::new(conn, client);
    let mut secret = [0u8; 7];
    tls.read_exact(&mut secret).expect("the rest, under TLS");
    assert_eq!(&secret, b"SECRET\n");
    let reply = rx.recv_timeout(WAIT).expect("INIT answered");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["conn_status"], "SECURE", "{reply}");
}

/// What a backend received, and how its connection ended (a FIN is `Ok`).
type Ending = (Vec<u8>, std::io::Result<()>);

/// A backend that reports how the agent ended its side: after the bytes, a FIN or a reset.
fn ending_backend() -> (SocketAddr, mpsc::Receiver<Ending>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        let _ = tx.send((got, end));
    });
    (addr, rx)
}

/// A TLS client that sends `data`, then ends with close_notify or just a TCP FIN.
fn send_then_end(addr: SocketAddr, ca: &Path, data: &[u8], close_notify: bool) {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    let conn = ClientConnection::new(client_config(ca), ServerName::try_from("localhost").expect("name"))
        .expect("client");
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(data).expect("send");
    tls.flush().expect("flush");
    if close_notify {
        tls.conn.send_close_notify();
        tls.flush().expect("close_notify");
    }
    tls.sock.shutdown(Shutdown::Write).expect("FIN");
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn a_tls_stream_cut_without_close_notify_resets_the_backend_and_says_truncated() {
    let setup = AgentSetup::new("fc-cut");
    let pki = setup.pki("pki");
    let (backend, ended) = ending_backend();
    let rule = policy::server_rule("raw~cut", "TLS1", &pki.server_ring, &[], None);
    let agent = setup.listener("TLS1", backend, "Inbound").policy(&rule).start();
    send_then_end(agent.addr("TLS1"), &pki.ca, b"partial upload", false);
    let (got, end) = ended.recv_timeout(WAIT).expect("the backend saw the end");
    assert_eq!(got, b"partial upload");
    assert!(
        matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "a cut TLS stream must reach the backend as a reset, not a FIN: {end:?}"
    );
    let log = agent.log_text();
    assert!(log.contains("truncated") && log.contains("bytes_in=14"), "{log}");
}

#[test]
fn a_clean_close_notify_still_reaches_the_backend_as_a_fin() {
    let setup = AgentSetup::new("fc-clean");
    let pki = setup.pki("pki");
    let (backend, ended) = ending_backend();
    let rule = policy::server_rule("raw~clean", "TLS1", &pki.server_ring, &[], None);
    let agent = setup.listener("TLS1", backend, "Inbound").policy(&rule).start();
    send_then_end(agent.addr("TLS1"), &pki.ca, b"complete upload", true);
    let (got, end) = ended.recv_timeout(WAIT).expect("the backend saw the end");
    assert_eq!(got, b"complete upload");
    assert!(end.is_ok(), "close_notify must give a clean FIN: {end:?}\n{}", agent.log_text());
}

#[test]
fn a_sidecar_listener_resets_a_connection_no_rule_matches_unless_it_says_nopolicy_clear() {
    let setup = AgentSetup::new("fc-nopolicy");
    let pki = setup.pki("pki");
    let backend = crate::support::agent::peers::Backend::echo();
    // The rule is for another job: a typo in a rule, say. No rule matches SIDE1 or CLEAR1.
    let rule = policy::server_rule("typo~1", "SIDE2", &pki.server_ring, &[], None);
    let agent = setup
        .listener("SIDE1", backend.addr(), "Inbound")
        .listener_with("CLEAR1", backend.addr(), "Inbound", &["NoPolicy Clear"])
        .policy(&rule)
        .start();
    let mut s = TcpStream::connect(agent.addr("SIDE1")).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    // Nothing written first: the reset's error is then the read's.
    let mut buf = [0u8; 64];
    let end = s.read(&mut buf);
    assert!(
        matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "no rule on a sidecar listener: a reset, nothing relayed: {end:?}"
    );
    assert!(agent.log_text().contains("refused: no rule applies"), "{}", agent.log_text());
    // `NoPolicy Clear` keeps z/OS's NO_POLICY: relayed in clear.
    let mut c = TcpStream::connect(agent.addr("CLEAR1")).expect("connect");
    let echoed = crate::support::agent::peers::round_trip(&mut c, b"clear by choice\n").expect("echo");
    assert_eq!(echoed, b"clear by choice\n");
    assert_eq!(backend.accepted(), 1, "only the NoPolicy Clear connection reached the backend");
}

#[test]
fn a_backend_that_refuses_resets_the_client_whether_tls_or_clear() {
    // Found by the soak (scripts/soak faults): with the backend down, the handshaken TLS client got
    // a FIN without close_notify and a clear client a plain FIN, an empty stream that looks whole.
    let setup = AgentSetup::new("fc-refused");
    let pki = setup.pki("pki");
    let down = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let rule = policy::server_rule("raw~down", "TLS1", &pki.server_ring, &[], None);
    let agent = setup
        .listener("TLS1", down, "Inbound")
        .listener_with("CLEAR1", down, "Inbound", &["NoPolicy Clear"])
        .policy(&rule)
        .start();
    let tcp = TcpStream::connect(agent.addr("TLS1")).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    let conn =
        ClientConnection::new(client_config(&pki.ca), ServerName::try_from("localhost").expect("name"))
            .expect("client");
    let mut tls = StreamOwned::new(conn, tcp);
    let mut buf = [0u8; 64];
    let end = tls.read(&mut buf);
    assert!(tls.conn.negotiated_cipher_suite().is_some(), "the handshake completes first (D24c)");
    assert!(
        matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "TLS client of a refused backend: a reset, not an end of stream: {end:?}"
    );
    let mut clear = TcpStream::connect(agent.addr("CLEAR1")).expect("connect");
    clear.set_read_timeout(Some(WAIT)).expect("timeout");
    let end = clear.read(&mut buf);
    assert!(
        matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "clear client of a refused backend: a reset, not an empty stream: {end:?}"
    );
    let failed = agent.log_text().matches("backend connection failed").count();
    assert_eq!(failed, 2, "{}", agent.log_text());
}
