//! Every shipped policy sample in `policies/` loads cleanly with `pagent check`.

use crate::support::{files_with_ext, pagent, root, stderr};

#[test]
fn every_shipped_policy_checks_clean() {
    let files = files_with_ext(&root().join("policies"), "pol");
    assert!(files.iter().any(|f| f.ends_with("default.pol")), "policies/default.pol is missing");
    for f in files {
        let rel = f.strip_prefix(root()).expect("under root").to_string_lossy().into_owned();
        let out = pagent(&["check", &rel]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{rel}:\n{err}");
        assert!(err.contains("policy valid:"), "{rel}: {err}");
        assert!(!err.contains(": error: "), "{rel}: {err}");
    }
}
