//! Helpers shared by the integration tests: paths, the `pagent` binary, expected-output files.

pub mod agent;
pub mod ftp;
pub mod netns;
pub mod openssl_ca;
pub mod tn3270;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures(sub: &str) -> PathBuf {
    root().join("tests/fixtures").join(sub)
}

/// Runs the built `pagent` binary with `args` from the project root.
pub fn pagent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pagent")).args(args).current_dir(root()).output().expect("run pagent")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compares `actual` with the file `expected`; with `BLESS=1` writes the file instead. A missing file
/// is a failure (never a silent pass).
pub fn assert_matches_file(actual: &str, expected: &Path) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(expected, actual).expect("write expected output");
        return;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_else(|e| {
        panic!("{}: {e} (run with BLESS=1 to create it, then review it)", expected.display())
    });
    if want != actual {
        panic!("{} differs:\n--- expected\n{want}\n--- actual\n{actual}", expected.display());
    }
}

/// Every file in `dir` with extension `ext`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}
