//! Policy refresh with real traffic: `pagent refresh`, a bad policy, file watching (rename on save,
//! symlink swaps) and SIGHUP. A refresh never drops a live connection, which keeps the generation
//! it was mapped with (D9); new connections get the new policy; a bad policy installs nothing.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use crate::support::agent::peers::{
    Backend, client_config, random_bytes, round_trip, suite_code, tcp_connect, tls_connect,
};
use crate::support::agent::{AgentProc, AgentSetup, eventually, policy, write_atomic};

const WAIT: Duration = Duration::from_secs(10);

/// True when a plain TCP client gets its bytes echoed through `addr` (the listener relays in
/// clear); false when the agent closes the connection instead.
fn relays_in_clear(addr: SocketAddr) -> bool {
    let mut s = tcp_connect(addr);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    round_trip(&mut s, b"ping\n").is_ok_and(|back| back == b"ping\n")
}

#[test]
fn refresh_under_traffic_keeps_every_connection_and_new_ones_get_the_new_policy() {
    const CONNS: usize = 100;
    let setup = AgentSetup::new("refresh-traffic");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let version = |ciphers: &str, timeout: &str| {
        policy::server_rule("busy~1", "TLS1", &pki.server_ring, &[timeout], Some(ciphers))
    };
    let (v1, v2) = (version("1301", "HandshakeTimeout 10"), version("1302", "HandshakeTimeout 11"));
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&v1).start();
    let addr = agent.addr("TLS1");
    let config = client_config(&pki.ca);

    let ready = Arc::new(Barrier::new(CONNS + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let rounds: Arc<Vec<AtomicU64>> = Arc::new((0..CONNS).map(|_| AtomicU64::new(0)).collect());
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CONNS)
        .map(|i| {
            let (config, ready, stop, rounds, failures) =
                (config.clone(), ready.clone(), stop.clone(), rounds.clone(), failures.clone());
            std::thread::spawn(move || -> Option<String> {
                let conn = tls_connect(addr, &config);
                ready.wait();
                let mut s = match conn {
                    Ok(s) => s,
                    Err(e) => {
                        failures.lock().expect("lock").push(format!("conn {i}: handshake: {e}"));
                        return None;
                    }
                };
                let suite = suite_code(&s);
                let data = random_bytes(4096, i as u64 + 1);
                while !stop.load(Ordering::SeqCst) {
                    match round_trip(&mut s, &data) {
                        Ok(back) if back == data => {
                            rounds[i].fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(_) => {
                            failures.lock().expect("lock").push(format!("conn {i}: bytes changed"));
                            return None;
                        }
                        Err(e) => {
                            failures.lock().expect("lock").push(format!("conn {i}: dropped: {e}"));
                            return None;
                        }
                    }
                }
                s.conn.send_close_notify();
                let _ = s.flush();
                Some(suite)
            })
        })
        .collect();
    ready.wait();
    let stop_and_join = || {
        stop.store(true, Ordering::SeqCst);
        clients.into_iter().map(|t| t.join().expect("client thread")).collect::<Vec<_>>()
    };
    assert!(failures.lock().expect("lock").is_empty(), "{:?}", failures.lock().expect("lock"));
    // The client may finish its handshake before the agent does: wait until all are SECURE.
    let mut listed = Vec::new();
    let secure = eventually(WAIT, || {
        listed = agent.connections();
        listed.len() == CONNS && listed.iter().all(|c| c["conn_status"] == "SECURE")
    });
    assert!(secure, "netstat does not list {CONNS} secure connections: {listed:?}");
    assert!(listed.iter().all(|c| c["cipher_code"] == "1301" && c["generation"] == 1), "{listed:?}");

    let total = || rounds.iter().map(|r| r.load(Ordering::SeqCst)).sum::<u64>();
    let before_refreshes = total();
    let mut last_generation = 1;
    for k in 0..20 {
        write_atomic(&agent.dir().join("policy.pol"), if k % 2 == 1 { &v2 } else { &v1 });
        let out = agent.refresh();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "refresh {k}: {err}");
        let generation: u64 = err
            .trim()
            .strip_prefix("policy refreshed: generation ")
            .and_then(|g| g.parse().ok())
            .unwrap_or_else(|| panic!("refresh {k}: {err}"));
        assert!(generation > last_generation, "refresh {k}: generation {generation} after {last_generation}");
        last_generation = generation;
    }

    assert!(total() > before_refreshes, "no traffic flowed while the refreshes ran");

    // Every connection keeps working after the last refresh, on its first generation (D9).
    let after: Vec<u64> = rounds.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    let moved = eventually(Duration::from_secs(20), || {
        rounds.iter().zip(&after).all(|(r, a)| r.load(Ordering::SeqCst) > *a)
            || !failures.lock().expect("lock").is_empty()
    });
    let listed = agent.connections();
    let suites = stop_and_join();
    let failures = failures.lock().expect("lock").clone();
    assert!(failures.is_empty(), "{} failures: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(moved, "some connections stopped moving after the refreshes");
    assert!(suites.iter().all(|s| s.as_deref() == Some("1301")), "{suites:?}");
    assert_eq!(listed.len(), CONNS);
    assert!(listed.iter().all(|c| c["generation"] == 1), "a live connection was re-mapped");

    // A new connection gets the policy of the last refresh.
    let mut fresh = tls_connect(addr, &config).expect("handshake after the refreshes");
    assert_eq!(suite_code(&fresh), "1302");
    assert_eq!(round_trip(&mut fresh, b"new\n").expect("echo"), b"new\n");
    assert_eq!(backend.accepted(), CONNS + 1);
}

#[test]
fn bad_refresh_reports_d11_errors_and_keeps_the_old_policy() {
    let setup = AgentSetup::new("refresh-bad");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let good = policy::server_rule("good~1", "TLS1", &pki.server_ring, &[], None);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&good).start();
    let config = client_config(&pki.ca);

    let bad = good.clone()
        + &policy::tls_rule(
            "bad~1",
            "TLS1",
            "Inbound",
            "  LocalPortRange 70000",
            &policy::env("Server", &pki.server_ring, &[], None),
        );
    let (line, text) =
        bad.lines().enumerate().find(|(_, l)| l.contains("70000")).expect("the bad line is there");
    let col = text.find("70000").expect("column") + 1;
    let file = agent.dir().join("policy.pol");
    write_atomic(&file, &bad);
    let out = agent.refresh();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = format!("{}:{}:{col}: error: port 70000 is out of range 0-65535", file.display(), line + 1);
    assert!(err.lines().any(|l| l == want), "no `{want}` in:\n{err}");

    // The old policy stays: new connections handshake and map to the good rule, first generation.
    let mut s = tls_connect(agent.addr("TLS1"), &config).expect("handshake with the old policy");
    assert_eq!(round_trip(&mut s, b"still here\n").expect("echo"), b"still here\n");
    let c = agent.wait_conn(s.sock.local_addr().expect("local"));
    assert_eq!(c["rule"], "good~1", "{c}");
    assert_eq!(c["generation"], 1, "{c}");
}

