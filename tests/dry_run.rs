//! `pagent refresh --dry-run` against a running agent, and `WatchFiles Off`: the dry run reports the
//! rules added, removed and changed (each setting old -> new) and the live connections that would
//! map elsewhere, as text and JSON; it installs nothing (the generation and its number stay); an
//! invalid policy, keyrings included, exits 1 with every error. With `WatchFiles Off` an edited
//! file waits for `pagent refresh`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::agent::peers::{Backend, client_config, round_trip, tls_connect};
use crate::support::agent::{AgentProc, AgentSetup, eventually, policy, write_atomic};
use crate::support::{stderr, stdout};

const WAIT: Duration = Duration::from_secs(10);

/// Version 1: `a~tls` serves listener WEB over TLS (HandshakeTimeout 10); `b~off` exempts a job no
/// listener has.
fn v1(ring: &Path) -> String {
    policy::server_rule("a~tls", "WEB", ring, &["HandshakeTimeout 10"], None)
        + &policy::off_rule("b~off", "NOBODY")
}

/// Version 2: `a~tls` changed, `b~off` removed, `0~clear` added; `0~clear` sorts first (no
/// Priority: by name) and takes WEB's connections.
fn v2(ring: &Path) -> String {
    policy::server_rule("a~tls", "WEB", ring, &["HandshakeTimeout 20"], None)
        + &policy::off_rule("0~clear", "WEB")
}

fn start(tag: &str, policy_text: impl Fn(&Path) -> String) -> (AgentProc, Backend, std::path::PathBuf) {
    let setup = AgentSetup::new(tag).main_line("WatchFiles Off");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let text = policy_text(&pki.server_ring);
    let agent = setup.listener("WEB", backend.addr(), "Inbound").policy(&text).start();
    (agent, backend, pki.ca)
}

/// `pagent refresh --dry-run [--json]`: (exit code, stdout, stderr).
fn dry_run(agent: &AgentProc, json: bool) -> (Option<i32>, String, String) {
    let args: &[&str] = if json { &["refresh", "--dry-run", "--json"] } else { &["refresh", "--dry-run"] };
    let out = agent.pagent(args);
    (out.status.code(), stdout(&out), stderr(&out))
}

fn report(agent: &AgentProc) -> (Option<i32>, Value) {
    let (code, out, err) = dry_run(agent, true);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}\n{err}"));
    (code, v)
}

/// Waits until the agent lists exactly `n` live connections (probes that closed are gone).
fn settle(agent: &AgentProc, n: usize) {
    assert!(eventually(WAIT, || agent.connections().len() == n), "netstat:\n{}", agent.netstat());
}

#[test]
fn dry_run_reports_every_change_and_the_connections_that_would_move_and_installs_nothing() {
    let (agent, _backend, ca) = start("dry-run", v1);
    let mut live = tls_connect(agent.addr("WEB"), &client_config(&ca)).expect("TLS through a~tls");
    assert_eq!(round_trip(&mut live, b"hello\n").expect("echo"), b"hello\n");
    settle(&agent, 1);
    let (code, out, err) = dry_run(&agent, false);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "no changes\nlive connections mapping elsewhere: 0\n"),
        "{err}"
    );

    write_atomic(&agent.dir().join("policy.pol"), &v2(&agent.dir().join("pki/server-ring")));
    let (code, out, err) = dry_run(&agent, false);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "+ 0~clear\n- b~off\n~ a~tls\n    HandshakeTimeout: 10 -> 20\nlive connections mapping elsewhere: 1\n"
    );
    // Warnings go to stderr, as `pagent check` prints them (0~clear and a~tls tie).
    assert!(err.contains("warning: TTLSRules 0~clear, a~tls can match the same connection"), "{err}");
    let (code, mut v) = report(&agent);
    assert_eq!(code, Some(0));
    let warnings = v.as_object_mut().and_then(|o| o.remove("warnings")).expect("warnings");
    let warnings: Vec<&str> =
        warnings.as_array().expect("an array").iter().filter_map(Value::as_str).collect();
    assert!(
        !warnings.is_empty() && warnings.iter().all(|w| w.contains(": warning: ") && err.contains(w)),
        "{warnings:?}"
    );
    let want = json!({
        "valid": true, "errors": [], "generation": 1,
        "added": ["0~clear"], "removed": ["b~off"],
        "changed": [{"rule": "a~tls", "settings": [{"name": "HandshakeTimeout", "old": "10", "new": "20"}]}],
        "remapped": 1,
    });
    assert_eq!(v, want);

    // Nothing was installed, and no generation number was used up.
    assert_eq!(agent.fresh_mapping("WEB"), ("a~tls".to_string(), 1));
    let refreshed = agent.refresh();
    assert!(stderr(&refreshed).contains("policy refreshed: generation 2"), "{}", stderr(&refreshed));
    assert_eq!(agent.fresh_mapping("WEB"), ("0~clear".to_string(), 2));
    assert_eq!(round_trip(&mut live, b"still\n").expect("the live connection stays"), b"still\n");

    // Against the new generation the files hold no change, but the connection of generation 1
    // would still map elsewhere now.
    settle(&agent, 1);
    let (code, out, err) = dry_run(&agent, false);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "no changes\nlive connections mapping elsewhere: 1\n"),
        "{err}"
    );
}

