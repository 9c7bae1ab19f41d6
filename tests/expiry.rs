//! Certificate expiry with certificates openssl makes with chosen dates (`openssl ca -days` and
//! `-startdate/-enddate`): `pagent check -c` shows each used certificate's NotAfter, warns within
//! `ExpiryWarningDays` and fails on an expired server certificate; `pagent search` shows the dates
//! (text and `not_after`); the agent logs them at start and refresh (ERROR for an expired server
//! certificate, which it still serves); the netstat detail shows `NotAfter` of the server's
//! certificate for a server role and for the Client role.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::agent::peers::{self, Backend};
use crate::support::agent::{AgentSetup, TempDir, eventually, policy, write_atomic};
use crate::support::{pagent, stderr, stdout};

/// The dates of a certificate to issue.
enum Validity {
    Days(u32),
    /// `-startdate` and `-enddate`, `YYYYMMDDHHMMSSZ`.
    Between(&'static str, &'static str),
}

/// A keyring directory openssl made: `server.pem` (leaf for localhost and 127.0.0.1, then the CA),
/// `server.key`, `ca.pem`; and a directory with `ca.pem` only (a Client-role keyring).
struct Ring {
    dir: PathBuf,
    ca_only: PathBuf,
    leaf: PathBuf,
    key: PathBuf,
    /// The leaf's notAfter as the reports print it (RFC 3339, from `openssl x509 -enddate`).
    not_after: String,
    /// The CA's.
    ca_not_after: String,
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `2026-12-12T04:44:26Z` from `openssl x509 -noout -enddate -dateopt iso_8601` of `pem`.
fn end_date(dir: &Path, pem: &str) -> String {
    let out = openssl(dir, &["x509", "-in", pem, "-noout", "-enddate", "-dateopt", "iso_8601"]);
    out.trim().trim_start_matches("notAfter=").replacen(' ', "T", 1)
}

/// `openssl req` options for a new P-256 key, unencrypted.
const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

const CA_CONFIG: &str = "[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\nnew_certs_dir = issued\n\
    certificate = ca.pem\nprivate_key = ca.key\nserial = serial\ndefault_md = sha256\npolicy = anything\n\
    unique_subject = no\nx509_extensions = leaf\n[anything]\ncommonName = supplied\n\
    [leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
    extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n";

/// A CA (ten years) and a `localhost` leaf with `validity`, under `base/NAME`.
fn openssl_ring(base: &Path, name: &str, validity: Validity) -> Ring {
    let dir = base.join(name);
    std::fs::create_dir_all(dir.join("issued")).expect("CA directory");
    write_atomic(&dir.join("index.txt"), "");
    write_atomic(&dir.join("serial"), "01\n");
    write_atomic(&dir.join("ca.cnf"), CA_CONFIG);
    let ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"];
    let ca_args = [&["req", "-x509"][..], &EC_KEY, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650"]];
    openssl(&dir, &[&ca_args.concat()[..], &["-subj", "/CN=Expiry Test CA"], &ca_ext].concat());
    let ring = dir.join("ring");
    let ca_only = dir.join("ca-ring");
    for d in [&ring, &ca_only] {
        std::fs::create_dir_all(d).expect("keyring directory");
        std::fs::copy(dir.join("ca.pem"), d.join("ca.pem")).expect("copy ca.pem");
    }
    Ring {
        not_after: issue(&dir, "server", validity),
        ca_not_after: end_date(&dir, "ca.pem"),
        leaf: ring.join("server.pem"),
        key: ring.join("server.key"),
        dir: ring,
        ca_only,
    }
}

/// Issues `ring/STEM.pem` (a `localhost` leaf with `validity`, then the CA) and `ring/STEM.key` with
/// the CA of `dir` ([`openssl_ring`]); the leaf's notAfter.
fn issue(dir: &Path, stem: &str, validity: Validity) -> String {
    let (key, csr, leaf) = (format!("ring/{stem}.key"), format!("{stem}.csr"), format!("{stem}-leaf.pem"));
    let request = [&["req", "-new"][..], &EC_KEY, &["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]];
    openssl(dir, &request.concat());
    let sign = ["ca", "-batch", "-config", "ca.cnf", "-in", &csr, "-out", &leaf, "-notext"];
    let days;
    let dates: Vec<&str> = match validity {
        Validity::Days(n) => {
            days = n.to_string();
            vec!["-days", &days]
        }
        Validity::Between(start, end) => vec!["-startdate", start, "-enddate", end],
    };
    openssl(dir, &[&sign[..], &dates].concat());
    let chain = std::fs::read_to_string(dir.join(&leaf)).expect("leaf")
        + &std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
    write_atomic(&dir.join("ring").join(format!("{stem}.pem")), &chain);
    end_date(dir, &leaf)
}

/// `DIR/policy.pol` with one Server rule `srv` on `ring` and `DIR/pagent.conf` with `extra` lines;
/// `pagent check -c` of both: (exit code, stderr).
fn check_c(dir: &Path, ring: &Path, extra: &str) -> (Option<i32>, String) {
    let pol = dir.join("policy.pol");
    write_atomic(&pol, &policy::server_rule("srv", "SRV1", ring, &[], None));
    let conf = dir.join("pagent.conf");
    write_atomic(&conf, &format!("TTLSConfig policy.pol\n{extra}"));
    let out = pagent(&["check", "-c", conf.to_str().expect("utf-8"), pol.to_str().expect("utf-8")]);
    (out.status.code(), stderr(&out))
}

#[test]
fn check_shows_not_after_and_warns_within_expiry_warning_days() {
    let dir = TempDir::new("expiry-soon");
    let ring = openssl_ring(dir.path(), "pki", Validity::Days(5));
    let (code, err) = check_c(dir.path(), &ring.dir, "");
    assert_eq!(code, Some(0), "a warning, not an error:\n{err}");
    let leaf = format!(
        "expiry: TTLSRule srv: server certificate `server` (CN=localhost) NotAfter {}",
        ring.not_after
    );
    assert!(err.contains(&leaf), "{leaf}\nnot in:\n{err}");
    let ca =
        format!("certificate 1 of the chain of `server` (CN=Expiry Test CA) NotAfter {}", ring.ca_not_after);
    assert!(err.contains(&ca), "{err}");
    let warning = format!(
        ": warning: TTLSRule srv: server certificate `server` (CN=localhost) expires in 4 days, at {}",
        ring.not_after
    );
    assert!(
        err.lines().any(|l| l.contains("policy.pol:") && l.ends_with(&warning)),
        "{warning}\nnot in:\n{err}"
    );
    assert!(err.contains("hint: renew it before then"), "{err}");

    let (code, err) = check_c(dir.path(), &ring.dir, "ExpiryWarningDays 3\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning:"), "5 days is beyond 3:\n{err}");
    assert!(err.contains("expiry: no used certificate expires within 3 days"), "{err}");
    let (code, err) = check_c(dir.path(), &ring.dir, "ExpiryWarningDays 0\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning:") && err.contains(&leaf), "0 = no warnings, dates still shown:\n{err}");
}

#[test]
fn search_shows_not_after_in_text_and_json() {
    let dir = TempDir::new("expiry-search");
    let ring = openssl_ring(dir.path(), "pki", Validity::Days(5));
    let pol = dir.path().join("policy.pol");
    write_atomic(&pol, &policy::server_rule("srv", "SRV1", &ring.dir, &[], None));
    let out = pagent(&["search", pol.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let want = format!("  NotAfter:               {}  CN=localhost  (label server)\n", ring.not_after);
    assert!(text.contains(&want), "{want:?} not in\n{text}");
    assert!(text.contains(&format!("{}  CN=Expiry Test CA\n", ring.ca_not_after)), "{text}");
    let out = pagent(&["search", "--json", pol.to_str().expect("utf-8")]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let rule = &v["rules"][0];
    assert_eq!(rule["not_after"], ring.not_after.as_str());
    assert_eq!(rule["certificates"][0]["label"], "server");
    assert_eq!(rule["certificates"][1]["subject"], "CN=Expiry Test CA");
    assert_eq!(rule["certificates"][1]["not_after"], ring.ca_not_after.as_str());
}

#[test]
fn an_expired_server_certificate_fails_check_and_is_an_error_in_the_log_but_is_served() {
    let setup = AgentSetup::new("expiry-expired");
    let ring = openssl_ring(setup.dir(), "pki", Validity::Between("20200101000000Z", "20200201000000Z"));
    assert_eq!(ring.not_after, "2020-02-01T00:00:00Z");
    let (code, err) = check_c(setup.dir(), &ring.dir, "ExpiryWarningDays 0\n");
    assert_eq!(code, Some(1), "{err}");
    let expired = "TTLSRule srv: server certificate `server` (CN=localhost) expired at 2020-02-01T00:00:00Z";
    let error = format!(": error: {expired}");
    assert!(err.lines().any(|l| l.contains("policy.pol:") && l.ends_with(&error)), "{err}");
    assert!(
        err.contains("policy not usable with") && err.contains("a server certificate has expired"),
        "{err}"
    );

    let backend = Backend::echo();
    let agent = setup
        .listener("SRV1", backend.addr(), "Inbound")
        .policy(&policy::server_rule("srv", "SRV1", &ring.dir, &[], None))
        .start();
    let error_lines = |log: &str| log.lines().filter(|l| l.contains("ERROR") && l.contains(expired)).count();
    let log = agent.log_text();
    assert_eq!(error_lines(&log), 1, "one ERROR line at start:\n{log}");
    assert!(log.contains("NotAfter 2020-02-01T00:00:00Z"), "{log}");
    // The agent serves it: a client that checks dates refuses it.
    let refused = peers::tls_connect(agent.addr("SRV1"), &peers::client_config(&ring.ca_only));
    let reason = refused.err().map(|e| format!("{e:?}")).unwrap_or_default();
    assert!(reason.contains("Expired"), "the client sees the expired certificate: {reason}");
    let out = agent.refresh();
    assert_eq!(out.status.code(), Some(0), "refresh: {}", stderr(&out));
    assert!(
        eventually(Duration::from_secs(5), || error_lines(&agent.log_text()) == 2),
        "{}",
        agent.log_text()
    );
}

#[test]
fn netstat_detail_shows_not_after_of_the_servers_certificate_in_both_roles() {
    let setup = AgentSetup::new("expiry-netstat");
    let ring = openssl_ring(setup.dir(), "pki", Validity::Days(5));
    let (_server, port) = peers::s_server_rev(&ring.leaf, &ring.key);
    let backend = Backend::echo();
    let client_rule =
        policy::tls_rule("out", "OUT1", "Outbound", "", &policy::env("Client", &ring.ca_only, &[], None));
    let agent = setup
        .listener("SRV1", backend.addr(), "Inbound")
        .listener("OUT1", format!("127.0.0.1:{port}"), "Outbound")
        .policy(&(policy::server_rule("srv", "SRV1", &ring.dir, &[], None) + &client_rule))
        .start();
    assert!(agent.log_text().contains(&format!("NotAfter {}", ring.not_after)), "{}", agent.log_text());
    let want = format!("  NotAfter:      {}\n", ring.not_after);

    let mut tls =
        peers::tls_connect(agent.addr("SRV1"), &peers::client_config(&ring.ca_only)).expect("handshake");
    assert_eq!(peers::round_trip(&mut tls, b"ping").expect("echo"), b"ping");
    let conn = agent.wait_conn(tls.sock.local_addr().expect("local address"));
    let id = conn["conn"].as_str().expect("conn id");
    assert!(agent.detail(id).contains(&want), "server role:\n{}", agent.detail(id));
    assert_eq!(conn["not_after"], ring.not_after.as_str());

    let mut plain = peers::tcp_connect(agent.addr("OUT1"));
    assert_eq!(peers::round_trip(&mut plain, b"abc\n").expect("s_server -rev answers"), b"cba\n");
    // An outbound connection is listed by its remote target.
    let conn = agent.wait_conn(format!("127.0.0.1:{port}").parse().expect("address"));
    let id = conn["conn"].as_str().expect("conn id");
    assert!(
        agent.detail(id).contains(&want),
        "Client role (the server's certificate):\n{}",
        agent.detail(id)
    );
}

#[test]
fn every_server_certificate_label_is_checked_and_an_expired_candidate_is_an_error() {
    let dir = TempDir::new("expiry-labels");
    let ring = openssl_ring(dir.path(), "pki", Validity::Days(400));
    let pki = dir.path().join("pki");
    let old = issue(&pki, "old", Validity::Between("20200101000000Z", "20200201000000Z"));
    let pol = dir.path().join("policy.pol");
    let labels = ["ServerCertificateLabel server", "ServerCertificateLabel old"];
    write_atomic(&pol, &policy::server_rule("srv", "SRV1", &ring.dir, &labels, None));
    let conf = dir.path().join("pagent.conf");
    write_atomic(&conf, "TTLSConfig policy.pol\n");
    let out = pagent(&["check", "-c", conf.to_str().expect("utf-8"), pol.to_str().expect("utf-8")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line =
        |label: &str, date: &str| format!("server certificate `{label}` (CN=localhost) NotAfter {date}");
    assert!(err.contains(&line("server", &ring.not_after)) && err.contains(&line("old", &old)), "{err}");
    assert!(
        err.contains(": error: TTLSRule srv: server certificate `old` (CN=localhost) expired at 2020-02-01"),
        "{err}"
    );
    let out = pagent(&["search", "--json", pol.to_str().expect("utf-8")]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["rules"][0]["not_after"], ring.not_after.as_str(), "the default (first) certificate's");
    assert_eq!(v["rules"][0]["certificates"][2]["label"], "old");
}