/// A listener TLS1 whose rule is TLS-enabled in v1 and `TTLSEnabled Off` in v2.
fn watch_versions(ring: &Path) -> (String, String) {
    (policy::server_rule("watch~on", "TLS1", ring, &[], None), policy::off_rule("watch~off", "TLS1"))
}

/// `wait_for_watcher` on TLS1, checking the policy still maps to v1's rule.
fn wait_for_watcher(agent: &AgentProc, poke: impl FnMut()) -> u64 {
    let generation = agent.wait_for_watcher("TLS1", poke);
    assert_eq!(agent.fresh_mapping("TLS1").0, "watch~on");
    generation
}

/// Waits for the agent to switch from v1 to v2 on its own (file watching): new connections relay in
/// clear and map to `watch~off` with a generation after `since`.
fn assert_switches_to_v2(agent: &AgentProc, since: u64) {
    let addr = agent.addr("TLS1");
    assert!(
        eventually(WAIT, || relays_in_clear(addr)),
        "the agent did not pick up the changed policy file:\n{}",
        agent.log_text()
    );
    let (rule, generation) = agent.fresh_mapping("TLS1");
    assert_eq!(rule, "watch~off");
    assert!(generation > since, "generation {generation}, not after {since}");
}

#[test]
fn file_watch_picks_up_a_policy_saved_by_rename() {
    let setup = AgentSetup::new("watch-rename");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, v2) = watch_versions(&pki.server_ring);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&v1).start();
    assert!(!relays_in_clear(agent.addr("TLS1")), "v1 requires TLS");
    let file = agent.dir().join("policy.pol");
    let since = wait_for_watcher(&agent, || write_atomic(&file, &v1));
    write_atomic(&file, &v2);
    assert_switches_to_v2(&agent, since);
}

