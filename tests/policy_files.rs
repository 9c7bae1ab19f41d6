//! Policy files that hold no statement: `pagent check` refuses a file that is empty or has only
//! comments and blank lines (a file truncated or caught half-written must never load as a policy
//! without rules), alone or beside valid files. The agent's side (refresh, file watching) is in
//! `engine_refresh`.

use crate::support::agent::TempDir;
use crate::support::{pagent, stderr};

const EXAMPLE: &str = "tests/fixtures/policy/cli/example.pol";

#[test]
fn cli_check_refuses_empty_and_comment_only_policy_files_with_exit_1() {
    let dir = TempDir::new("policy-files");
    let blank = dir.path().join("blank.pol");
    std::fs::write(&blank, "\n  \t\n").expect("write");
    let blank = blank.to_string_lossy().into_owned();
    for (file, message) in [
        ("tests/fixtures/policy/invalid/empty.pol", "the policy file is empty"),
        (blank.as_str(), "the policy file is empty"),
        (
            "tests/fixtures/policy/invalid/comments-only.pol",
            "the policy file has no statements, only comments and blank lines",
        ),
    ] {
        for args in [vec!["check", file], vec!["check", EXAMPLE, file], vec!["search", file]] {
            let out = pagent(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            let want = format!("{file}:1:1: error: {message}");
            assert!(err.lines().any(|l| l == want), "{args:?}: no `{want}` in:\n{err}");
            assert!(err.contains("   hint: "), "{args:?}: {err}");
        }
    }
}
