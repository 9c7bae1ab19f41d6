//! The keyring password of a rule: `KeyringPw` when written, else the first line of the
//! `KeyringStashFile` file. A stash file must be private to its owner (no read or write bits for
//! group or others: `chmod 600`), and is checked on the open file, so it cannot be swapped between
//! the check and the read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{KeyringError, err};

/// A larger stash file is not read (the password is its first line).
const MAX_STASH_BYTES: u64 = 64 * 1024;

/// The password for a rule's keyring: `keyring_pw`, else the first line of `stash_file` (a relative
/// path is taken from `policy_dir`, the directory of the policy file that wrote it), else none.
pub fn password_for(
    keyring_pw: Option<&str>,
    stash_file: Option<&str>,
    policy_dir: Option<&Path>,
) -> Result<Option<String>, KeyringError> {
    if let Some(pw) = keyring_pw {
        return Ok(Some(pw.to_string()));
    }
    let Some(stash) = stash_file else { return Ok(None) };
    let path = match Path::new(stash) {
        p if p.is_absolute() => p.to_path_buf(),
        p => policy_dir.map_or_else(|| PathBuf::from(p), |dir| dir.join(p)),
    };
    read_stash(&path).map(Some)
}

/// The first line of a private stash file.
fn read_stash(path: &Path) -> Result<String, KeyringError> {
    let shown = path.display();
    let cannot = |e: std::io::Error| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "check the KeyringStashFile path".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                format!("give the user pagent runs as read access to {shown}")
            }
            _ => "check the file and the disk".to_string(),
        };
        err(path, format!("cannot read the stash file: {e}"), hint)
    };
    let not_a_file =
        || err(path, "is not a file", "point KeyringStashFile at a file whose first line is the password");
    // A directory, or a FIFO whose open would block, is refused before it is opened; the mode is
    // then checked on the open file, the one that is read.
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(not_a_file());
    }
    let mut file = File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o066 != 0 {
        let message = format!(
            "the stash file can be read or written by its group or by others (mode {mode:04o}); a password file must be private"
        );
        return Err(err(path, message, format!("chmod 600 {shown}")));
    }
    if meta.len() > MAX_STASH_BYTES {
        let message = format!("the stash file is larger than {MAX_STASH_BYTES} bytes");
        return Err(err(path, message, "its first line is the password: keep nothing else in it"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let text = std::str::from_utf8(first).ok().filter(|t| !t.chars().any(|c| c.is_control() && c != '\t'));
    match text {
        Some("") => Err(err(
            path,
            "the stash file's first line is empty",
            "put the keyring password on its first line",
        )),
        Some(password) => Ok(password.to_string()),
        None => Err(err(
            path,
            "the stash file's first line is not text; a z/OS stash file (gskkyman .sth) keeps the password scrambled and cannot be used",
            "write the password on the first line of a text file, readable by its owner only (chmod 600)",
        )),
    }
}
