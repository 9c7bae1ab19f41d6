//! Fuzz target `keyring`: any bytes as a PEM keyring, loaded by `attls::keyring::load` (the loader
//! reads files: the input is written to a directory of this process under the temporary
//! directory, a few system calls per run).
//!
//! Input: a file `keyring.pem`, loaded as a file; or, if it starts with `@@`, a directory whose
//! files each start at a line `@@ NAME` (NAME reduced to `[A-Za-z0-9._-]`, hidden names and other
//! extensions included, as the loader must skip them). A first line `@@pw` loads with a password.
//!
//! Asserts: no panic; an error names the keyring or one of its files, has a message and a hint,
//! prints as `PATH: message (hint: …)`, and a `line N` in it is a line of that file; a loaded
//! keyring holds a certificate, its identities have unique non-empty labels that `identity()`
//! finds (and `identity(None)` succeeds exactly when there is one), a chain and a source file of
//! the keyring, and its trust anchors are listed once each.

#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use attls::keyring::{Keyring, KeyringError, load};
use libfuzzer_sys::fuzz_target;

/// This process's scratch directory (libFuzzer's -fork/-jobs run several processes).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("attls-fuzz-keyring-{}", std::process::id())))
}

/// The files of a directory input: `(name, contents)`.
fn sections(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Some(name) = line.strip_prefix(b"@@ ") {
            let mut name: String = name
                .iter()
                .map(|&b| b as char)
                .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .take(40)
                .collect();
            if name.chars().all(|c| c == '.') || files.iter().any(|(n, _)| *n == name) {
                name = format!("f{}.pem", files.len());
            }
            if files.len() == 6 {
                break;
            }
            files.push((name, Vec::new()));
        } else if let Some((_, contents)) = files.last_mut() {
            contents.extend_from_slice(line);
        }
    }
    files
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("scratch directory");
    let (password, data) = match data.strip_prefix(b"@@pw\n") {
        Some(rest) => (Some("secret"), rest),
        None => (None, data),
    };
    let files =
        if data.starts_with(b"@@ ") { sections(data) } else { vec![("keyring.pem".into(), data.to_vec())] };
    for (name, contents) in &files {
        fs::write(dir.join(name), contents).expect("scratch file");
    }
    let target = if data.starts_with(b"@@ ") { dir.to_path_buf() } else { dir.join("keyring.pem") };
    match load(&target, password) {
        Ok(k) => check_keyring(&k, &target, dir),
        Err(e) => check_error(&e, &target, &files, dir),
    }
});

fn check_error(e: &KeyringError, target: &Path, files: &[(String, Vec<u8>)], dir: &Path) {
    let in_keyring = e.path == target || e.path.parent() == Some(dir);
    assert!(in_keyring, "the error names {}, not the keyring {}", e.path.display(), target.display());
    assert!(!e.message.is_empty() && !e.hint.is_empty(), "{e:?}");
    assert!(e.to_string().starts_with(&format!("{}: ", e.path.display())));
    if let Some(n) = e.message.strip_prefix("line ").and_then(|r| r.split(':').next()) {
        let n: usize = n.parse().unwrap_or_else(|_| panic!("line number in {:?}", e.message));
        let name = e.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let contents = files.iter().find(|(f, _)| f == name).map_or(&[][..], |(_, c)| c.as_slice());
        let lines = contents.split_inclusive(|&b| b == b'\n').count();
        assert!((1..=lines).contains(&n), "line {n} of a file of {lines} lines");
    }
}

fn check_keyring(k: &Keyring, target: &Path, dir: &Path) {
    assert_eq!(k.path, target);
    assert!(!k.identities.is_empty() || !k.trust.is_empty(), "a keyring without a certificate");
    for (i, id) in k.identities.iter().enumerate() {
        assert!(!id.label.is_empty());
        assert!(k.identities[..i].iter().all(|o| o.label != id.label), "label {} twice", id.label);
        assert!(k.identity(Some(&id.label)).is_ok_and(|found| std::ptr::eq(found, id)));
        assert!(!id.chain.is_empty());
        assert!(id.source == target || id.source.parent() == Some(dir), "{}", id.source.display());
    }
    assert_eq!(k.identity(None).is_ok(), k.identities.len() == 1);
    for (i, c) in k.trust.iter().enumerate() {
        assert!(!k.trust[..i].contains(c), "a trust anchor listed twice");
    }
    if let Err(e) = k.root_store() {
        assert_eq!(e.path, target);
    }
}
