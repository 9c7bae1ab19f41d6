//! The ticket key file (main configuration `TicketKeyFile`): the keys that agents of a fleet share
//! so each resumes the others' sessions. One key per line, 64 hex digits (`openssl rand -hex 32`),
//! `#` comments and blank lines allowed. The first key seals new tickets; every key opens them. The
//! file must be mode 0600 or 0400 and owned by the agent's user. A file that changes is read again;
//! until a new version is valid, the keys read last stay in use.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Keys a file may hold (rotation needs two or three; more is a mistake).
pub const MAX_KEYS: usize = 64;
/// A larger file is not read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Why the ticket key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    #[error("TicketKeyFile {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("TicketKeyFile {path}: mode {mode:04o} lets others read or change the keys: chmod 600 {path}")]
    Mode { path: String, mode: u32 },
    #[error("TicketKeyFile {path}: owned by uid {owner}, not by the agent's user (uid {agent}): chown it")]
    Owner { path: String, owner: u32, agent: u32 },
    #[error("TicketKeyFile {path} line {line}: {why}")]
    Line { path: String, line: usize, why: String },
    #[error("TicketKeyFile {path}: {why}")]
    Content { path: String, why: String },
}

/// The keys read last, numbered so derived keys know when to follow.
#[derive(Clone)]
pub struct KeySet {
    pub version: u64,
    pub keys: Vec<[u8; 32]>,
}

/// The ticket key file and the keys in use.
pub struct TicketKeys {
    pub path: PathBuf,
    current: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKeys")
            .field("path", &self.path)
            .field("keys", &self.current().keys.len())
            .finish()
    }
}

impl TicketKeys {
    /// Reads the file; an error if it cannot be used.
    pub fn load(path: &Path) -> Result<TicketKeys, TicketKeyError> {
        let keys = read(path)?;
        Ok(TicketKeys {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(KeySet { version: 1, keys })),
        })
    }

    /// Reads the file again. On success its keys replace those in use (and the count is returned);
    /// on error the keys in use stay.
    pub fn reload(&self) -> Result<usize, TicketKeyError> {
        let keys = read(&self.path)?;
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.keys != keys {
            *current = Arc::new(KeySet { version: current.version + 1, keys });
        }
        Ok(current.keys.len())
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Reads and checks a ticket key file.
pub fn read(path: &Path) -> Result<Vec<[u8; 32]>, TicketKeyError> {
    let shown = path.display().to_string();
    let io = |source| TicketKeyError::Io { path: shown.clone(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.mode() & 0o7777;
    if mode != 0o600 && mode != 0o400 {
        return Err(TicketKeyError::Mode { path: shown, mode });
    }
    let agent = rustix::process::geteuid().as_raw();
    if meta.uid() != agent {
        return Err(TicketKeyError::Owner { path: shown, owner: meta.uid(), agent });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(TicketKeyError::Content {
            path: shown,
            why: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse(&text).map_err(|(line, why)| match line {
        0 => TicketKeyError::Content { path: shown.clone(), why },
        line => TicketKeyError::Line { path: shown.clone(), line, why },
    })
}

/// The keys of a file's text; an error names its line (0: the whole file).
pub fn parse(text: &str) -> Result<Vec<[u8; 32]>, (usize, String)> {
    let mut keys: Vec<[u8; 32]> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let key = hex_key(line).ok_or_else(|| {
            (
                i + 1,
                format!(
                    "expected 64 hex digits (`openssl rand -hex 32`), found {} characters",
                    line.chars().count()
                ),
            )
        })?;
        if keys.contains(&key) {
            return Err((i + 1, "this key is already in the file".into()));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err((0, "no key: add one line of 64 hex digits (`openssl rand -hex 32`)".into()));
    }
    if keys.len() > MAX_KEYS {
        return Err((0, format!("{} keys; at most {MAX_KEYS}", keys.len())));
    }
    Ok(keys)
}

fn hex_key(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        key[i] = (hi * 16 + lo) as u8;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn lines_comments_and_errors() {
        let keys =
            parse(&format!("# fleet keys\n\n{A}  # newest\n{}\n", A.to_uppercase().replace("00", "01")))
                .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0][..4], [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(parse("# nothing\n").unwrap_err().0, 0);
        assert_eq!(parse(&format!("{A}\nabc\n")).unwrap_err().0, 2);
        assert_eq!(parse(&format!("{A}\n{A}\n")).unwrap_err(), (2, "this key is already in the file".into()));
        let zz = format!("zz{}", &A[2..]);
        assert_eq!(parse(&zz).unwrap_err().0, 1);
        let many: String = (0..=MAX_KEYS).map(|i| format!("{i:064x}\n")).collect();
        assert!(parse(&many).unwrap_err().1.contains("at most"));
    }

    #[test]
    fn mode_and_reload() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("attls-tk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        std::fs::write(&path, format!("{A}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = TicketKeys::load(&path).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let keys = TicketKeys::load(&path).unwrap();
        assert_eq!(keys.current().version, 1);
        std::fs::write(&path, "not a key\n").unwrap();
        assert!(keys.reload().is_err());
        assert_eq!(keys.current().keys.len(), 1, "the keys in use stay");
        std::fs::write(&path, format!("{}\n{A}\n", A.replace('0', "1"))).unwrap();
        assert_eq!(keys.reload().unwrap(), 2);
        assert_eq!(keys.current().version, 2);
        // Another owner (only root can give the file away; elsewhere this part is skipped).
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let e = keys.reload().unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534, not by the agent's user (uid 0)"), "{e}");
            assert_eq!(keys.current().keys.len(), 2, "the keys in use stay");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
