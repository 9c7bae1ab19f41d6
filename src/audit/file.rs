//! The audit file: opened for appending (created with mode 0640), written a batch of lines at a
//! time, and reopened at its path on request (log rotation). A write that fails keeps what was not
//! written, so the next attempt neither loses nor repeats a byte; what waits is bounded
//! ([`MAX_PENDING_BYTES`]). Blocking: the writer task calls it on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The most bytes of records waiting for the file (a failing disk); further records are refused
/// and counted as lost.
pub const MAX_PENDING_BYTES: usize = 8 << 20;

/// The permissions of a file the agent creates (the umask may take more away).
const CREATE_MODE: u32 = 0o640;

/// The open audit file and the lines not yet in it.
#[derive(Debug)]
pub struct AuditFile {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    /// A reopen was asked for and has not succeeded yet.
    reopen_wanted: bool,
}

impl AuditFile {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path) -> io::Result<AuditFile> {
        Ok(AuditFile {
            path: path.to_path_buf(),
            file: open(path)?,
            pending: Vec::new(),
            reopen_wanted: false,
        })
    }

    /// Queues one line; false (and nothing queued) when [`MAX_PENDING_BYTES`] would be passed.
    pub fn push(&mut self, line: &str) -> bool {
        if self.pending.len() + line.len() > MAX_PENDING_BYTES {
            return false;
        }
        self.pending.extend_from_slice(line.as_bytes());
        true
    }

    /// Whether anything waits to be written or reopened.
    pub fn has_work(&self) -> bool {
        !self.pending.is_empty() || self.reopen_wanted
    }

    /// Asks for the path to be opened again before the next write.
    pub fn want_reopen(&mut self) {
        self.reopen_wanted = true;
    }

    /// Reopens the path if asked to (the old file is closed only once the new one is open), then
    /// writes every waiting byte. A failed reopen keeps writing to the old file and is tried again
    /// next time; a failed write keeps the bytes it did not write.
    pub fn write_pending(&mut self) -> Result<(), WriteError> {
        let reopened = if self.reopen_wanted {
            match open(&self.path) {
                Ok(f) => {
                    self.file = f;
                    self.reopen_wanted = false;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            Ok(())
        };
        let mut written = 0;
        let result = loop {
            if written == self.pending.len() {
                break Ok(());
            }
            match self.file.write(&self.pending[written..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..written);
        match (reopened, result) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) => Err(WriteError::Reopen(e)),
            (Ok(()), Err(e)) => Err(WriteError::Write(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What went wrong with the file (logged by the writer, tried again with the next batch).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot reopen it (records go to the file open before): {0}")]
    Reopen(io::Error),
    #[error("cannot write (the records wait and are written later): {0}")]
    Write(io::Error),
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(CREATE_MODE).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("attls-audit-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn appends_creates_0640_and_reopens_after_a_rename() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("rotate");
        let path = dir.join("audit.jsonl");
        std::fs::write(&path, "earlier\n").expect("seed");
        std::fs::remove_file(&path).expect("start without the file");
        let mut f = AuditFile::open(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("created").permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "at most 0640: {mode:o}");
        assert!(f.push("one\n") && f.push("two\n"));
        f.write_pending().expect("write");
        assert!(!f.has_work());
        std::fs::rename(&path, dir.join("audit.jsonl.1")).expect("rotate");
        f.want_reopen();
        assert!(f.has_work(), "a reopen is work even with nothing to write");
        assert!(f.push("three\n"));
        f.write_pending().expect("write after the reopen");
        assert_eq!(std::fs::read_to_string(dir.join("audit.jsonl.1")).expect("old"), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).expect("new"), "three\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_reopen_keeps_the_old_file_and_tries_again() {
        let dir = temp("reopen-fails");
        let sub = dir.join("logs");
        std::fs::create_dir_all(&sub).expect("logs dir");
        let path = sub.join("audit.jsonl");
        let mut f = AuditFile::open(&path).expect("open");
        std::fs::rename(&sub, dir.join("moved")).expect("move the directory away");
        f.want_reopen();
        assert!(f.push("kept\n"));
        assert!(matches!(f.write_pending(), Err(WriteError::Reopen(_))));
        assert_eq!(std::fs::read_to_string(dir.join("moved/audit.jsonl")).expect("old"), "kept\n");
        std::fs::create_dir_all(&sub).expect("the directory is back");
        assert!(f.has_work(), "the reopen is still wanted");
        assert!(f.push("new\n"));
        f.write_pending().expect("reopened now");
        assert_eq!(std::fs::read_to_string(&path).expect("new file"), "new\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_write_error_keeps_the_lines_and_the_bound_refuses_more() {
        let mut f = AuditFile::open(Path::new("/dev/full")).expect("open /dev/full");
        assert!(f.push("waits\n"));
        assert!(matches!(f.write_pending(), Err(WriteError::Write(_))));
        assert!(f.has_work(), "the line waits for the next attempt");
        let big = "x".repeat(MAX_PENDING_BYTES);
        assert!(!f.push(&big), "over the bound");
        assert!(f.push(&"y".repeat(MAX_PENDING_BYTES - 6)), "exactly up to the bound");
    }
}
