//! The keyring error ([`KeyringError`]: file, problem, fix) and the helpers that build it, including
//! the wording for I/O failures.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A keyring problem: the file, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringError {
    pub path: PathBuf,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (hint: {})", self.path.display(), self.message, self.hint)
    }
}

impl std::error::Error for KeyringError {}

pub(super) fn err(path: &Path, message: impl Into<String>, hint: impl Into<String>) -> KeyringError {
    KeyringError { path: path.to_path_buf(), message: message.into(), hint: hint.into() }
}

pub(super) fn io_err(path: &Path, what: &str, e: &io::Error) -> KeyringError {
    let (message, hint) = match e.kind() {
        io::ErrorKind::NotFound => {
            ("does not exist".into(), "check the Keyring path: a PEM or PKCS#12 file, or a directory of them")
        }
        io::ErrorKind::PermissionDenied => {
            (format!("cannot {what}: permission denied"), "give the user pagent runs as access to it")
        }
        _ => (format!("cannot {what}: {e}"), "check the path, its permissions and the disk"),
    };
    err(path, message, hint)
}
