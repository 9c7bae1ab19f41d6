//! `MetricsListen`: a real agent serves Prometheus metrics over HTTP. Real clients (rustls, openssl
//! s_client with session resumption, a clear-text client on a TLS port) and `pagent refresh` (one
//! that installs, one that fails) move the figures; scrapes check names, labels and values, and
//! `promtool check metrics` checks the exposition. A MetricsListen that cannot bind stops the start.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sessions::{Version, s_client_session};
use crate::support::agent::peers::{
    Backend, Spawned, client_config, read_until_closed, round_trip, tcp_connect, tls_connect,
};
use crate::support::agent::{AgentProc, AgentSetup, Pki, TempDir, eventually, policy, write_atomic};
use crate::support::openssl_ca::Ca;

/// Every family's name, as the Prometheus text format types it (a family with no series yet, such
/// as handshake failures before the first, is left out of a scrape).
const FAMILIES: [&str; 9] = [
    "attls_connections_total",
    "attls_connections_active",
    "attls_handshake_failures_total",
    "attls_bytes_total",
    "attls_resumed_handshakes_total",
    "attls_policy_generation",
    "attls_refresh_total",
    "attls_certificate_expiry_seconds",
    "attls_ended_records_dropped_total",
];

/// The families a scrape types, sorted; asserts none is typed twice.
fn typed_families(text: &str) -> Vec<&str> {
    let typed: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    let mut names = typed.clone();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), typed.len(), "a family typed twice:\n{text}");
    names
}

/// One HTTP exchange: the status code, the head and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    s.write_all(request.as_bytes()).expect("send the request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {answer:?}"));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (code, head.to_string(), body.to_string())
}

