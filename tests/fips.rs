//! FIPS140 (docs/fips.md) with a real agent and openssl s_client. In the default build `FIPS140 On`
//! is warned and changes nothing; in a build with the `fips` feature (`scripts/build-fips`, which
//! runs this module) a FIPS140 rule negotiates only approved suites and groups, netstat says
//! `FIPSMode: On`, sessions resume with stateful tickets, and a rule left with no approved suite does
//! not load, and `pagent clients --against` names the clients a FIPS140 candidate would lose; a rule
//! without FIPS140 in the same agent keeps ChaCha20 and X25519.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{Backend, s_client};
use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy};
use crate::support::{pagent, stderr, stdout};

/// Rule `NAME` for listener `JOB` with `FIPS140 fips` in its group action and `ciphers` (4-char
/// codes) when given.
fn rule(name: &str, job: &str, fips: &str, ring: &Path, ciphers: Option<&str>) -> String {
    policy::tls_rule(name, job, "Inbound", "", &policy::env("Server", ring, &[], ciphers))
        .replace("  TTLSEnabled On\n", &format!("  TTLSEnabled On\n  FIPS140 {fips}\n"))
}

/// An agent with listener FIPS (rule `fips~on`, FIPS140 On) and PLAIN (rule `fips~off`), both in
/// front of an echo backend.
fn agent(tag: &str) -> (AgentProc, Pki, Backend) {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let text = rule("fips~on", "FIPS", "On", &pki.server_ring, None)
        + &rule("fips~off", "PLAIN", "Off", &pki.server_ring, None);
    let agent = setup
        .listener("FIPS", backend.addr(), "Inbound")
        .listener("PLAIN", backend.addr(), "Inbound")
        .policy(&text)
        .start();
    (agent, pki, backend)
}

/// A connection kept open with openssl s_client ARGS through `listener`, echoing a line: its
/// netstat JSON, the `FIPSMode` word of its detail report and what s_client printed (-brief puts
/// `Ciphersuite:` and `Server Temp Key:` on stderr).
fn live(agent: &AgentProc, listener: &str, ca: &Path, args: &[&str]) -> (Value, String, String) {
    let mut client = s_client(agent.addr(listener), ca, args);
    client.write(b"fips-ping\n");
    let echoed = eventually(Duration::from_secs(10), || {
        String::from_utf8_lossy(&client.stdout()).contains("fips-ping")
    });
    assert!(echoed, "no echo through {listener} with {args:?}: {}", client.stderr());
    let conn = agent.connections().into_iter().find(|c| c["listener"] == listener).expect("listed");
    let detail = agent.detail(conn["conn"].as_str().expect("conn id"));
    let line = detail.lines().find(|l| l.trim_start().starts_with("FIPSMode:"));
    let word = line.unwrap_or_else(|| panic!("no FIPSMode line:\n{detail}")).split_whitespace().last();
    let word = word.expect("a value").to_string();
    client.close_stdin();
    client.wait(Duration::from_secs(10));
    (conn, word, client.stderr())
}

