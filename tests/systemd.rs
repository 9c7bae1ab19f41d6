//! systemd integration: the shipped unit (`dist/systemd/pagent.service`) passes `systemd-analyze
//! verify`, and the agent speaks the notify protocol to a datagram socket the test binds as
//! NOTIFY_SOCKET: READY=1 with its status once it serves, RELOADING=1 with MONOTONIC_USEC then
//! READY=1 around a refresh, WATCHDOG=1 when WATCHDOG_USEC asks, STOPPING=1 at SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::agent::peers::Backend;
use crate::support::agent::{AgentSetup, TempDir, policy};

/// Datagrams until one contains `want` (10 s at most); all of them, in order.
fn until(sock: &UnixDatagram, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = text.contains(want);
                got.push(text);
                if done {
                    return got;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }
    panic!("no `{want}` from the agent; got {got:?}");
}

#[test]
fn the_agent_tells_systemd_when_it_is_ready_reloading_alive_and_stopping() {
    let setup = AgentSetup::new("systemd-notify");
    let path = setup.dir().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let rule = policy::server_rule("notify~1", "TLS1", &pki.server_ring, &[], None);
    let agent = setup
        .env("NOTIFY_SOCKET", path.display())
        .env("WATCHDOG_USEC", 400_000)
        .listener("TLS1", backend.addr(), "Inbound")
        .policy(&rule)
        .start();
    let ready = until(&sock, "READY=1");
    assert!(ready.last().unwrap().contains("STATUS=policy generation 1, 0 live connections"), "{ready:?}");
    let alive = until(&sock, "WATCHDOG=1");
    assert!(alive.last().unwrap().contains("STATUS=policy generation 1"), "{alive:?}");

    let out = agent.refresh();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reload = until(&sock, "RELOADING=1");
    let line = reload.last().unwrap();
    let usec: u64 = line
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {line:?}"))
        .parse()
        .expect("a number");
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now_usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000;
    assert!(usec <= now_usec && now_usec - usec < 30_000_000, "MONOTONIC_USEC {usec}, now {now_usec}");
    let after = until(&sock, "READY=1");
    assert!(after.last().unwrap().contains("STATUS=policy generation 2"), "{after:?}");

    agent.terminate();
    until(&sock, "STOPPING=1");
}

#[test]
fn the_shipped_unit_passes_systemd_analyze_verify() {
    let dir = TempDir::new("systemd-unit");
    let unit = std::fs::read_to_string(crate::support::root().join("dist/systemd/pagent.service")).unwrap();
    // The unit names /usr/sbin/pagent (the package's path); verify checks that it exists.
    let unit = unit.replace("/usr/sbin/pagent", env!("CARGO_BIN_EXE_pagent"));
    assert!(unit.contains("Type=notify") && unit.contains("ExecReload="), "{unit}");
    // Connection owners and send queues come from netlink sock_diag (src/procnet/sockdiag.rs).
    let families =
        unit.lines().find_map(|l| l.strip_prefix("RestrictAddressFamilies=")).unwrap_or("AF_NETLINK");
    assert!(families.split_whitespace().any(|f| f == "AF_NETLINK"), "AF_NETLINK not allowed: {families}");
    let path = dir.path().join("pagent.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("systemd-analyze: {e} (scripts/test installs systemd)"),
    };
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
