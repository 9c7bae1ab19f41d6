//! A PAGTCONF copied from z/OS (the seed's example: TcpImage, TTLSConfig naming a data set, and the
//! QoS, IDS and IPSec statements) loads once `DataSetMap` names the file the member was copied to:
//! `pagent check -c` passes with one warning per other discipline, `Strict On` refuses it, an
//! unmapped name says which line to add, and an agent started with it serves TLS with the mapped
//! policy.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::agent::peers::{self, Backend, Spawned};
use crate::support::agent::{Pki, TempDir, eventually, policy, write_atomic};
use crate::support::{pagent, stderr};

/// The seed's PAGTCONF (USER1.TCPCS.TCPPARMS(PAGTCONF)), as copied.
const PAGTCONF: &str = "##\n## USER1.TCPCS.TCPPARMS(PAGTCONF)\n##\n## Image: mvs098\n##\n\n\
    TcpImage TCPCS FLUSH 600\n##\n\n\
    TTLSConfig //'USER1.TCPCS.TCPPARMS(ATTLS)' FLUSH NOPURGE\n\
    QosConfig //'USER1.TCPCS.TCPPARMS(QOS)' FLUSH NOPURGE\n\
    IDSConfig //'USER1.TCPCS.TCPPARMS(IDS)' FLUSH NOPURGE\n\
    IPSecConfig //'USER1.TCPCS.TCPPARMS(IPSEC)' FLUSH NOPURGE\n";

/// The attls lines added below the z/OS ones.
const MAPPING: &str =
    "\n# attls: where the members were copied\nDataSetMap //'USER1.TCPCS.TCPPARMS(ATTLS)' attls.pol\n";

/// `DIR/attls.pol` (the ATTLS member: a Server rule for Jobname ZOS1 on the PKI's server keyring)
/// and `DIR/pagent.conf` = the PAGTCONF, `MAPPING` when `mapped`, then `extra`.
fn write_files(dir: &Path, pki: &Pki, mapped: bool, extra: &str) -> (String, String) {
    let pol = dir.join("attls.pol");
    write_atomic(&pol, &policy::server_rule("zos~attls", "ZOS1", &pki.server_ring, &[], None));
    let conf = dir.join("pagent.conf");
    write_atomic(&conf, &format!("{PAGTCONF}{}{extra}", if mapped { MAPPING } else { "" }));
    (conf.display().to_string(), pol.display().to_string())
}

#[test]
fn the_pagtconf_checks_with_one_warning_per_other_discipline() {
    let dir = TempDir::new("zos-check");
    let pki = Pki::write(dir.path(), "pki");
    let (conf, pol) = write_files(dir.path(), &pki, true, "");
    let out = pagent(&["check", "-c", &conf, &pol]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for w in [
        "pagent.conf:7:1: warning: TcpImage is read as RefreshInterval",
        "pagent.conf:11:1: warning: QOSConfig configures Quality of Service (QoS) policy, which attls does not apply; ignored",
        "pagent.conf:12:1: warning: IDSConfig configures Intrusion Detection Services (IDS) policy",
        "pagent.conf:13:1: warning: IPSecConfig configures IP security (IPSec) policy",
    ] {
        assert!(err.contains(w), "{w}\nnot in:\n{err}");
    }
    assert_eq!(err.matches("warning: ").count(), 4, "one warning each:\n{err}");
    assert!(!err.contains("error"), "{err}");
    assert!(err.contains("keyrings: every keyring of an enabled rule opens"), "{err}");

    let (conf, _) = write_files(dir.path(), &pki, true, "Strict On\n");
    let out = pagent(&["check", "-c", &conf, &pol]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "Strict On refuses what attls ignores:\n{err}");
    assert!(err.contains("pagent.conf:12:1: error: IDSConfig configures"), "{err}");
    assert_eq!(err.matches(": error: ").count(), 4, "{err}");
    assert!(err.contains("configuration invalid"), "{err}");
}

#[test]
fn an_unmapped_data_set_says_which_data_set_map_to_add() {
    let dir = TempDir::new("zos-unmapped");
    let pki = Pki::write(dir.path(), "pki");
    let (conf, pol) = write_files(dir.path(), &pki, false, "");
    let out = pagent(&["check", "-c", &conf, &pol]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "pagent.conf:10:12: error: `//'USER1.TCPCS.TCPPARMS(ATTLS)'` is a z/OS data set name with no DataSetMap"
        ),
        "{err}"
    );
    assert!(err.contains("add `DataSetMap //'USER1.TCPCS.TCPPARMS(ATTLS)' attls.pol`"), "{err}");
    assert_eq!(err.matches(": error: ").count(), 1, "the other disciplines' names need no mapping:\n{err}");
}

#[test]
fn an_agent_started_with_the_pagtconf_serves_tls_with_the_mapped_policy() {
    let dir = TempDir::new("zos-agent");
    let pki = Pki::write(dir.path(), "pki");
    let backend = Backend::echo();
    let socket = dir.path().join("ctl.sock");
    let listener = format!(
        "ControlSocket {}\nListener ZOS1\n{{\n  Listen 127.0.0.1:0\n  Backend {}\n  Direction Inbound\n}}\n",
        socket.display(),
        backend.addr()
    );
    let (conf, _) = write_files(dir.path(), &pki, true, &listener);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagent"));
    cmd.args(["start", "-c", &conf]).env("NO_COLOR", "1").env_remove("RUST_LOG");
    let agent = Spawned::spawn(cmd);
    let mut addr = None;
    let listening = eventually(Duration::from_secs(20), || {
        let out = String::from_utf8_lossy(&agent.stdout()).into_owned();
        addr =
            out.lines().find_map(|l| l.strip_prefix("listening ZOS1 ")).and_then(|a| a.trim().parse().ok());
        addr.is_some()
    });
    assert!(listening, "the agent did not start:\n{}", agent.stderr());
    let log = agent.stderr();
    assert!(log.contains("IDSConfig configures Intrusion Detection Services (IDS) policy"), "{log}");
    let addr: std::net::SocketAddr = addr.expect("listening address");
    let mut tls = peers::tls_connect(addr, &peers::client_config(&pki.ca)).expect("TLS handshake with ZOS1");
    assert_eq!(peers::round_trip(&mut tls, b"from z/OS").expect("echo"), b"from z/OS");
    let out = Command::new(env!("CARGO_BIN_EXE_pagent"))
        .args(["netstat", "--json", "--socket"])
        .arg(&socket)
        .output()
        .expect("pagent netstat");
    let netstat = String::from_utf8_lossy(&out.stdout);
    assert!(netstat.contains("\"rule\": \"zos~attls\""), "mapped by the ATTLS member's rule:\n{netstat}");
}