#[cfg(not(feature = "fips"))]
#[test]
fn without_a_fips_build_fips140_on_is_warned_and_chacha20_is_still_negotiated() {
    let version = stdout(&pagent(&["--version"]));
    assert!(!version.contains("FIPS"), "{version}");
    let (agent, pki, _backend) = agent("fips-default");
    let check = pagent(&["check", &agent.dir().join("policy.pol").display().to_string()]);
    let said = format!("{}{}", stdout(&check), stderr(&check));
    assert!(said.contains("FIPS140 On: this build of attls has no FIPS module"), "{said}");
    let ca = pki.ca.as_path();
    let (conn, word, out) = live(&agent, "FIPS", ca, &["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]);
    assert!(out.contains("TLS_CHACHA20_POLY1305_SHA256"), "{out}");
    assert_eq!((word.as_str(), &conn["fips_mode"]), ("Off", &Value::Bool(false)), "{conn}");
}

#[cfg(feature = "fips")]
mod fips_build {
    use super::*;
    use crate::sessions::{Version, s_client_session};
    use std::net::SocketAddr;
    use std::process::{Command, Stdio};

    /// `openssl s_client -brief ARGS` with no input: whether the handshake succeeded, and what it
    /// printed (the `Ciphersuite:` and `Server Temp Key:` lines of -brief are on stderr).
    fn handshake(addr: SocketAddr, ca: &Path, args: &[&str]) -> (bool, String) {
        let out = Command::new("timeout")
            .args(["10", "openssl", "s_client", "-connect", &addr.to_string(), "-brief", "-CAfile"])
            .arg(ca)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl s_client");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        (text.contains("CONNECTION ESTABLISHED"), text)
    }

    #[test]
    fn version_says_fips() {
        let version = stdout(&pagent(&["--version"]));
        assert!(version.contains(" FIPS (crypto: AWS-LC FIPS 140-3 module)"), "{version}");
    }

    #[test]
    fn a_fips140_rule_negotiates_approved_algorithms_only_and_a_plain_rule_keeps_the_others() {
        let (agent, pki, _backend) = agent("fips-build");
        let (fips, ca) = (agent.addr("FIPS"), pki.ca.as_path());

        let (conn, word, out) = live(&agent, "FIPS", ca, &["-tls1_3"]);
        assert!(out.contains("Ciphersuite: TLS_AES_"), "{out}");
        assert!(!out.contains("X25519"), "X25519 is not approved: {out}");
        assert_eq!((word.as_str(), &conn["fips_mode"]), ("On", &Value::Bool(true)), "{conn}");

        for refused in [
            &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"][..],
            &["-tls1_3", "-groups", "X25519"],
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
        ] {
            let (ok, out) = handshake(fips, ca, refused);
            assert!(!ok, "{refused:?} is not FIPS and must fail:\n{out}");
        }
        let (ok, out) = handshake(fips, ca, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
        assert!(ok && out.contains("ECDHE-ECDSA-AES128-GCM-SHA256"), "{out}");

        let chacha = ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "-groups", "X25519"];
        let (conn, word, out) = live(&agent, "PLAIN", ca, &chacha);
        assert!(out.contains("TLS_CHACHA20_POLY1305_SHA256") && out.contains("X25519"), "{out}");
        assert_eq!((word.as_str(), &conn["fips_mode"]), ("Off", &Value::Bool(false)), "{conn}");
    }

    #[test]
    fn a_fips140_rule_resumes_tls13_and_tls12_sessions_without_ticket_keys() {
        let (agent, pki, _backend) = agent("fips-resume");
        let dir = agent.dir().to_path_buf();
        for (v, file) in [(Version::Tls13, "s13.pem"), (Version::Tls12, "s12.pem")] {
            let sess = dir.join(file);
            let addr = agent.addr("FIPS");
            assert_eq!(s_client_session(addr, &pki.ca, v, None, Some(&sess)), "New");
            assert_eq!(s_client_session(addr, &pki.ca, v, Some(&sess), None), "Reused", "{v:?}");
        }
    }

    #[test]
    fn clients_against_a_fips140_candidate_names_the_clients_it_would_lose() {
        let (agent, pki, _backend) = agent("fips-clients");
        let (plain, ca) = (agent.addr("PLAIN"), pki.ca.as_path());
        let chacha = ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "-groups", "X25519"];
        assert!(handshake(plain, ca, &chacha).0, "ChaCha20 + X25519 on the FIPS140 Off rule");
        assert!(handshake(plain, ca, &["-tls1_3", "-groups", "P-256"]).0, "AES-GCM + P-256");
        let candidate = agent.dir().join("candidate.pol");
        std::fs::write(&candidate, rule("fips~off", "PLAIN", "On", &pki.server_ring, None)).unwrap();
        let path = candidate.display().to_string();
        let mut report = Value::Null;
        let judged_both = crate::support::agent::eventually(Duration::from_secs(10), || {
            let out = agent.pagent(&["clients", "--json", "--against", &path]);
            report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            out.status.code() == Some(3)
                && report["rules"][0]["profiles"].as_array().is_some_and(|p| p.len() == 2)
        });
        assert!(judged_both, "two profiles, exit 3:\n{report:#}");
        for p in report["rules"][0]["profiles"].as_array().unwrap() {
            let reasons: Vec<&str> =
                p["reasons"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            if p["groups"] == serde_json::json!(["0029"]) {
                assert_eq!(reasons, ["no common group", "no common cipher suite"], "{p:#}");
            } else {
                assert_eq!((p["verdict"].as_str(), reasons.len()), (Some("OK"), 0), "{p:#}");
            }
        }
    }

    #[test]
    fn a_fips140_rule_with_only_chacha20_does_not_load() {
        let setup = AgentSetup::new("fips-chacha");
        let pki = setup.pki("pki");
        let (path, config) = (setup.dir().join("chacha.pol"), setup.dir().join("pagent.conf"));
        std::fs::write(&path, rule("fips~cc", "CC", "On", &pki.server_ring, Some("1303 CCA9"))).unwrap();
        std::fs::write(&config, format!("TTLSConfig {}\n", path.display())).unwrap();
        let out = pagent(&["check", "-c", &config.display().to_string()]);
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert_ne!(out.status.code(), Some(0), "{said}");
        assert!(said.contains("FIPS140: none of the rule's cipher suites is FIPS-approved"), "{said}");
    }
}