#[test]
fn file_watch_picks_up_a_symlink_swap() {
    let setup = AgentSetup::new("watch-symlink");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, v2) = watch_versions(&pki.server_ring);
    let dir = setup.dir().to_path_buf();
    write_atomic(&dir.join("v1/policy.pol"), &v1);
    write_atomic(&dir.join("v2/policy.pol"), &v2);
    std::os::unix::fs::symlink("v1/policy.pol", dir.join("policy.pol")).expect("symlink");
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy_file("policy.pol").start();
    assert!(!relays_in_clear(agent.addr("TLS1")), "v1 requires TLS");

    // `ln -sfn` done atomically: a new link beside the old one, renamed over it.
    let swap = |target: &str| {
        std::os::unix::fs::symlink(target, dir.join("policy.pol.new")).expect("symlink");
        std::fs::rename(dir.join("policy.pol.new"), dir.join("policy.pol")).expect("swap");
    };
    let since = wait_for_watcher(&agent, || swap("v1/policy.pol"));
    swap("v2/policy.pol");
    assert_switches_to_v2(&agent, since);
}

#[test]
fn file_watch_picks_up_a_kubernetes_style_data_swap() {
    let setup = AgentSetup::new("watch-k8s");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, v2) = watch_versions(&pki.server_ring);
    let dir = setup.dir().to_path_buf();
    // As a ConfigMap volume: policy.pol -> ..data/policy.pol, ..data -> ..v1.
    write_atomic(&dir.join("..v1/policy.pol"), &v1);
    write_atomic(&dir.join("..v2/policy.pol"), &v2);
    std::os::unix::fs::symlink("..v1", dir.join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/policy.pol", dir.join("policy.pol")).expect("symlink");
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy_file("policy.pol").start();
    assert!(!relays_in_clear(agent.addr("TLS1")), "v1 requires TLS");

    // What the kubelet does: a new `..data` link beside the old one, renamed over it.
    let swap = |target: &str| {
        std::os::unix::fs::symlink(target, dir.join("..data_tmp")).expect("symlink");
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap");
    };
    let since = wait_for_watcher(&agent, || swap("..v1"));
    swap("..v2");
    assert_switches_to_v2(&agent, since);
}

#[test]
fn sighup_refreshes_and_live_connections_keep_their_generation() {
    let setup = AgentSetup::new("sighup");
    let backend = Backend::echo();
    let agent = setup
        .listener("CLEAR1", backend.addr(), "Inbound")
        .policy(&policy::off_rule("hup~off", "CLEAR1"))
        .start();
    let addr = agent.addr("CLEAR1");

    let mut old = tcp_connect(addr);
    assert_eq!(round_trip(&mut old, b"before\n").expect("echo"), b"before\n");
    let old_id = agent.wait_conn(old.local_addr().expect("local"))["conn"].as_str().expect("id").to_string();
    assert_eq!(agent.generation_of(&old_id), 1);

    agent.sighup();
    assert!(
        eventually(WAIT, || agent.fresh_mapping("CLEAR1").1 >= 2),
        "no new generation after SIGHUP:\n{}",
        agent.log_text()
    );
    assert_eq!(agent.generation_of(&old_id), 1, "a live connection was re-mapped");
    assert_eq!(round_trip(&mut old, b"after\n").expect("echo"), b"after\n");
}

#[test]
fn file_watch_sees_a_change_made_right_after_the_listening_lines() {
    let setup = AgentSetup::new("watch-early");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, v2) = watch_versions(&pki.server_ring);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&v1).start();
    write_atomic(&agent.dir().join("policy.pol"), &v2);
    assert_switches_to_v2(&agent, 1);
}

#[test]
fn sighup_right_after_the_listening_lines_refreshes_and_does_not_kill_the_agent() {
    let setup = AgentSetup::new("sighup-early");
    let backend = Backend::echo();
    let mut agent = setup
        .listener("CLEAR1", backend.addr(), "Inbound")
        .policy(&policy::off_rule("hup~off", "CLEAR1"))
        .start();
    agent.sighup();
    if let Some(status) = agent.wait_exit(Duration::from_millis(300)) {
        panic!("SIGHUP ended the agent: {status}");
    }
    assert!(eventually(WAIT, || agent.fresh_mapping("CLEAR1").1 >= 2), "{}", agent.log_text());
}