/// `GET /metrics` as curl sends it: the Prometheus text format.
fn scrape(addr: SocketAddr) -> String {
    let (code, head, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: agent\r\nAccept: */*\r\n\r\n");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    body
}

/// One sample line: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The sample lines of an exposition (label values unescaped).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample `{line}`"));
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("bad value in `{line}`: {e}"));
        let (name, rest) = series.split_once('{').unwrap_or((series, ""));
        let mut labels = BTreeMap::new();
        let mut chars = rest.trim_end_matches('}').chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "label value of `{key}` in `{line}`");
            let mut val = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => val.push('\n'),
                        Some(other) => val.push(other),
                        None => break,
                    },
                    '"' => break,
                    c => val.push(c),
                }
            }
            labels.insert(key.trim_start_matches(',').to_string(), val);
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        out.push(Sample { name: name.to_string(), labels, value });
    }
    out
}

/// The value of the series `name` with exactly `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    samples(text).into_iter().find(|s| s.name == name && s.labels == want).map(|s| s.value)
}

/// Scrapes until the series has `want` (10 s at most); returns the last scrape.
fn wait_for(addr: SocketAddr, name: &str, labels: &[(&str, &str)], want: f64) -> String {
    let mut text = String::new();
    let seen = eventually(Duration::from_secs(10), || {
        text = scrape(addr);
        value(&text, name, labels) == Some(want)
    });
    assert!(seen, "{name}{labels:?} never became {want}:\n{text}");
    text
}

/// `promtool check metrics` on a scrape (Debian's `prometheus` package; scripts/test installs it).
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool: {e} (scripts/test installs the prometheus package)"));
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ran");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");
}

/// The notAfter of the first certificate of a PEM file, in Unix seconds.
fn not_after(pem_file: &std::path::Path) -> f64 {
    let bytes = std::fs::read(pem_file).unwrap_or_else(|e| panic!("{}: {e}", pem_file.display()));
    let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes).expect("a PEM certificate");
    let cert = pem.parse_x509().expect("an X.509 certificate");
    cert.validity().not_after.timestamp() as f64
}

/// A running agent with metrics: listener TLS1 (rule `met~1`, the test PKI's server certificate),
/// SOON1 (rule `soon~1`, a certificate `openssl ca` issued for 2 days) and CLEAR1 (`clear~1`,
/// TTLSEnabled Off), all to one echo backend.
struct Scene {
    agent: AgentProc,
    pki: Pki,
    /// The SOON1 keyring directory and its leaf.
    soon_ring: PathBuf,
    soon_pem: PathBuf,
    policy: String,
    _backend: Backend,
}

fn scene(tag: &str) -> Scene {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let ca = Ca::new(setup.dir().join("ca2"), "Metrics Test CA");
    let (pem, key) = ca.issue("soon");
    let soon_ring = setup.dir().join("soon-ring");
    std::fs::create_dir_all(&soon_ring).expect("ring directory");
    for (from, to) in [(ca.dir.join("ca.pem"), "ca.pem"), (pem, "soon.pem"), (key, "soon.key")] {
        std::fs::copy(&from, soon_ring.join(to)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    let backend = Backend::echo();
    let policy = policy::server_rule("met~1", "TLS1", &pki.server_ring, &[], None)
        + &policy::server_rule("soon~1", "SOON1", &soon_ring, &[], None)
        + &policy::off_rule("clear~1", "CLEAR1");
    let agent = setup
        .main_line("MetricsListen 127.0.0.1:0")
        .listener("TLS1", backend.addr(), "Inbound")
        .listener("SOON1", backend.addr(), "Inbound")
        .listener("CLEAR1", backend.addr(), "Inbound")
        .policy(&policy)
        .start();
    let soon_pem = soon_ring.join("soon.pem");
    Scene { agent, pki, soon_ring, soon_pem, policy, _backend: backend }
}

#[test]
fn connections_bytes_handshake_failures_and_resumption_are_counted() {
    let Scene { agent, pki, _backend, .. } = scene("metrics-conns");
    let m = agent.addr("metrics");
    let first = scrape(m);
    assert_eq!(value(&first, "attls_connections_active", &[("listener", "TLS1")]), Some(0.0), "{first}");
    assert_eq!(value(&first, "attls_bytes_total", &[("direction", "in")]), Some(0.0), "{first}");

    // A live TLS connection: active, and its bytes counted before it ends.
    let mut tls = tls_connect(agent.addr("TLS1"), &client_config(&pki.ca)).expect("handshake");
    assert_eq!(round_trip(&mut tls, &[7u8; 1000]).expect("echo"), vec![7u8; 1000]);
    let live = wait_for(m, "attls_connections_active", &[("listener", "TLS1")], 1.0);
    assert_eq!(value(&live, "attls_bytes_total", &[("direction", "in")]), Some(1000.0), "{live}");
    assert_eq!(value(&live, "attls_bytes_total", &[("direction", "out")]), Some(1000.0), "{live}");
    drop(tls);
    let secure = [("listener", "TLS1"), ("rule", "met~1"), ("status", "SECURE")];
    let ended = wait_for(m, "attls_connections_total", &secure, 1.0);
    assert_eq!(value(&ended, "attls_connections_active", &[("listener", "TLS1")]), Some(0.0));
    assert_eq!(value(&ended, "attls_bytes_total", &[("direction", "in")]), Some(1000.0), "{ended}");

    // A new TLS 1.3 session, then one that resumes it (openssl s_client says `Reused`).
    let sess = agent.dir().join("s.sess");
    let tls1 = agent.addr("TLS1");
    assert_eq!(s_client_session(tls1, &pki.ca, Version::Tls13, None, Some(&sess)), "New");
    assert_eq!(s_client_session(tls1, &pki.ca, Version::Tls13, Some(&sess), None), "Reused");
    let resumed = wait_for(m, "attls_connections_total", &secure, 3.0);
    assert_eq!(value(&resumed, "attls_resumed_handshakes_total", &[]), Some(1.0), "{resumed}");

    // A clear-text client on the TLS port: reset, return code 5003 (not TLS).
    let mut clear = tcp_connect(tls1);
    clear.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send clear text");
    let _ = read_until_closed(&mut clear);
    let failed = wait_for(m, "attls_handshake_failures_total", &[("rc", "5003")], 1.0);
    let not_secure = [("listener", "TLS1"), ("rule", "met~1"), ("status", "NOT_SECURE")];
    assert_eq!(value(&failed, "attls_connections_total", &not_secure), Some(1.0), "{failed}");

    // A clear relay under a TTLSEnabled Off rule.
    let mut plain = tcp_connect(agent.addr("CLEAR1"));
    assert_eq!(round_trip(&mut plain, &[1u8; 100]).expect("clear echo"), vec![1u8; 100]);
    drop(plain);
    let off = [("listener", "CLEAR1"), ("rule", "clear~1"), ("status", "NOT_SECURE")];
    let last = wait_for(m, "attls_connections_total", &off, 1.0);
    // 1000, two s_client pings ("session-ping\n") and 100; the clear-text request reached no backend.
    assert_eq!(value(&last, "attls_bytes_total", &[("direction", "out")]), Some(1126.0), "{last}");
    assert_eq!(value(&last, "attls_bytes_total", &[("direction", "in")]), Some(1126.0), "{last}");
    assert_eq!(value(&last, "attls_ended_records_dropped_total", &[]), Some(0.0), "{last}");
    let series = samples(&last).into_iter().filter(|s| s.name == "attls_connections_total").count();
    assert_eq!(series, 3, "SECURE and NOT_SECURE of TLS1, NOT_SECURE of CLEAR1:\n{last}");
    promtool_check(&last);
    let mut every = FAMILIES.to_vec();
    every.sort_unstable();
    assert_eq!(typed_families(&last), every, "{last}");
}

#[test]
fn generation_refreshes_and_certificate_expiry_follow_the_policy() {
    let Scene { agent, pki, soon_ring, soon_pem, policy, _backend } = scene("metrics-policy");
    let m = agent.addr("metrics");
    let ring = pki.server_ring.display().to_string();
    let server = [("keyring", ring.as_str()), ("label", "server")];
    let soon_ring = soon_ring.display().to_string();
    let soon = [("keyring", soon_ring.as_str()), ("label", "soon")];

    let first = scrape(m);
    assert_eq!(value(&first, "attls_policy_generation", &[]), Some(1.0), "{first}");
    assert_eq!(value(&first, "attls_refresh_total", &[("result", "success")]), Some(0.0), "{first}");
    assert_eq!(value(&first, "attls_refresh_total", &[("result", "failure")]), Some(0.0), "{first}");
    assert_eq!(value(&first, "attls_certificate_expiry_seconds", &server), Some(not_after(&pki.server_pem)));
    let soon_at = value(&first, "attls_certificate_expiry_seconds", &soon);
    assert_eq!(soon_at, Some(not_after(&soon_pem)), "{first}");
    // The documented alert (`attls_certificate_expiry_seconds - time() < 30*86400`) fires for it.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64();
    let left = soon_at.unwrap_or_default() - now;
    assert!(left > 0.0 && left < 3.0 * 86_400.0, "issued for 2 days: {left} s left");
    for listener in ["TLS1", "SOON1", "CLEAR1"] {
        assert_eq!(value(&first, "attls_connections_active", &[("listener", listener)]), Some(0.0));
    }

    // A refresh that installs generation 2 without SOON1's rule, then one that fails.
    let without_soon = policy::server_rule("met~1", "TLS1", &pki.server_ring, &[], None)
        + &policy::off_rule("clear~1", "CLEAR1");
    assert!(without_soon.len() < policy.len());
    write_atomic(&agent.dir().join("policy.pol"), &without_soon);
    assert_eq!(agent.refresh().status.code(), Some(0));
    let refreshed = wait_for(m, "attls_refresh_total", &[("result", "success")], 1.0);
    assert_eq!(value(&refreshed, "attls_policy_generation", &[]), Some(2.0), "{refreshed}");
    let expiry = value(&refreshed, "attls_certificate_expiry_seconds", &server);
    assert_eq!(expiry, Some(not_after(&pki.server_pem)), "{refreshed}");
    assert_eq!(value(&refreshed, "attls_certificate_expiry_seconds", &soon), None, "no rule uses it now");
    let broken = without_soon + "TTLSRule broken\n{\n  Priority x\n}\n";
    write_atomic(&agent.dir().join("policy.pol"), &broken);
    assert_eq!(agent.refresh().status.code(), Some(1));
    let last = wait_for(m, "attls_refresh_total", &[("result", "failure")], 1.0);
    assert_eq!(value(&last, "attls_refresh_total", &[("result", "success")]), Some(1.0), "{last}");
    assert_eq!(value(&last, "attls_policy_generation", &[]), Some(2.0), "{last}");
    assert_eq!(value(&last, "attls_certificate_expiry_seconds", &server), expiry, "{last}");
    promtool_check(&last);
    let typed = typed_families(&last);
    assert!(typed.iter().all(|n| FAMILIES.contains(n)), "a family outside the contract:\n{last}");

    // Prometheus asks for OpenMetrics first and gets it.
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (code, head, body) =
        http(m, &format!("GET /metrics HTTP/1.1\r\nHost: agent\r\nAccept: {accept}\r\n\r\n"));
    assert_eq!(code, 200);
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(body.contains("# TYPE attls_refresh counter\n") && body.ends_with("# EOF\n"), "{body}");
    assert_eq!(value(&body, "attls_refresh_total", &[("result", "failure")]), Some(1.0), "{body}");

    // Only GET and HEAD of /metrics.
    assert_eq!(http(m, "GET / HTTP/1.1\r\n\r\n").0, 404);
    assert_eq!(http(m, "GET /metrics/x HTTP/1.1\r\n\r\n").0, 404);
    assert_eq!(http(m, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0, 405);
    let (code, _, body) = http(m, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((code, body.as_str()), (200, ""));
}

#[test]
fn a_metrics_address_that_cannot_be_bound_stops_the_start() {
    let dir = TempDir::new("metrics-bind");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = taken.local_addr().expect("addr").port();
    let pki = Pki::write(dir.path(), "pki");
    let pol = dir.path().join("policy.pol");
    write_atomic(&pol, &policy::server_rule("r", "TLS1", &pki.server_ring, &[], None));
    let conf = dir.path().join("pagent.conf");
    write_atomic(
        &conf,
        &format!(
            "TTLSConfig policy.pol\nControlSocket {}\nMetricsListen 127.0.0.1:{port}\n\
             Listener TLS1\n{{\n  Listen 127.0.0.1:0\n  Backend 127.0.0.1:9\n  Direction Inbound\n}}\n",
            dir.path().join("ctl.sock").display()
        ),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagent"));
    cmd.args(["start", "-c"]).arg(&conf).env("NO_COLOR", "1");
    let mut agent = Spawned::spawn(cmd);
    let status = agent.wait(Duration::from_secs(20));
    let (out, err) = (String::from_utf8_lossy(&agent.stdout()).into_owned(), agent.stderr());
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(err.contains(&format!("MetricsListen 127.0.0.1:{port}: ")), "{err}");
    assert!(err.contains("agent not started"), "{err}");
    assert!(!out.contains("listening"), "nothing was served: {out}");
    assert!(!dir.path().join("ctl.sock").exists(), "no control socket was left");
    drop(taken);
}
