//! `pagent clients` (docs/clients.md): a real agent, real clients with different ClientHellos
//! (openssl s_client with TLS 1.2 only, TLS 1.3 with one group, a server name, a client
//! certificate; curl), then the inventory as a user reads it, checked against candidate policies;
//! and the bounds, with what they dropped counted.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{Backend, Spawned};
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy, write_atomic};

const WAIT: Duration = Duration::from_secs(10);

/// `openssl s_client -connect ADDR -CAfile CA -brief ARGS` with its input closed at once: it
/// handshakes (or fails to) and exits.
fn openssl(addr: SocketAddr, ca: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), "-brief", "-CAfile"]).arg(ca).args(args);
    let mut client = Spawned::spawn(cmd);
    client.close_stdin();
    client.wait(WAIT);
}

/// `pagent clients ARGS --json`: exit status and report.
fn clients(agent: &AgentProc, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["clients", "--json"];
    all.extend_from_slice(args);
    let out = agent.pagent(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{all:?}: not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// Every profile of the report, with its rule.
fn profiles(report: &Value) -> Vec<Value> {
    let rules = report["rules"].as_array().cloned().unwrap_or_default();
    rules.iter().flat_map(|r| r["profiles"].as_array().cloned().unwrap_or_default()).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// The profile whose JSON satisfies `pick` (exactly one).
fn the(report: &Value, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let found: Vec<Value> = profiles(report).into_iter().filter(|p| pick(p)).collect();
    assert_eq!(found.len(), 1, "{what}: {} profiles match in\n{report:#}", found.len());
    found[0].clone()
}

/// A candidate policy: rule `inv~srv` for listener INV with `env` lines in its environment action.
fn candidate(
    agent: &AgentProc,
    name: &str,
    pki: &Pki,
    role: &str,
    advanced: &[&str],
    ciphers: Option<&str>,
) -> String {
    let text = policy::tls_rule(
        "inv~srv",
        "INV",
        "Inbound",
        "",
        &policy::env(role, &pki.server_ring, advanced, ciphers),
    );
    let path = agent.dir().join(name);
    write_atomic(&path, &text);
    path.display().to_string()
}

/// The rule's profiles with their verdicts against `file`: exit status and (profile, verdict).
fn against(agent: &AgentProc, file: &str) -> (Option<i32>, Value) {
    clients(agent, &["--against", file])
}

/// A TLS 1.2-only client (no supported_versions) that offers `suite`.
fn tls12_only_with(p: &Value, suite: &str) -> bool {
    p["versions"].is_null() && strings(&p["cipher_suites"]).contains(&suite.to_string())
}

fn reasons(p: &Value) -> Vec<String> {
    strings(&p["reasons"])
}

/// An agent that collected: listener INV, rule `inv~srv` with TLS 1.2 and 1.3, every suite, and a
/// client certificate asked for but not required (PassThru); the clients below have connected.
struct Collected {
    agent: AgentProc,
    pki: Pki,
    report: Value,
    _backend: Backend,
}

/// Starts the agent and runs the clients: openssl TLS 1.2 only with an ECDSA suite (and, with
/// `rsa_client`, one with only an RSA suite, which the test PKI's ECDSA key fails), TLS 1.3 with
/// X25519 alone, twice with a server name, once with a client certificate, and curl.
fn collect(tag: &str, rsa_client: bool) -> Collected {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let backend = Backend::http("hello\n");
    let env = policy::env("ServerWithClientAuth", &pki.server_ring, &["ClientAuthType PassThru"], None);
    let agent = setup
        .listener("INV", backend.addr(), "Inbound")
        .policy(&policy::tls_rule("inv~srv", "INV", "Inbound", "", &env))
        .start();
    let (addr, ca) = (agent.addr("INV"), pki.ca.as_path());
    let (cert, key) = (pki.client_pem.to_str().expect("utf-8"), pki.client_key.to_str().expect("utf-8"));
    openssl(addr, ca, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
    if rsa_client {
        openssl(addr, ca, &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]);
    }
    openssl(addr, ca, &["-tls1_3", "-groups", "X25519"]);
    openssl(addr, ca, &["-servername", "localhost"]);
    openssl(addr, ca, &["-servername", "localhost"]);
    openssl(addr, ca, &["-servername", "localhost", "-cert", cert, "-key", key]);
    let port = addr.port();
    let curl = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--resolve", &format!("localhost:{port}:127.0.0.1"), "--cacert"])
        .arg(ca)
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("run curl");
    assert!(curl.status.success(), "curl: {}", String::from_utf8_lossy(&curl.stderr));
    let want = if rsa_client { 7 } else { 6 };
    let mut report = Value::Null;
    let all_seen = eventually(WAIT, || {
        report = clients(&agent, &[]).1;
        profiles(&report).iter().map(|p| p["connections"].as_u64().unwrap_or(0)).sum::<u64>() == want
    });
    assert!(all_seen, "{want} connections in the inventory:\n{report:#}");
    Collected { agent, pki, report, _backend: backend }
}

#[test]
fn each_clients_profile_is_listed_with_its_counts() {
    let Collected { agent, report, .. } = collect("clients-list", true);
    assert_eq!(report["rules"][0]["rule"], "inv~srv");
    assert_eq!(profiles(&report).len(), 6, "the two identical clients share a profile:\n{report:#}");
    let tls12 = the(&report, "TLS 1.2 ECDSA", |p| tls12_only_with(p, "C02B"));
    assert_eq!(
        (tls12["version"].as_str(), tls12["legacy_version"].as_str()),
        (Some("TLSv1.2"), Some("TLSv1.2"))
    );
    let suites = strings(&tls12["cipher_suites"]);
    assert!(!suites.iter().any(|c| c.starts_with("13")), "no TLS 1.3 suite: {tls12:#}");
    assert_eq!((tls12["sni"].is_null(), tls12["certificate"].as_str()), (true, Some("not sent")));
    let rsa = the(&report, "TLS 1.2 RSA", |p| tls12_only_with(p, "C02F"));
    assert_eq!(rsa["certificate"], "unknown", "its handshake failed before any certificate");
    let x25519 = the(&report, "TLS 1.3 X25519", |p| strings(&p["groups"]) == ["0029"]);
    assert_eq!(
        (strings(&x25519["versions"]), x25519["version"].as_str()),
        (vec!["TLSv1.3".into()], Some("TLSv1.3"))
    );
    let named = the(&report, "SNI, no certificate", |p| {
        p["sni"] == "localhost" && p["certificate"] == "not sent" && p["alpn"].is_null()
    });
    assert_eq!((named["connections"].as_u64(), named["example_ip"].as_str()), (Some(2), Some("127.0.0.1")));
    assert!(named["first_seen"].as_str() <= named["last_seen"].as_str());
    assert!(strings(&named["versions"]).contains(&"TLSv1.2".into()), "{named:#}");
    the(&report, "client certificate", |p| p["sni"] == "localhost" && p["certificate"] == "sent");
    let curl = the(&report, "curl", |p| strings(&p["alpn"]).contains(&"http/1.1".into()));
    assert_eq!(curl["sni"], "localhost");

    let text = agent.pagent(&["clients"]);
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with("Rule ") && text.contains("inv~srv"), "{text}");
    assert!(text.contains("rule inv~srv: 6 profiles (limit 64), 7 connections, 0 dropped"), "{text}");
    assert_eq!(clients(&agent, &["--rule", "other"]).1["rules"], serde_json::json!([]));
    assert_eq!(clients(&agent, &["--rule", "inv~srv"]).1["rules"][0]["connections"], 7);
}

#[test]
fn a_tls13_only_candidate_names_the_tls12_only_clients() {
    let Collected { agent, pki, .. } = collect("clients-only13", false);
    let advanced = ["TLSv1.2 Off", "ClientAuthType PassThru"];
    let only13 = candidate(&agent, "only13.pol", &pki, "ServerWithClientAuth", &advanced, None);
    let (code, judged) = against(&agent, &only13);
    assert_eq!((code, judged["failing"].as_u64()), (Some(3), Some(1)), "some would fail: {judged:#}");
    for p in profiles(&judged) {
        let tls12_only = p["versions"].is_null();
        let want: Vec<String> = if tls12_only { vec!["no common protocol version".into()] } else { vec![] };
        let verdict = if tls12_only { "FAIL" } else { "OK" };
        assert_eq!((reasons(&p), p["verdict"].as_str()), (want, Some(verdict)), "{p:#}");
    }
    let text = String::from_utf8_lossy(&agent.pagent(&["clients", "--against", &only13]).stdout).into_owned();
    assert!(text.contains("FAIL: no common protocol version"), "{text}");
    assert!(text.contains("against ") && text.contains(": 1 of 5 profiles would fail"), "{text}");
}

#[test]
fn suite_and_group_restrictions_name_the_clients_they_lose() {
    let Collected { agent, pki, .. } = collect("clients-suites", true);
    let suites = candidate(&agent, "suites.pol", &pki, "Server", &[], Some("1302C02C"));
    let judged = against(&agent, &suites).1;
    let ecdsa12 = the(&judged, "TLS 1.2 ECDSA", |p| tls12_only_with(p, "C02B"));
    assert_eq!(reasons(&ecdsa12), ["no common cipher suite"]);
    assert_eq!(reasons(&the(&judged, "curl", |p| !p["alpn"].is_null())), Vec::<String>::new());
    let groups = candidate(&agent, "groups.pol", &pki, "Server", &[], None);
    let text = std::fs::read_to_string(&groups).expect("read").replace(
        "  HandshakeRole Server\n",
        "  HandshakeRole Server\n  TTLSSignatureParms\n  {\n    ServerKeyShareGroups 0023\n  }\n",
    );
    std::fs::write(&groups, text).expect("write");
    let judged = against(&agent, &groups).1;
    let x25519 = the(&judged, "X25519 only", |p| strings(&p["groups"]) == ["0029"]);
    assert_eq!(reasons(&x25519), ["no common group"]);
    assert_eq!(judged["failing"], 2, "X25519 only, and the ECDHE_RSA client: {judged:#}");
    // The ECDHE_RSA client fails against the very settings it failed with: the server key is ECDSA.
    let same =
        candidate(&agent, "same.pol", &pki, "ServerWithClientAuth", &["ClientAuthType PassThru"], None);
    let judged = against(&agent, &same).1;
    assert_eq!(judged["failing"], 1, "{judged:#}");
    assert_eq!(reasons(&the(&judged, "RSA", |p| tls12_only_with(p, "C02F"))), ["no common cipher suite"]);
}

#[test]
fn required_client_certificates_name_the_clients_without_one() {
    let Collected { agent, pki, .. } = collect("clients-required", false);
    let required =
        candidate(&agent, "required.pol", &pki, "ServerWithClientAuth", &["ClientAuthType Required"], None);
    let (code, judged) = against(&agent, &required);
    assert_eq!((code, judged["failing"].as_u64()), (Some(3), Some(4)), "{judged:#}");
    for p in profiles(&judged) {
        let r = reasons(&p);
        assert_eq!(r.contains(&"no certificate".to_string()), p["certificate"] != "sent", "{p:#}");
    }
    let text =
        String::from_utf8_lossy(&agent.pagent(&["clients", "--against", &required]).stdout).into_owned();
    assert!(text.contains("FAIL: no certificate") && text.contains(" OK"), "{text}");
    // A candidate without the rule; then one every client seen passes.
    let renamed = candidate(&agent, "renamed.pol", &pki, "Server", &[], None);
    let text = std::fs::read_to_string(&renamed).expect("read").replace("inv~srv", "inv~new");
    std::fs::write(&renamed, text).expect("write");
    let (code, judged) = against(&agent, &renamed);
    assert_eq!(code, Some(3));
    assert_eq!(reasons(&profiles(&judged)[0]), ["no rule inv~srv in the candidate"]);
    let open = candidate(&agent, "open.pol", &pki, "Server", &["TLSv1.2 On", "TLSv1.3 On"], None);
    let (code, judged) = against(&agent, &open);
    assert_eq!((code, judged["failing"].as_u64()), (Some(0), Some(0)), "{judged:#}");
    assert!(profiles(&judged).iter().all(|p| p["verdict"] == "OK"), "{judged:#}");
    // An invalid candidate is an error, not a verdict.
    std::fs::write(&open, "TTLSRule broken {").expect("write");
    let out = agent.pagent(&["clients", "--against", &open]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_bounds_keep_the_first_profiles_and_count_the_rest() {
    let setup = AgentSetup::new("clients-bounds");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let mut text = String::new();
    for name in ["B1", "B2", "B3"] {
        text.push_str(&policy::server_rule(&format!("bound~{name}"), name, &pki.server_ring, &[], None));
    }
    let agent = setup
        .main_line("ClientInventory 4 2")
        .listener("B1", backend.addr(), "Inbound")
        .listener("B2", backend.addr(), "Inbound")
        .listener("B3", backend.addr(), "Inbound")
        .policy(&text)
        .start();
    let ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-SHA",
    ];
    for c in ciphers {
        openssl(agent.addr("B1"), &pki.ca, &["-tls1_2", "-cipher", c]);
    }
    // Plain text to a TLS listener: no ClientHello to read.
    let mut plain = std::net::TcpStream::connect(agent.addr("B2")).expect("connect");
    std::io::Write::write_all(&mut plain, b"GET / HTTP/1.0\r\n\r\n").expect("write");
    let _ = std::io::Read::read(&mut plain, &mut [0u8; 16]);
    openssl(agent.addr("B3"), &pki.ca, &[]);

    let mut report = Value::Null;
    let counted = eventually(WAIT, || {
        report = clients(&agent, &[]).1;
        let b1 = &report["rules"][0];
        b1["profiles_dropped"] == 3 && report["rules"][1]["unparsed"] == 1 && report["rules_dropped"] == 1
    });
    assert!(counted, "4 profiles kept, 3 dropped, one unparsed, one rule dropped:\n{report:#}");
    assert_eq!(report["limits"], serde_json::json!({"profiles_per_rule": 4, "rules": 2}));
    let names: Vec<&str> =
        report["rules"].as_array().expect("rules").iter().filter_map(|r| r["rule"].as_str()).collect();
    assert_eq!(names, ["bound~B1", "bound~B2"]);
    let kept: Vec<Vec<String>> = report["rules"][0]["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|p| strings(&p["cipher_suites"]))
        .collect();
    assert_eq!(kept.len(), 4);
    for (i, suite) in ["C02B", "C02C", "CCA9", "C02F"].iter().enumerate() {
        assert!(kept[i].contains(&suite.to_string()), "profile {i} is the {suite} client: {kept:?}");
    }
    let text = agent.pagent(&["clients"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("rule bound~B1: 4 profiles (limit 4), 4 connections, 3 dropped"), "{text}");
    assert!(text.contains("1 connections of rules past the limit of 2 rules were not recorded"), "{text}");
}

#[test]
fn an_inventory_that_is_off_reads_nothing_and_says_so() {
    let setup = AgentSetup::new("clients-off");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let agent = setup
        .main_line("ClientInventory Off")
        .listener("OFF1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("off~srv", "OFF1", &pki.server_ring, &[], None))
        .start();
    let mut client = crate::support::agent::peers::s_client(agent.addr("OFF1"), &pki.ca, &[]);
    client.write(b"ping\n");
    assert!(eventually(WAIT, || client.stdout().ends_with(b"ping\n")), "echo: {}", client.stderr());
    let (code, report) = clients(&agent, &[]);
    assert_eq!(
        (code, report["enabled"].as_bool(), report["rules"].as_array().map(Vec::len)),
        (Some(0), Some(false), Some(0))
    );
    let text = agent.pagent(&["clients"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("ClientInventory Off"));
}
