//! Application-controlled TLS: a plaintext server that upgrades a connection STARTTLS-style by asking
//! the agent through the control socket (`init`, z/OS SIOCTTLSCTL INIT_CONNECTION), the client's early
//! ClientHello held meanwhile (D29), and `stop` back to clear.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

use crate::support::agent::peers::client_config;
use crate::support::agent::{AgentSetup, policy};

const GO_AHEAD: &[u8] = b"220 ready\r\n";
const STARTTLS_OK: &[u8] = b"220 go ahead\r\n";

/// One control request from the application, as any language would send it.
fn control(socket: &PathBuf, request: Value) -> Value {
    let mut s = UnixStream::connect(socket).expect("control socket");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(format!("{request}\n").as_bytes()).expect("send");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("reply");
    serde_json::from_str(&line).expect("reply is JSON")
}

/// The unmodified-style server: greets, answers STARTTLS, asks the agent for TLS with the exact
/// byte count it has written (after `delay`), then echoes in plaintext. Sends back the INIT reply.
fn starttls_server(socket: PathBuf, delay: Duration) -> (SocketAddr, mpsc::Receiver<Value>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, peer)) = l.accept() else { return };
        s.write_all(GO_AHEAD).expect("greet");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        r.read_line(&mut line).expect("command");
        assert_eq!(line, "STARTTLS\r\n");
        s.write_all(STARTTLS_OK).expect("go ahead");
        std::thread::sleep(delay);
        let written = (GO_AHEAD.len() + STARTTLS_OK.len()) as u64;
        let reply = control(
            &socket,
            serde_json::json!({"v":1,"op":"init","app_peer":peer.to_string(),"written":written}),
        );
        let _ = tx.send(reply);
        let mut buf = [0u8; 1024];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

fn starttls_client(addr: SocketAddr, ca: &std::path::Path) -> StreamOwned<ClientConnection, TcpStream> {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut got = vec![0u8; GO_AHEAD.len()];
    tcp.read_exact(&mut got).expect("greeting in clear");
    assert_eq!(got, GO_AHEAD);
    tcp.write_all(b"STARTTLS\r\n").expect("starttls");
    let mut got = vec![0u8; STARTTLS_OK.len()];
    tcp.read_exact(&mut got).expect("go-ahead in clear");
    assert_eq!(got, STARTTLS_OK);
    // The ClientHello leaves at once, usually before the server's INIT reaches the agent (D29).
    let conn = ClientConnection::new(client_config(ca), ServerName::try_from("localhost").expect("name"))
        .expect("client");
    StreamOwned::new(conn, tcp)
}