#[test]
fn truncating_the_policy_file_in_place_keeps_the_old_policy_serving_tls() {
    let setup = AgentSetup::new("watch-truncate");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, _) = watch_versions(&pki.server_ring);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&v1).start();
    let (addr, config) = (agent.addr("TLS1"), client_config(&pki.ca));
    let file = agent.dir().join("policy.pol");
    let since = wait_for_watcher(&agent, || write_atomic(&file, &v1));

    // `: > policy.pol`: the file is emptied in place.
    std::fs::File::create(&file).expect("truncate the policy file");
    let refused = format!("{}:1:1: error: the policy file is empty", file.display());
    assert!(
        eventually(WAIT, || agent.log_text().contains("policy not installed")),
        "the watcher did not refuse the empty file:\n{}",
        agent.log_text()
    );
    assert!(agent.log_text().contains(&refused), "no `{refused}` in:\n{}", agent.log_text());

    // The listener still requires TLS, with the rule and generation it had.
    assert!(!relays_in_clear(addr), "the emptied policy file turned TLS off");
    let mut s = tls_connect(addr, &config).expect("handshake with the old policy");
    assert_eq!(round_trip(&mut s, b"still tls\n").expect("echo"), b"still tls\n");
    let c = agent.wait_conn(s.sock.local_addr().expect("local"));
    assert_eq!((c["rule"].as_str(), c["generation"].as_u64()), (Some("watch~on"), Some(since)), "{c}");

    // `pagent refresh` refuses it too and says why; netstat still lists the live connection.
    let out = agent.refresh();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.lines().any(|l| l == refused), "no `{refused}` in:\n{err}");
    assert!(err.contains("hint: "), "{err}");
    let rows = agent.rows();
    assert!(!rows.is_empty(), "netstat lists nothing");
    assert!(rows.iter().all(|r| r.last().map(String::as_str) == Some("watch~on")), "{rows:?}");
}

#[test]
fn the_watcher_reloads_a_slowly_written_file_once_it_is_complete() {
    let setup = AgentSetup::new("watch-slow");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, _) = watch_versions(&pki.server_ring);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&v1).start();
    let file = agent.dir().join("policy.pol");
    let since = wait_for_watcher(&agent, || write_atomic(&file, &v1));

    // Written in place in small pieces, 20 ms apart (well under the watcher's settle time): a clear
    // exemption first (a valid policy on its own), then a higher-priority TLS rule. Every
    // intermediate state is either wrong (clear) or incomplete; only the whole file may load.
    let head = policy::off_rule("slow~off", "TLS1");
    let env = policy::env("Server", &pki.server_ring, &[], None);
    let tail = policy::tls_rule("slow~on", "TLS1", "Inbound", "  Priority 100", &env);
    let mut f = std::fs::File::create(&file).expect("open the policy file");
    f.write_all(head.as_bytes()).expect("write");
    for piece in tail.as_bytes().chunks(8) {
        std::thread::sleep(Duration::from_millis(20));
        f.write_all(piece).expect("write");
    }
    drop(f);

    assert!(
        eventually(WAIT, || agent.fresh_mapping("TLS1").0 == "slow~on"),
        "the complete file was not loaded:\n{}",
        agent.log_text()
    );
    let log = agent.log_text();
    assert!(!log.contains("policy not installed"), "a half-written file was loaded:\n{log}");
    assert_eq!(agent.fresh_mapping("TLS1").1, since + 1, "one reload for one write:\n{log}");
    assert!(!relays_in_clear(agent.addr("TLS1")), "the complete file requires TLS");
}

#[test]
fn the_watcher_loads_nothing_while_a_writer_keeps_writing_then_loads_the_whole_file() {
    let setup = AgentSetup::new("watch-writer");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let (v1, _) = watch_versions(&pki.server_ring);
    let agent = setup.listener("TLS1", backend.addr(), "Inbound").policy(&v1).start();
    let file = agent.dir().join("policy.pol");
    let since = wait_for_watcher(&agent, || write_atomic(&file, &v1));

    // For about 6 s the file is a valid policy that exempts TLS1 (comments keep being appended),
    // then the TLS rule that overrides the exemption comes last.
    let env = policy::env("Server", &pki.server_ring, &[], None);
    let tail = policy::tls_rule("last~on", "TLS1", "Inbound", "  Priority 100", &env);
    let head = policy::off_rule("early~off", "TLS1");
    let mut f = std::fs::File::create(&file).expect("open the policy file");
    let writer = std::thread::spawn(move || {
        f.write_all(head.as_bytes()).expect("write");
        for k in 0..300 {
            std::thread::sleep(Duration::from_millis(20));
            f.write_all(format!("# line {k}\n").as_bytes()).expect("write");
        }
        f.write_all(tail.as_bytes()).expect("write");
    });
    std::thread::sleep(Duration::from_millis(5500));
    assert_eq!(agent.fresh_mapping("TLS1"), ("watch~on".to_string(), since), "loaded mid-write");
    writer.join().expect("writer");
    assert!(
        eventually(WAIT, || agent.fresh_mapping("TLS1").0 == "last~on"),
        "the whole file was not loaded once written:\n{}",
        agent.log_text()
    );
    assert_eq!(agent.fresh_mapping("TLS1").1, since + 1, "{}", agent.log_text());
    assert!(agent.log_text().contains("policy files still changing after 5s"), "{}", agent.log_text());
}
