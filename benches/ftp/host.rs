//! The host side of the run: the work directory (on tmpfs when there is one) and the file in it,
//! and readings for the report: load average, `openssl speed`, versions.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::MIB;
use crate::readings::command_output;

/// `len` pseudo-random bytes (xorshift64*): incompressible, quick to make.
pub fn random_file(path: &Path, len: u64) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(MIB as usize, fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len;
    let mut chunk = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            word.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(MIB);
        out.write_all(&chunk[..n as usize])?;
        left -= n;
    }
    out.flush()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

pub fn loadavg() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

pub fn versions() -> Vec<String> {
    let first = |out: Option<String>, what: &str| {
        out.and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
            .unwrap_or_else(|| format!("{what}: unavailable"))
    };
    vec![
        format!("pagent: {}", env!("CARGO_BIN_EXE_pagent")),
        // vsftpd -v writes its version to fd 0.
        first(command_output("sh", &["-c", "/usr/sbin/vsftpd -v 0>&1"]), "vsftpd"),
        first(command_output("curl", &["--version"]), "curl"),
        first(command_output("openssl", &["version"]), "openssl"),
    ]
}

/// The work directory (on tmpfs when there is one: the file then costs no disk I/O), removed at
/// the end, panics included.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> io::Result<TempDir> {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("attls-ftp-bench-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
