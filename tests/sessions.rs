//! TLS sessions that outlive a policy generation and honour their lifetimes, with openssl s_client
//! `-sess_out`/`-sess_in` (which prints `New` or `Reused`) on TLS 1.2 and TLS 1.3: a refresh that
//! leaves the environment unchanged keeps its sessions; a changed cipher list or keyring starts
//! fresh; `GSK_V3_SESSION_TIMEOUT` ends resumption; the Client role resumes too; an FTP data
//! connection after the control session expired gets a 522 that says so.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::agent::peers::{Spawned, s_server_rev, tcp_connect};
use crate::support::agent::{AgentProc, AgentSetup, Pki, policy, write_atomic};

/// The protocol versions openssl is told to use.
#[derive(Clone, Copy, Debug)]
pub enum Version {
    Tls12,
    Tls13,
}

impl Version {
    fn flag(self) -> &'static str {
        match self {
            Version::Tls12 => "-tls1_2",
            Version::Tls13 => "-tls1_3",
        }
    }
}

/// One connection with openssl s_client (`-sess_in`/`-sess_out` as given) through an echo
/// backend: sends a line, waits for it to come back (the session and its tickets have arrived by
/// then), closes. Returns `New` or `Reused`.
pub fn s_client_session(
    addr: SocketAddr,
    ca: &Path,
    v: Version,
    sess_in: Option<&Path>,
    sess_out: Option<&Path>,
) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), "-servername", "localhost", v.flag(), "-CAfile"])
        .arg(ca);
    if let Some(p) = sess_in {
        cmd.arg("-sess_in").arg(p);
    }
    if let Some(p) = sess_out {
        cmd.arg("-sess_out").arg(p);
    }
    let mut c = Spawned::spawn(cmd);
    c.write(b"session-ping\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&c.stdout()).contains("session-ping") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    c.close_stdin();
    c.wait(Duration::from_secs(10));
    let out = String::from_utf8_lossy(&c.stdout()).into_owned();
    assert!(out.contains("session-ping"), "no echo through the agent:\n{out}\n{}", c.stderr());
    let kind = out.lines().find_map(|l| l.split(',').next().filter(|w| *w == "New" || *w == "Reused"));
    kind.unwrap_or_else(|| panic!("no New/Reused line:\n{out}")).to_string()
}

/// An inbound server rule for listener TLS1 with keyring `ring`, ciphers and GSK lines.
fn rule(ring: &Path, ciphers: &str, gsk: &[&str]) -> String {
    let mut env = policy::env("Server", ring, &[], Some(ciphers));
    if !gsk.is_empty() {
        env.push_str(&format!("  TTLSGskAdvancedParms\n  {{\n    {}\n  }}\n", gsk.join("\n    ")));
    }
    policy::tls_rule("sess~1", "TLS1", "Inbound", "", &env)
}

/// An unrelated rule (another listener's), to change the policy without touching TLS1's environment.
fn unrelated(pki: &Pki) -> String {
    policy::tls_rule("other~1", "OTHER", "Inbound", "", &policy::env("Server", &pki.server_ring, &[], None))
}

/// Rewrites the policy and refreshes; returns once the agent answered.
fn refresh_with(agent: &AgentProc, text: &str) {
    write_atomic(&agent.dir().join("policy.pol"), text);
    let out = agent.refresh();
    assert!(out.status.success(), "refresh: {}", String::from_utf8_lossy(&out.stderr));
}

/// Ciphers of both versions, in two orders (a different order is a different environment).
const CIPHERS: &str = "13011302C02BC02FC02CC030";
const CIPHERS_REORDERED: &str = "13021301C02CC030C02BC02F";