fn run(delay: Duration) {
    let setup = AgentSetup::new("applctl");
    let pki = setup.pki("pki");
    let socket = setup.dir().join("ctl.sock");
    let (backend, init_reply) = starttls_server(socket.clone(), delay);
    let agent = setup
        .listener("APP1", backend, "Inbound")
        .policy(&policy::server_rule(
            "app~ctl",
            "APP1",
            &pki.server_ring,
            &["ApplicationControlled On"],
            None,
        ))
        .start();
    assert_eq!(agent.socket(), socket.as_path());
    let mut tls = starttls_client(agent.addr("APP1"), &pki.ca);
    tls.write_all(b"hello over tls\n").expect("write over TLS");
    let mut back = vec![0u8; 15];
    tls.read_exact(&mut back).expect("echo over TLS");
    assert_eq!(back, b"hello over tls\n");
    assert_eq!(tls.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    let reply = init_reply.recv_timeout(Duration::from_secs(10)).expect("INIT answered");
    assert_eq!(reply["ok"], true, "{reply}");
    let rows = agent.rows();
    assert_eq!(rows[0][4..6], ["SECURE".to_string(), "Primary".to_string()], "{rows:?}");
    let detail = agent.detail(&rows[0][0]);
    assert!(detail.contains("  Secured:       Init\n"), "{detail}");
}

#[test]
fn starttls_by_init_with_written_switches_exactly_and_the_early_client_hello_is_held() {
    run(Duration::ZERO);
}

#[test]
fn a_client_hello_held_for_a_slow_init_still_starts_the_handshake() {
    // ClientHelloHold is 500 ms by default; the server asks after 200 ms.
    run(Duration::from_millis(200));
}

#[test]
fn init_on_a_clear_connection_before_any_data_and_stop_back_to_clear() {
    let setup = AgentSetup::new("applstop");
    let pki = setup.pki("pki");
    let socket = setup.dir().join("ctl.sock");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let backend = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let Ok((mut s, peer)) = l.accept() else { return };
        let _ = tx.send(peer);
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let agent = setup
        .listener("APP2", backend, "Inbound")
        .policy(&policy::server_rule(
            "app~stop",
            "APP2",
            &pki.server_ring,
            &["ApplicationControlled On"],
            None,
        ))
        .start();
    let mut tcp = TcpStream::connect(agent.addr("APP2")).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    tcp.write_all(b"clear\n").expect("clear write");
    let mut b = [0u8; 6];
    tcp.read_exact(&mut b).expect("clear echo");
    assert_eq!(&b, b"clear\n");
    let peer = rx.recv_timeout(Duration::from_secs(10)).expect("backend connected");
    // RESET_CIPHER before INIT: EPROTO.
    let v = control(&socket, serde_json::json!({"v":1,"op":"reset_cipher","app_peer":peer.to_string()}));
    assert_eq!(v["errno"], "EPROTO", "{v}");
    // STOP on a clear connection: EALREADY.
    let v = control(&socket, serde_json::json!({"v":1,"op":"stop","app_peer":peer.to_string()}));
    assert_eq!(v["errno"], "EALREADY", "{v}");
    // INIT without written; the client starts its handshake once the reply says so.
    let init = std::thread::spawn({
        let socket = socket.clone();
        move || control(&socket, serde_json::json!({"v":1,"op":"init","app_peer":peer.to_string()}))
    });
    let conn =
        ClientConnection::new(client_config(&pki.ca), ServerName::try_from("localhost").expect("name"))
            .expect("client");
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(b"secret\n").expect("tls write");
    let mut b = [0u8; 7];
    tls.read_exact(&mut b).expect("tls echo");
    assert_eq!(&b, b"secret\n");
    assert_eq!(init.join().expect("init thread")["ok"], true);
    // RESET_CIPHER: a TLS 1.3 KeyUpdate; the data keeps flowing under the new keys.
    let v = control(&socket, serde_json::json!({"v":1,"op":"reset_cipher","app_peer":peer.to_string()}));
    assert_eq!(v["ok"], true, "{v}");
    tls.write_all(b"rekeyed\n").expect("write after KeyUpdate");
    let mut b = [0u8; 8];
    tls.read_exact(&mut b).expect("echo after KeyUpdate");
    assert_eq!(&b, b"rekeyed\n");
    let v = control(&socket, serde_json::json!({"v":1,"op":"init","app_peer":peer.to_string()}));
    assert_eq!(v["errno"], "EALREADY", "{v}");
    // STOP: close_notify both ways, then clear again on the same TCP connection.
    let stop = std::thread::spawn({
        let socket = socket.clone();
        move || control(&socket, serde_json::json!({"v":1,"op":"stop","app_peer":peer.to_string()}))
    });
    let mut sink = [0u8; 64];
    let n = tls.read(&mut sink).expect("close_notify arrives as end of TLS data");
    assert_eq!(n, 0);
    tls.conn.send_close_notify();
    tls.flush().expect("send close_notify");
    let v = stop.join().expect("stop thread");
    assert_eq!(v["ok"], true, "{v}");
    let mut tcp = tls.sock;
    tcp.write_all(b"clear again\n").expect("clear write after stop");
    let mut b = [0u8; 12];
    tcp.read_exact(&mut b).expect("clear echo after stop");
    assert_eq!(&b, b"clear again\n");
    assert_eq!(agent.rows()[0][4], "NOT_SECURE");
}
