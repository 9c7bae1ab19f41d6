//! Whether the peer's certificate was validated, as the control socket's `query` and
//! `return_certificate` and `pagent netstat --conn ID --detail` (text and JSON) report it:
//! `ClientAuthType PassThru` accepts a client certificate unvalidated (false), Required validates it
//! (true), a server certificate checked in the Client role is validated (true), no certificate: null.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{Backend, Spawned, s_client, s_server_rev, tcp_connect};
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy};

const WAIT: Duration = Duration::from_secs(10);

fn json_of(agent: &AgentProc, args: &[&str]) -> Value {
    let out = agent.pagent(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

/// What each report says of connection `id`: query, return_certificate, netstat detail JSON, and
/// the detail text's `PeerValidated` line (None when absent).
fn reports(agent: &AgentProc, id: &str) -> [Value; 4] {
    let query = json_of(agent, &["ctl", "--conn", id, "query", "--json"]);
    let cert = json_of(agent, &["ctl", "--conn", id, "cert", "--json"]);
    let detail = json_of(agent, &["netstat", "--conn", id, "--detail", "--json"]);
    let text = agent.detail(id);
    let line =
        text.lines().find_map(|l| l.trim().strip_prefix("PeerValidated:")).map(|v| v.trim().to_string());
    [
        query["peer_validated"].clone(),
        cert["peer_validated"].clone(),
        detail["peer_validated"].clone(),
        json_of_line(line),
    ]
}

fn json_of_line(line: Option<String>) -> Value {
    line.map_or(Value::Null, Value::from)
}

/// A live client-authentication connection: the agent, its ConnID and detail text, and the peers
/// (kept alive while the reports are taken).
struct Live {
    agent: AgentProc,
    id: String,
    detail: String,
    _client: Spawned,
    _backend: Backend,
}

/// An agent whose listener MTLS asks for client certificates under `auth`; a client with the
/// harness's client certificate (or none) connects and its echo is awaited.
fn client_auth_connection(tag: &str, auth: &str, with_cert: bool) -> Live {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let env =
        policy::env("ServerWithClientAuth", &pki.server_ring, &[&format!("ClientAuthType {auth}")], None);
    let agent = setup
        .listener("MTLS", backend.addr(), "Inbound")
        .policy(&policy::tls_rule(&format!("mtls~{auth}"), "MTLS", "Inbound", "", &env))
        .start();
    let (cert, key) = (pki.client_pem.to_str().expect("utf-8"), pki.client_key.to_str().expect("utf-8"));
    let extra: Vec<&str> = if with_cert { vec!["-cert", cert, "-key", key] } else { Vec::new() };
    let mut client = s_client(agent.addr("MTLS"), &pki.ca, &extra);
    client.write(b"ping\n");
    assert!(
        eventually(WAIT, || client.stdout().ends_with(b"ping\n")),
        "no echo ({auth}): {}",
        client.stderr()
    );
    let id = agent.rows()[0][0].clone();
    let detail = agent.detail(&id);
    Live { agent, id, detail, _client: client, _backend: backend }
}

#[test]
fn passthru_reports_an_unvalidated_client_certificate() {
    let live = client_auth_connection("pv-passthru", "PassThru", true);
    assert!(live.detail.contains("CN=client1"), "the certificate was received:\n{}", live.detail);
    let [query, cert, json, text] = reports(&live.agent, &live.id);
    assert_eq!(query, Value::Bool(false), "query");
    assert_eq!(cert, Value::Bool(false), "return_certificate");
    assert_eq!(json, Value::Bool(false), "netstat --detail --json");
    assert_eq!(text, Value::from("No"), "netstat --detail");
}

#[test]
fn required_reports_a_validated_client_certificate() {
    let live = client_auth_connection("pv-required", "Required", true);
    let [query, cert, json, text] = reports(&live.agent, &live.id);
    assert_eq!(query, Value::Bool(true), "query");
    assert_eq!(cert, Value::Bool(true), "return_certificate");
    assert_eq!(json, Value::Bool(true), "netstat --detail --json");
    assert_eq!(text, Value::from("Yes"), "netstat --detail");
}

#[test]
fn no_peer_certificate_reports_null_and_no_line() {
    let live = client_auth_connection("pv-none", "Full", false);
    let [query, cert, json, text] = reports(&live.agent, &live.id);
    assert_eq!([query, cert, json, text], [Value::Null, Value::Null, Value::Null, Value::Null]);
}

#[test]
fn the_client_role_reports_the_verified_server_certificate() {
    let setup = AgentSetup::new("pv-client");
    let pki: Pki = setup.pki("pki");
    let (server, port) = s_server_rev(&pki.server_pem, &pki.server_key);
    let env = policy::env("Client", &pki.ca_ring, &[], None);
    let rule = policy::tls_rule("out~rev", "OUT1", "Outbound", &format!("  RemotePortRange {port}"), &env);
    let agent = setup.listener("OUT1", format!("localhost:{port}"), "Outbound").policy(&rule).start();
    let mut s = tcp_connect(agent.addr("OUT1"));
    s.write_all(b"hello\n").expect("send");
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).expect("read the reply");
    assert_eq!(line, "olleh\n", "s_server: {}", String::from_utf8_lossy(&server.stdout()));
    let c = agent.wait_conn(format!("127.0.0.1:{port}").parse().expect("addr"));
    let id = c["conn"].as_str().expect("conn").to_string();
    let [query, cert, json, text] = reports(&agent, &id);
    assert_eq!(
        [query, cert, json, text],
        [Value::Bool(true), Value::Bool(true), Value::Bool(true), Value::from("Yes")]
    );
}
