//! The control socket's per-connection `query` (z/OS SIOCTTLSCTL QUERY_ONLY) through `pagent ctl`:
//! by ConnID and by the application's own view of its connection (`app_peer`, its getpeername()).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::s_client;
use crate::support::agent::{AgentSetup, eventually, policy};

const WAIT: Duration = Duration::from_secs(10);

/// A one-connection echo backend that reports the address of the agent's side (the application's
/// getpeername()).
fn app_backend() -> (SocketAddr, mpsc::Receiver<SocketAddr>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = l.local_addr().expect("backend addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut s, peer)) = l.accept() {
            let _ = tx.send(peer);
            let mut buf = [0u8; 1024];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    (addr, rx)
}

fn ctl_json(agent: &crate::support::agent::AgentProc, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["ctl"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = agent.pagent(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

#[test]
fn query_by_conn_id_and_by_app_peer_describes_the_secure_connection() {
    let setup = AgentSetup::new("query");
    let pki = setup.pki("pki");
    let (backend, app_peer) = app_backend();
    let rule = "query~tls";
    let agent = setup
        .listener("Q1", backend, "Inbound")
        .policy(&policy::server_rule(rule, "Q1", &pki.server_ring, &[], Some("1301")))
        .start();
    let mut client = s_client(agent.addr("Q1"), &pki.ca, &[]);
    client.write(b"ping\n");
    assert!(eventually(WAIT, || client.stdout().ends_with(b"ping\n")), "no echo: {}", client.stderr());
    let app_peer = app_peer.recv_timeout(WAIT).expect("the backend saw the connection");
    let rows = agent.rows();
    assert_eq!(rows.len(), 1);
    let (id, remote) = (rows[0][0].clone(), rows[0][3].clone());

    let (code, q) = ctl_json(&agent, &["--conn", id.trim_start_matches('0'), "query"]);
    assert_eq!(code, Some(0), "{q}");
    assert_eq!(q["v"], 1);
    assert_eq!(q["ok"], true);
    assert_eq!(q["conn"], id.as_str());
    assert_eq!(q["policy_status"], "ENABLED");
    assert_eq!(q["conn_status"], "SECURE");
    assert_eq!(q["protocol"], "TLSv1.3");
    assert_eq!(q["cipher"], "1301 TLS_AES_128_GCM_SHA256");
    assert_eq!(q["rule"], rule);
    assert_eq!(q["map_type"], "Primary");
    assert_eq!(q["primary_conn"], Value::Null);
    // The client's real address (netstat prints it as addr..port).
    assert_eq!(q["client_addr"].as_str().map(|a| a.replace(':', "..")), Some(remote));
    assert_eq!(q["peer_subject"], Value::Null, "no client certificate was asked for");

    let (code, by_peer) = ctl_json(&agent, &["--app-peer", &app_peer.to_string(), "query"]);
    assert_eq!(code, Some(0), "{by_peer}");
    assert_eq!(by_peer["conn"], id.as_str(), "the application finds its connection from its own socket");

    // Text output: one `key: value` line per field.
    let out = agent.pagent(&["ctl", "--conn", &id, "query"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "conn_status: SECURE"), "{text}");
}

#[test]
fn query_errors_use_z_os_errno_names() {
    let setup = AgentSetup::new("queryerr");
    let pki = setup.pki("pki");
    let (backend, _) = app_backend();
    let agent = setup
        .listener("Q2", backend, "Inbound")
        .policy(&policy::server_rule("q~2", "Q2", &pki.server_ring, &[], None))
        .start();
    let (code, v) = ctl_json(&agent, &["--conn", "7777", "query"]);
    assert_eq!(
        (code, v["ok"].clone(), v["errno"].clone()),
        (Some(1), Value::Bool(false), Value::from("ENOTCONN")),
        "{v}"
    );
    let (code, v) = ctl_json(&agent, &["--app-peer", "not-an-address", "query"]);
    assert_eq!((code, v["errno"].clone()), (Some(1), Value::from("EINVAL")), "{v}");
    // An ENABLED (not application-controlled) connection: INIT is refused with EACCES, as on z/OS.
    let mut client = s_client(agent.addr("Q2"), &pki.ca, &[]);
    client.write(b"x\n");
    assert!(eventually(WAIT, || client.stdout().ends_with(b"x\n")), "no echo: {}", client.stderr());
    let id = agent.rows()[0][0].clone();
    let (code, v) = ctl_json(&agent, &["--conn", &id, "init"]);
    assert_eq!((code, v["errno"].clone()), (Some(1), Value::from("EACCES")), "{v}");
    let (code, v) = ctl_json(&agent, &["--conn", &id, "cert"]);
    assert_eq!(
        (code, v["ok"].clone(), v["peer_cert_der_b64"].clone()),
        (Some(0), Value::Bool(true), Value::Null),
        "{v}"
    );
}

#[test]
fn oversized_malformed_and_silent_requests_never_disturb_other_clients() {
    use std::io::BufRead;
    use std::os::unix::net::UnixStream;
    let setup = AgentSetup::new("ctlabuse");
    let (backend, _) = app_backend();
    let agent =
        setup.listener("Q3", backend, "Inbound").policy(&policy::off_rule("nomatch~1", "NOMATCH")).start();
    // A client that connects and says nothing holds no one up.
    let _silent = UnixStream::connect(agent.socket()).expect("connect");
    let ask = |line: &[u8]| -> Value {
        let mut s = UnixStream::connect(agent.socket()).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        // The agent may stop reading an oversized line early; what it answers is what counts.
        let _ = s.write_all(line);
        let mut reply = String::new();
        std::io::BufReader::new(s).read_line(&mut reply).expect("reply");
        serde_json::from_str(&reply).expect("JSON reply")
    };
    let mut huge = vec![b'x'; 200 * 1024];
    huge.push(b'\n');
    let v = ask(&huge);
    assert_eq!(v["errno"], "EINVAL", "{v}");
    assert!(v["message"].as_str().is_some_and(|m| m.contains("longer than")), "{v}");
    let v = ask(b"{\"v\":1,\"op\":\n");
    assert_eq!(v["errno"], "EINVAL", "{v}");
    let v = ask(b"{\"v\":2,\"op\":\"netstat\"}\n");
    assert_eq!(v["errno"], "EINVAL", "{v}");
    let v = ask(b"{\"v\":1,\"op\":\"fly\"}\n");
    assert_eq!(v["ok"], false, "{v}");
    // The agent still serves everyone else.
    let (code, v) = ctl_json(&agent, &["--conn", "1", "query"]);
    assert_eq!((code, v["errno"].clone()), (Some(1), Value::from("ENOTCONN")), "{v}");
    assert_eq!(agent.pagent(&["netstat"]).status.code(), Some(0));
}
