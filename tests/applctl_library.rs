//! The application's side of application control, through the library module applications link
//! (`attls::control::client::AppControl`): INIT after the send queue drained (a 1 MiB burst written
//! just before it arrives intact and in clear), QUERY in each state, STOP after `written`,
//! ALLOW_HSTIMEOUT, and a requester running under another uid refused with EPERM.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use attls::control::client::AppControl;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

use crate::support::agent::peers::client_config;
use crate::support::agent::{AgentProc, AgentSetup, policy};

const WAIT: Duration = Duration::from_secs(15);

/// An agent with one application-controlled listener in front of a backend the test plays itself.
fn agent_for(tag: &str, advanced: &[&str]) -> (AgentProc, TcpListener, std::path::PathBuf) {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let app = TcpListener::bind("127.0.0.1:0").expect("bind app");
    let mut parms = vec!["ApplicationControlled On"];
    parms.extend_from_slice(advanced);
    let agent = setup
        .listener("APPL", app.local_addr().expect("addr"), "Inbound")
        .policy(&policy::server_rule("appl~lib", "APPL", &pki.server_ring, &parms, None))
        .start();
    let ca = pki.ca.clone();
    (agent, app, ca)
}

fn tls_client(tcp: TcpStream, ca: &Path) -> StreamOwned<ClientConnection, TcpStream> {
    let conn = ClientConnection::new(client_config(ca), ServerName::try_from("localhost").expect("name"))
        .expect("client");
    StreamOwned::new(conn, tcp)
}

fn connect(agent: &AgentProc) -> TcpStream {
    let tcp = TcpStream::connect(agent.addr("APPL")).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    tcp
}

fn accept(app: &TcpListener) -> TcpStream {
    let (s, _) = app.accept().expect("agent reaches the application");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

fn read_n<R: Read>(r: &mut R, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v).expect("read");
    v
}

#[test]
fn a_megabyte_written_just_before_init_arrives_intact_and_in_clear() {
    let (agent, app, ca) = agent_for("applburst", &[]);
    let burst: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let expected = burst.clone();
    let client = {
        let mut tcp = connect(&agent);
        std::thread::spawn(move || {
            let clear = read_n(&mut tcp, expected.len() + 3);
            let mut tls = tls_client(tcp, &ca);
            let secret = read_n(&mut tls, 10);
            (clear, secret, tls.conn.protocol_version())
        })
    };
    let mut s = accept(&app);
    s.write_all(&burst).expect("burst");
    s.write_all(b"GO\n").expect("go ahead");
    // No `written`: the library waits for the send queue to drain (SIOCOUTQ 0), then asks.
    let reply = AppControl::new(agent.socket()).init(&s).expect("INIT");
    assert_eq!(reply["conn_status"], "SECURE", "{reply}");
    s.write_all(b"tls hello\n").expect("write after INIT");
    let (clear, secret, version) = client.join().expect("client");
    assert!(clear[..burst.len()] == burst[..], "the burst arrived altered");
    assert_eq!(&clear[burst.len()..], b"GO\n");
    assert_eq!(secret, b"tls hello\n");
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[test]
fn query_in_each_state_stop_after_written_and_another_uid_refused() {
    let (agent, app, ca) = agent_for("applstates", &[]);
    let lib = AppControl::new(agent.socket());
    let client = {
        let mut tcp = connect(&agent);
        std::thread::spawn(move || {
            assert_eq!(read_n(&mut tcp, 6), b"ready\n");
            let mut tls = tls_client(tcp, &ca);
            tls.write_all(b"ping\n").expect("ping");
            assert_eq!(read_n(&mut tls, 5), b"pong\n");
            assert_eq!(read_n(&mut tls, 6), b"last1\n", "bytes before STOP's `written` stay protected");
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).expect("close_notify ends the TLS data");
            assert!(rest.is_empty(), "{rest:?}");
            tls.conn.send_close_notify();
            tls.flush().expect("close_notify back");
            let mut tcp = tls.sock;
            assert_eq!(read_n(&mut tcp, 12), b"clear again\n");
            tcp.write_all(b"done\n").expect("done");
        })
    };
    let mut s = accept(&app);
    let q = lib.query(&s).expect("query");
    assert_eq!(
        (q["policy_status"].as_str(), q["conn_status"].as_str()),
        (Some("APPLCNTRL"), Some("NOT_SECURE"))
    );
    assert_eq!(q["rule"], "appl~lib");
    s.write_all(b"ready\n").expect("ready");
    let reply = lib.init_after(&s, 6).expect("INIT after 6 bytes");
    assert_eq!(reply["conn_status"], "SECURE", "{reply}");
    let q = lib.query(&s).expect("query");
    assert_eq!((q["conn_status"].as_str(), q["protocol"].as_str()), (Some("SECURE"), Some("TLSv1.3")));
    refused_for_another_uid(agent.socket(), &s);
    ctl_ops_on_a_secure_connection(&agent, &s);
    assert_eq!(read_n(&mut s, 5), b"ping\n");
    s.write_all(b"pong\n").expect("pong");
    // STOP after 6 more bytes: asked before they are written, applied exactly after them.
    let stop = {
        let (lib, s2) = (lib.clone(), s.try_clone().expect("clone"));
        std::thread::spawn(move || lib.stop_after(&s2, 6 + 5 + 6))
    };
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"last1\n").expect("last protected bytes");
    let reply = stop.join().expect("stop thread").expect("STOP");
    assert_eq!(reply["conn_status"], "NOT_SECURE", "{reply}");
    let q = lib.query(&s).expect("query");
    assert_eq!((q["conn_status"].as_str(), &q["protocol"]), (Some("NOT_SECURE"), &Value::Null));
    let e = lib.stop(&s).expect_err("STOP when clear");
    assert_eq!(e.errno, "EALREADY", "{e}");
    s.write_all(b"clear again\n").expect("clear again");
    assert_eq!(read_n(&mut s, 5), b"done\n");
    client.join().expect("client");
    // The client has gone; the application's end is still open: answered at once, EPIPE.
    let e = lib.stop(&s).expect_err("STOP after the client closed");
    assert_eq!(e.errno, "EPIPE", "{e}");
}

