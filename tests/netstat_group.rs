//! `pagent netstat --group` against a running agent with real clients: each TTLSGroupAction of the
//! running policy with its rules, environment actions and live connections by TLS state (a
//! secure TLS client, a client that never sends its ClientHello, a clear exemption); after a
//! refresh that renames the group, the connections of generation 1 count under their own rule's
//! group, listed `Stale`.

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{Backend, client_config, round_trip, tcp_connect, tls_connect};
use crate::support::agent::{AgentProc, eventually, policy, write_atomic};
use crate::support::stderr;

const WAIT: Duration = Duration::from_secs(10);

/// `web~tls` (group `gOn~web~tls`) for listener WEB, `clear~off` (group `gOff~clear~off`) for
/// listener CLEAR. `suffix` renames the TLS rule and so its actions.
fn policy_text(ring: &Path, suffix: &str) -> String {
    policy::server_rule(&format!("web~tls{suffix}"), "WEB", ring, &["HandshakeTimeout 60"], None)
        + &policy::off_rule("clear~off", "CLEAR")
}

fn group_text(agent: &AgentProc) -> String {
    let out = agent.pagent(&["netstat", "--group"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn group_json(agent: &AgentProc) -> Value {
    let out = agent.pagent(&["netstat", "--group", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("netstat --group --json is JSON")
}

/// The block of group `name` in the text report.
fn block<'t>(text: &'t str, name: &str) -> &'t str {
    let start =
        text.find(&format!("TTLSGrpAction:      {name}\n")).unwrap_or_else(|| panic!("no {name}:\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n\n").map_or(rest.len(), |e| e + 1)]
}

fn conns(v: &Value, group: usize) -> [u64; 4] {
    let c = &v["groups"][group]["conns"];
    ["total", "secure", "handshake", "not_secure"].map(|k| c[k].as_u64().unwrap_or(u64::MAX))
}

#[test]
fn groups_count_live_connections_by_state_and_old_generations_under_their_own_group() {
    let setup = crate::support::agent::AgentSetup::new("netstat-group").main_line("WatchFiles Off");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let agent = setup
        .listener("WEB", backend.addr(), "Inbound")
        .listener("CLEAR", backend.addr(), "Inbound")
        .policy(&policy_text(&pki.server_ring, ""))
        .start();
    let config = client_config(&pki.ca);
    let mut secure = tls_connect(agent.addr("WEB"), &config).expect("TLS through web~tls");
    assert_eq!(round_trip(&mut secure, b"a\n").expect("echo"), b"a\n");
    let _silent: TcpStream = tcp_connect(agent.addr("WEB")); // never sends a ClientHello
    let mut clear = tcp_connect(agent.addr("CLEAR"));
    assert_eq!(round_trip(&mut clear, b"b\n").expect("echo in clear"), b"b\n");
    let states = || {
        let mut s: Vec<String> = agent
            .connections()
            .iter()
            .map(|c| c["conn_status"].as_str().unwrap_or("?").to_string())
            .collect();
        s.sort();
        s
    };
    assert!(eventually(WAIT, || states() == ["HANDSHAKE", "NOT_SECURE", "SECURE"]), "{:?}", states());

    let text = group_text(&agent);
    let tls = block(&text, "gOn~web~tls");
    for line in [
        "  GroupID:          00000001\n",
        "  GroupStatus:      Active\n",
        "  Rules:            web~tls\n",
        "  GroupConns:       2\n  SecureConns:      1\n  HandshakeConns:   1\n  NotSecureConns:   0\n",
        "  TTLSEnvAction:    e~web~tls\n    EnvStatus:        Active\n",
        "    EnvironmentConns: 2\n    SecureConns:      1\n    HandshakeConns:   1\n",
    ] {
        assert!(tls.contains(line), "`{line}` missing:\n{text}");
    }
    let off = block(&text, "gOff~clear~off");
    assert!(
        off.contains(
            "  GroupConns:       1\n  SecureConns:      0\n  HandshakeConns:   0\n  NotSecureConns:   1\n"
        ),
        "{text}"
    );
    assert!(!off.contains("TTLSEnvAction"), "a TTLSEnabled Off group has no environment:\n{text}");
    let v = group_json(&agent);
    assert_eq!(v["generation"], 1);
    let names: Vec<&str> =
        v["groups"].as_array().expect("groups").iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["gOff~clear~off", "gOn~web~tls"], "evaluation order (by name: no Priority)");
    assert_eq!(conns(&v, 1), [2, 1, 1, 0]);
    assert_eq!(v["groups"][1]["environments"][0]["conns"]["secure"], 1);

    // Generation 2 renames the TLS rule and its actions: the live connections keep theirs.
    write_atomic(&agent.dir().join("policy.pol"), &policy_text(&pki.server_ring, "2"));
    assert_eq!(agent.refresh().status.code(), Some(0));
    let v = group_json(&agent);
    let names: Vec<(&str, &str)> = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["name"].as_str().unwrap_or("?"), g["status"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(names, [("gOff~clear~off", "Active"), ("gOn~web~tls2", "Active"), ("gOn~web~tls", "Stale")]);
    assert_eq!(conns(&v, 1), [0, 0, 0, 0], "no connection of generation 2 yet");
    assert_eq!(conns(&v, 2), [2, 1, 1, 0]);
    assert_eq!(
        (v["groups"][2]["group_id"].as_str(), &v["groups"][2]["rules"][0]),
        (Some("00000001"), &Value::from("web~tls"))
    );
    assert_eq!(conns(&v, 0), [1, 0, 0, 1], "the unchanged group keeps its connection");
    assert_eq!(v["groups"][1]["group_id"], "00000002");
    assert_eq!(round_trip(&mut secure, b"c\n").expect("still relaying"), b"c\n");
}

#[test]
fn group_and_conn_are_exclusive_and_an_unreachable_agent_is_an_error() {
    let out =
        crate::support::pagent(&["netstat", "--group", "--conn", "2A", "--socket", "/nonexistent/sock"]);
    assert_eq!(out.status.code(), Some(2), "usage error: {}", stderr(&out));
    let out = crate::support::pagent(&["netstat", "--group", "--socket", "/nonexistent/sock"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach the agent"), "{}", stderr(&out));
}
