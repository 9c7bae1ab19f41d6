//! The policy corpus: `tests/fixtures/policy/valid/*.pol` must load, and their table (the
//! `pagent search` text) must equal `*.out`; each `*.match` line `DIRECTION LOCAL REMOTE [JOB [USER]]
//! => RULE|none` is checked with the indexed lookup and the ordered scan.
//! `tests/fixtures/policy/invalid/*.pol` must fail; their rendered diagnostics must equal `*.out`.

use std::net::SocketAddr;

use attls::policy::{ConnDirection, Connection, LoadOptions, load_files};
use attls::search::rule_text;

use crate::support::{assert_matches_file, files_with_ext, fixtures};

fn relative(p: &std::path::Path) -> std::path::PathBuf {
    p.strip_prefix(crate::support::root()).unwrap_or(p).to_path_buf()
}

#[test]
fn valid_policies_load_into_their_expected_tables() {
    let files = files_with_ext(&fixtures("policy/valid"), "pol");
    assert!(files.len() >= 5, "the corpus is missing");
    for pol in files {
        let loaded = load_files(&[relative(&pol)], LoadOptions::default());
        let diags = loaded.diagnostics.render(&loaded.sources);
        let table = loaded.table.unwrap_or_else(|| panic!("{} should load:\n{diags}", pol.display()));
        let mut out = String::new();
        for r in table.rules() {
            rule_text(&mut out, r);
            out.push('\n');
        }
        if !diags.is_empty() {
            out.push_str("# diagnostics\n");
            out.push_str(&diags);
        }
        assert_matches_file(&out, &pol.with_extension("out"));
        let matches = pol.with_extension("match");
        if matches.exists() {
            check_matches(&table, &std::fs::read_to_string(&matches).expect("read .match"), &matches);
        }
    }
}

fn check_matches(table: &attls::policy::RuleTable, text: &str, file: &std::path::Path) {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (query, want) =
            line.split_once("=>").unwrap_or_else(|| panic!("{}:{}: no =>", file.display(), n + 1));
        let q: Vec<&str> = query.split_whitespace().collect();
        let direction = match q[0] {
            "inbound" => ConnDirection::Inbound,
            "outbound" => ConnDirection::Outbound,
            d => panic!("{}:{}: bad direction {d}", file.display(), n + 1),
        };
        let local: SocketAddr = q[1].parse().expect("local address");
        let remote: SocketAddr = q[2].parse().expect("remote address");
        let conn =
            Connection { direction, local, remote, jobname: q.get(3).copied(), userid: q.get(4).copied() };
        let got = table.lookup(&conn).map_or("none", |r| r.name.as_str());
        let scanned = table.lookup_scan(&conn).map_or("none", |r| r.name.as_str());
        assert_eq!(got, scanned, "{}:{}: index and scan disagree", file.display(), n + 1);
        assert_eq!(got, want.trim(), "{}:{}: {query}", file.display(), n + 1);
    }
}

#[test]
fn invalid_policies_fail_with_their_expected_diagnostics() {
    let files = files_with_ext(&fixtures("policy/invalid"), "pol");
    assert!(files.len() >= 5, "the corpus is missing");
    for pol in files {
        let loaded = load_files(&[relative(&pol)], LoadOptions::default());
        assert!(loaded.table.is_none(), "{} should fail to load", pol.display());
        let out = loaded.diagnostics.render(&loaded.sources);
        assert!(out.contains(": error: "), "{}: no error line", pol.display());
        assert_matches_file(&out, &pol.with_extension("out"));
    }
}