fn resume_across_refreshes(v: Version) {
    let setup = AgentSetup::new(&format!("sessions-refresh-{v:?}").to_lowercase());
    let pki = setup.pki("pki");
    let backend = crate::support::agent::peers::Backend::echo();
    let agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&rule(&pki.server_ring, CIPHERS, &[]))
        .start();
    let addr = agent.addr("TLS1");
    let sess = agent.dir().join("first.sess");
    let ca = &pki.ca;
    assert_eq!(s_client_session(addr, ca, v, None, Some(&sess)), "New");
    assert_eq!(s_client_session(addr, ca, v, Some(&sess), None), "Reused");

    // Another rule added: this environment is unchanged, its sessions stay.
    refresh_with(&agent, &(rule(&pki.server_ring, CIPHERS, &[]) + &unrelated(&pki)));
    assert_eq!(s_client_session(addr, ca, v, Some(&sess), None), "Reused", "{v:?} after a refresh");

    // The same keyring contents at another path: the same environment.
    let copy = agent.dir().join("ring-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["ca.pem", "server.pem", "server.key"] {
        std::fs::copy(pki.server_ring.join(f), copy.join(f)).unwrap();
    }
    refresh_with(&agent, &rule(&copy, CIPHERS, &[]));
    assert_eq!(s_client_session(addr, ca, v, Some(&sess), None), "Reused", "{v:?} keyring copied");

    // A different cipher order: a different environment, a full handshake.
    refresh_with(&agent, &rule(&pki.server_ring, CIPHERS_REORDERED, &[]));
    assert_eq!(s_client_session(addr, ca, v, Some(&sess), None), "New", "{v:?} ciphers changed");

    // A new keyring (new certificates): full handshakes too.
    let other = Pki::write(agent.dir(), "pki2");
    let second = agent.dir().join("second.sess");
    refresh_with(&agent, &rule(&other.server_ring, CIPHERS_REORDERED, &[]));
    assert_eq!(s_client_session(addr, &other.ca, v, Some(&sess), Some(&second)), "New", "{v:?} new keyring");
    assert_eq!(s_client_session(addr, &other.ca, v, Some(&second), None), "Reused");
}

#[test]
fn tls13_sessions_resume_after_a_refresh_that_keeps_their_environment_and_not_after_one_that_changes_it() {
    resume_across_refreshes(Version::Tls13);
}

#[test]
fn tls12_sessions_resume_after_a_refresh_that_keeps_their_environment_and_not_after_one_that_changes_it() {
    resume_across_refreshes(Version::Tls12);
}

fn session_timeout(v: Version, gsk: &[&str]) {
    let setup = AgentSetup::new(&format!("sessions-timeout-{v:?}-{}", gsk.len()).to_lowercase());
    let pki = setup.pki("pki");
    let backend = crate::support::agent::peers::Backend::echo();
    let agent = setup
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&rule(&pki.server_ring, CIPHERS, gsk))
        .start();
    let (addr, ca) = (agent.addr("TLS1"), &pki.ca);
    let sess = agent.dir().join("s.sess");
    let born = Instant::now();
    assert_eq!(s_client_session(addr, ca, v, None, Some(&sess)), "New");
    std::thread::sleep(Duration::from_secs(1).saturating_sub(born.elapsed()));
    assert_eq!(s_client_session(addr, ca, v, Some(&sess), None), "Reused", "{v:?} {gsk:?} at 1 s");
    std::thread::sleep(Duration::from_secs(7).saturating_sub(born.elapsed()));
    assert_eq!(s_client_session(addr, ca, v, Some(&sess), None), "New", "{v:?} {gsk:?} at 7 s");
}

#[test]
fn a_session_timeout_of_4_s_resumes_at_1_s_and_not_at_7_s() {
    // With tickets (the default), and for TLS 1.2 by session ID alone (TLS 1.3 resumes by ticket only).
    const TICKETS: &[&str] = &["GSK_V3_SESSION_TIMEOUT 4"];
    const IDS: &[&str] = &["GSK_V3_SESSION_TIMEOUT 4", "GSK_SESSION_TICKET_SERVER_ENABLE Off"];
    let runs: Vec<_> = [(Version::Tls12, TICKETS), (Version::Tls13, TICKETS), (Version::Tls12, IDS)]
        .into_iter()
        .map(|(v, gsk)| std::thread::spawn(move || session_timeout(v, gsk)))
        .collect();
    for r in runs {
        r.join().expect("a timeout run failed");
    }
}

#[test]
fn a_ticket_timeout_of_3_s_ends_ticket_resumption() {
    session_timeout(Version::Tls13, &["GSK_SESSION_TICKET_SERVER_TIMEOUT 3"]);
}

/// A rustls client limited to `v` that trusts `ca`, with its own session store.
fn rustls_client(ca: &Path, v: Version) -> std::sync::Arc<rustls::ClientConfig> {
    let roots = attls::keyring::load(ca, None).and_then(|k| k.root_store()).expect("client trust");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let version = match v {
        Version::Tls12 => &rustls::version::TLS12,
        Version::Tls13 => &rustls::version::TLS13,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(config)
}

/// One round trip with the rustls client; whether its handshake resumed.
fn rustls_round_trip(addr: SocketAddr, config: &std::sync::Arc<rustls::ClientConfig>) -> bool {
    use crate::support::agent::peers::{round_trip, tls_connect};
    let mut s = tls_connect(addr, config).expect("handshake");
    assert_eq!(round_trip(&mut s, b"ticket please\n").expect("echo"), b"ticket please\n");
    s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
}

#[test]
fn a_rustls_client_resumes_after_a_refresh_on_both_versions() {
    let setup = AgentSetup::new("sessions-rustls");
    let pki = setup.pki("pki");
    let backend = crate::support::agent::peers::Backend::echo();
    let text = rule(&pki.server_ring, CIPHERS, &[]);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&text).start();
    let addr = agent.addr("TLS1");
    let clients = [rustls_client(&pki.ca, Version::Tls12), rustls_client(&pki.ca, Version::Tls13)];
    for c in &clients {
        assert!(!rustls_round_trip(addr, c), "the first handshake resumed");
        assert!(rustls_round_trip(addr, c), "the second handshake did not resume");
    }
    refresh_with(&agent, &(text + &unrelated(&pki)));
    for (c, v) in clients.iter().zip(["TLS 1.2", "TLS 1.3"]) {
        assert!(rustls_round_trip(addr, c), "{v}: no resumption after the refresh");
    }
}

