//! The `pagent check` and `pagent search` command-line contract: exit codes, what goes to stdout and
//! stderr, the `--match` report and the JSON keys.

use serde_json::Value;

use crate::support::{pagent, stderr, stdout};

const EXAMPLE: &str = "tests/fixtures/policy/cli/example.pol";

#[test]
fn check_valid_policy_exits_0_with_summary_on_stderr_only() {
    let out = pagent(&["check", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("policy valid: 2 rules, 4 actions"), "{}", stderr(&out));
}

#[test]
fn check_invalid_policy_exits_1_and_reports_in_d11_shape() {
    let out = pagent(&["check", "tests/fixtures/policy/cli/bad-port.pol"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "tests/fixtures/policy/cli/bad-port.pol:4:23: error: port 70000 is out of range 0-65535"
    );
    assert!(
        err.contains("    4 |   LocalPortRange      70000\n      |                       ^^^^^\n"),
        "{err}"
    );
    assert!(err.contains("   hint: write one port (0-65535) or a range n-m"), "{err}");
    assert!(err.contains("policy invalid: 1 error"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(pagent(&["check"]).status.code(), Some(2));
    assert_eq!(
        pagent(&["check", EXAMPLE, "--match", "sideways", "1.2.3.4:1", "1.2.3.4:2"]).status.code(),
        Some(2)
    );
    assert_eq!(
        pagent(&["check", EXAMPLE, "--match", "inbound", "1.2.3.4", "1.2.3.4:2"]).status.code(),
        Some(2)
    );
    assert_eq!(pagent(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let out = pagent(&["check", "no/such.pol"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("no/such.pol:1:1: error: cannot read policy file"), "{}", stderr(&out));
}

#[test]
fn match_prints_rule_status_maptype_first() {
    let out = pagent(&[
        "check",
        EXAMPLE,
        "--match",
        "INBOUND",
        "192.0.2.10:4021",
        "198.51.100.7:50122",
        "--job",
        "FTPD1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "rule: ftpd-ctl~4021");
    assert!(lines.contains(&"status: APPLCNTRL"), "{text}");
    assert!(lines.contains(&"maptype: Primary"), "{text}");
    assert!(text.contains("HandshakeTimeout:       15"), "{text}");
}

#[test]
fn match_without_job_skips_rules_that_name_one() {
    let out = pagent(&["check", EXAMPLE, "--match", "inbound", "192.0.2.10:4021", "198.51.100.7:50122"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("rule: none\nstatus: NO_POLICY\nmaptype: none\n"), "{text}");
}

#[test]
fn match_with_primary_maps_the_data_connection_as_secondary() {
    let out = pagent(&[
        "check",
        EXAMPLE,
        "--match",
        "inbound",
        "192.0.2.10:50010",
        "198.51.100.7:50130",
        "--job",
        "FTPD1",
        "--primary",
        "inbound",
        "192.0.2.10:4021",
        "198.51.100.7:50122",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("stdout is one JSON object");
    assert_eq!(v["rule"], "ftpd-ctl~4021");
    assert_eq!(v["status"], "APPLCNTRL");
    assert_eq!(v["maptype"], "Secondary");
    assert_eq!(v["settings"]["secondary_map"], true);
    assert_eq!(v["settings"]["handshake_timeout"], 15);
    // A different remote IP is not the same pair: no secondary.
    let out = pagent(&[
        "check",
        EXAMPLE,
        "--match",
        "inbound",
        "192.0.2.10:50010",
        "198.51.100.8:50130",
        "--job",
        "FTPD1",
        "--primary",
        "inbound",
        "192.0.2.10:4021",
        "198.51.100.7:50122",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["rule"], Value::Null);
    assert_eq!(v["maptype"], "none");
}

#[test]
fn search_json_has_the_contract_keys() {
    let out = pagent(&["search", EXAMPLE, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    let rules = v["rules"].as_array().expect("rules array");
    assert_eq!(rules.len(), 2);
    let r = &rules[0];
    for key in [
        "name",
        "priority",
        "direction",
        "local_addr",
        "remote_addr",
        "local_port",
        "remote_port",
        "jobname",
        "userid",
        "group_action",
        "ttls_enabled",
        "environment_action",
        "connection_action",
        "handshake_role",
        "client_auth_type",
        "keyring",
        "certificate_label",
        "protocols",
        "ciphers",
        "ciphers_rustls",
        "application_controlled",
        "secondary_map",
        "handshake_timeout",
        "reset_cipher_timer",
        "trace",
        "other",
    ] {
        assert!(r.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(r["name"], "ftpd-ctl~4021");
    assert_eq!(r["priority"], 300);
    assert_eq!(r["local_addr"], serde_json::json!(["192.0.2.10", "2001:db8:10::/64"]));
    assert_eq!(r["local_port"], serde_json::json!(["4021"]));
    assert_eq!(r["remote_port"], serde_json::json!(["1024-65535"]));
    assert_eq!(r["remote_addr"], serde_json::json!([]));
    assert_eq!(r["jobname"], "FTPD*");
    assert_eq!(r["userid"], Value::Null);
    assert_eq!(r["protocols"], serde_json::json!(["TLSv1.2", "TLSv1.3"]));
    assert_eq!(r["ciphers"], serde_json::json!(["1302", "1301", "C030", "C02F"]));
    assert_eq!(r["trace"], 6);
    assert_eq!(r["application_controlled"], true);
    assert_eq!(rules[1]["name"], "tn3270~2023");
    assert_eq!(rules[1]["handshake_timeout"], 3);
    assert_eq!(rules[1]["secondary_map"], false);
}

#[test]
fn search_one_rule_as_text() {
    let out = pagent(&["search", EXAMPLE, "--rule", "tn3270~2023"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("TTLSRule: tn3270~2023"), "{text}");
    assert!(!text.contains("ftpd-ctl"), "{text}");
    assert_eq!(pagent(&["search", EXAMPLE, "--rule", "nope"]).status.code(), Some(1));
}

#[test]
fn strict_turns_portability_warnings_into_errors() {
    let f = "tests/fixtures/policy/cli/portability.pol";
    let relaxed = pagent(&["check", f]);
    assert_eq!(relaxed.status.code(), Some(0), "{}", stderr(&relaxed));
    assert!(stderr(&relaxed).contains(": warning: "), "{}", stderr(&relaxed));
    let strict = pagent(&["check", "--strict", f]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        stderr(&strict).contains(": error: ClientAuthType SAFCheck is enforced as Required"),
        "{}",
        stderr(&strict)
    );
}