/// A control request from a process running as `nobody`: the connection belongs to root's
/// application, so the agent answers EPERM (SO_PEERCRED). Needs root to switch uid.
fn refused_for_another_uid(socket: &Path, app: &TcpStream) {
    if !is_root() {
        eprintln!("skipping the other-uid check: it needs root to run a process as nobody");
        return;
    }
    let peer = app.peer_addr().expect("peer");
    let request = format!(r#"{{"v":1,"op":"query","app_peer":"{peer}"}}"#);
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n\
                  s.sendall(sys.argv[2].encode()+b'\\n')\nprint(s.makefile().readline())";
    // gid root: the test's ControlGroup, so the socket's 0660 lets the process connect at all.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=0", "--clear-groups", "/usr/bin/python3", "-c", script])
        .arg(socket)
        .arg(&request)
        .output()
        .expect("run setpriv");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["errno"], "EPERM", "{v}");
}

/// `pagent ctl` with the issue's op names (options before or after the op): new keys work; the ops
/// rustls has no equivalent for answer EOPNOTSUPP with the reason, exit 1.
fn ctl_ops_on_a_secure_connection(agent: &AgentProc, app: &TcpStream) {
    let peer = app.peer_addr().expect("peer").to_string();
    let out = agent.pagent(&["ctl", "reset-write-cipher", "--app-peer", &peer]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for op in ["reset-session", "send-session-ticket"] {
        let out = agent.pagent(&["ctl", "--app-peer", &peer, op]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{op}: {err}");
        assert!(err.contains("EOPNOTSUPP"), "{op}: {err}");
    }
    let out = agent.pagent(&["ctl", "--app-peer", &peer, "cert", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], true, "{v}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn allow_hstimeout_stays_clear_without_a_client_hello_and_secures_with_one() {
    let (agent, app, ca) = agent_for("applhst", &["HandshakeTimeout 1"]);
    let lib = AppControl::new(agent.socket());
    // A client that never starts TLS: the connection stays up in clear after the timer.
    let mut quiet = connect(&agent);
    let mut s = accept(&app);
    let reply = lib.init_allow_hstimeout(&s).expect("INIT with ALLOW_HSTIMEOUT");
    assert_eq!(reply["conn_status"], "NOT_SECURE", "{reply}");
    assert!(reply["message"].as_str().is_some_and(|m| m.contains("no ClientHello")), "{reply}");
    s.write_all(b"still clear\n").expect("write");
    assert_eq!(read_n(&mut quiet, 12), b"still clear\n");
    quiet.write_all(b"fine\n").expect("write");
    assert_eq!(read_n(&mut s, 5), b"fine\n");
    // A client that does start TLS within the timer gets it.
    let client = {
        let tcp = connect(&agent);
        std::thread::spawn(move || {
            let mut tls = tls_client(tcp, &ca);
            tls.write_all(b"hi\n").expect("write over TLS");
            read_n(&mut tls, 4)
        })
    };
    let mut s = accept(&app);
    let reply = lib.init_allow_hstimeout(&s).expect("INIT with ALLOW_HSTIMEOUT");
    assert_eq!(reply["conn_status"], "SECURE", "{reply}");
    assert_eq!(read_n(&mut s, 3), b"hi\n");
    s.write_all(b"yes\n").expect("write");
    assert_eq!(client.join().expect("client"), b"yes\n");
}