/// `openssl s_server -rev` limited to `v`.
fn s_server(pki: &Pki, v: Version) -> (Spawned, u16) {
    match v {
        Version::Tls13 => s_server_rev(&pki.server_pem, &pki.server_key),
        Version::Tls12 => {
            crate::support::agent::peers::s_server_rev_with(&pki.server_pem, &pki.server_key, &["-tls1_2"])
        }
    }
}

/// The Client role: each plain connection through the agent is a TLS client connection to
/// s_server; after the first, they resume, across a refresh too.
fn client_role_resumes(v: Version) {
    let setup = AgentSetup::new(&format!("sessions-client-{v:?}").to_lowercase());
    let pki = setup.pki("pki");
    let (_server, port) = s_server(&pki, v);
    let advanced: &[&str] = match v {
        Version::Tls12 => &["TLSv1.3 Off"],
        Version::Tls13 => &[],
    };
    let env = policy::env("Client", &pki.ca_ring, advanced, None);
    let text = policy::tls_rule("out~rev", "OUT1", "Outbound", &format!("  RemotePortRange {port}"), &env);
    let agent = setup.listener("OUT1", format!("localhost:{port}"), "Outbound").policy(&text).start();
    let resumed = |what: &str| -> bool {
        use std::io::{BufRead, BufReader, Write};
        let mut s = tcp_connect(agent.addr("OUT1"));
        s.write_all(b"abc\n").expect("send");
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).expect("read");
        assert_eq!(line, "cba\n", "{what}");
        let c = agent.wait_conn(format!("127.0.0.1:{port}").parse().expect("addr"));
        assert_eq!(c["conn_status"], "SECURE", "{c}");
        let r = c["tls_resumed"].as_bool().unwrap_or_else(|| panic!("no tls_resumed: {c}"));
        drop(s);
        assert!(crate::support::agent::eventually(Duration::from_secs(5), || agent.connections().is_empty()));
        r
    };
    assert!(!resumed("first"), "{v:?}: the first connection resumed");
    assert!(resumed("second"), "{v:?}: the second connection did not resume");
    refresh_with(&agent, &(text.clone() + &unrelated(&pki)));
    assert!(resumed("after refresh"), "{v:?}: no resumption after a refresh");
}

#[test]
fn the_client_role_resumes_its_sessions_across_a_refresh() {
    client_role_resumes(Version::Tls13);
    client_role_resumes(Version::Tls12);
}

/// FTP `SessionReuse Required` within the session lifetime, then a transfer after it: 522, saying
/// the control connection's session expired.
#[test]
fn an_ftp_transfer_after_the_session_lifetime_gets_a_522_that_says_it_expired() {
    use crate::ftp_abort::ftplib_run;
    use crate::ftp_integrity::{Tls, ftps_agent};
    use crate::support::ftp::{FtpServer, Vsftpd};
    let server = Vsftpd::start();
    server.random_file("f.bin", 100_000);
    for tls in [Tls::V13, Tls::V12Only] {
        let tag = format!("sessions-ftp-expiry-{tls:?}").to_lowercase();
        let (agent, pki) = ftps_agent(&tag, &server, tls, &[], &["GSK_V3_SESSION_TIMEOUT 3"]);
        let (got1, got2) = (agent.dir().join("1.bin"), agent.dir().join("2.bin"));
        let (got1, got2) = (got1.display().to_string(), got2.display().to_string());
        let ops = ["retr", "f.bin", &got1, "sleep", "5", "retr", "f.bin", &got2];
        let run = ftplib_run(&agent, &server, &pki, &["--reuse-session"], &ops);
        assert!(run.stdout.contains("retr: 226"), "{tls:?}: the first transfer failed:\n{run}");
        assert!(
            run.stdout.contains("522 TLS session reuse required, but the control connection's TLS session has expired (GSK_V3_SESSION_TIMEOUT 3 s"),
            "{tls:?}:\n{run}"
        );
    }
}