#[test]
fn an_invalid_policy_or_an_unusable_keyring_exits_1_with_every_error_and_installs_nothing() {
    let (agent, _backend, _ca) = start("dry-run-bad", v1);
    let file = agent.dir().join("policy.pol");
    let ring = agent.dir().join("pki/server-ring");
    write_atomic(&file, &(v1(&ring) + "TTLSRule broken\n{\n  Direction Sideways\n  Frobnicate 1\n}\n"));
    let (code, out, err) = dry_run(&agent, false);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(out, "", "nothing on stdout");
    let shown = format!("{}:", file.display());
    assert!(err.matches(&shown).count() >= 2, "every error, rendered with its place:\n{err}");
    assert!(err.contains("policy invalid:"), "{err}");
    let (code, v) = report(&agent);
    assert_eq!((code, &v["valid"], &v["remapped"]), (Some(1), &json!(false), &json!(0)), "{v}");
    let errors: Vec<&str> =
        v["errors"].as_array().expect("errors").iter().filter_map(Value::as_str).collect();
    assert!(
        errors.len() >= 2 && errors.iter().all(|e| e.starts_with(&shown) && e.contains(": error: ")),
        "{v}"
    );
    assert!(errors.iter().all(|e| err.contains(e)), "the JSON errors are the rendered ones:\n{err}\n{v}");

    // A keyring that cannot be opened makes the policy invalid too, as at a refresh.
    write_atomic(&file, &v1(&agent.dir().join("no-such-ring")));
    let (code, _, err) = dry_run(&agent, false);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("this keyring cannot be used"), "{err}");
    assert_eq!(agent.fresh_mapping("WEB"), ("a~tls".to_string(), 1), "nothing installed");
}

#[test]
fn with_watch_files_off_an_edit_waits_for_refresh_and_the_dry_run_shows_it_first() {
    let (agent, _backend, _ca) = start("watch-off", v1);
    assert!(agent.log_text().contains("WatchFiles Off"), "said at startup:\n{}", agent.log_text());
    write_atomic(&agent.dir().join("policy.pol"), &v2(&agent.dir().join("pki/server-ring")));
    // A watcher reloads within a second or so (SETTLE is 200 ms); give it three.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(agent.fresh_mapping("WEB"), ("a~tls".to_string(), 1), "not reloaded by itself");
    settle(&agent, 0);
    let (code, out, err) = dry_run(&agent, false);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("+ 0~clear\n- b~off\n~ a~tls\n"), "{out}");
    assert_eq!(agent.refresh().status.code(), Some(0));
    assert_eq!(agent.fresh_mapping("WEB"), ("0~clear".to_string(), 2));
}
