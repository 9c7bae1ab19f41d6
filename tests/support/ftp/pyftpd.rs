//! pyftpdlib (Debian's `python3-pyftpdlib`) as a test FTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::clients::PYTHON;
use super::servers::{PASV_PORTS, START_TRIES, ServerProc, logged_commands, port_block, served_root, token};
use super::{FtpServer, Login};
use crate::support::agent::TempDir;

/// The pyftpdlib server: user `test`/`secret` with every permission, anonymous read-only, DEBUG
/// log of every command and reply.
const PYFTPD: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer

root, port, lo, hi, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
auth = DummyAuthorizer()
auth.add_user("test", "secret", root, perm="elradfmwMT")
auth.add_anonymous(root, perm="elr")
handler = type("Handler", (FTPHandler,), {})
handler.authorizer = auth
handler.banner = "attls test pyftpdlib " + token
handler.passive_ports = list(range(lo, hi + 1))
handler.permit_foreign_addresses = False
handler.timeout = 120
handler.auth_failed_timeout = 0
config_logging(level=logging.DEBUG)
FTPServer(("127.0.0.1", port), handler).serve_forever()
"#;

/// pyftpdlib (Debian's `python3-pyftpdlib`, run by `/usr/bin/python3`) on 127.0.0.1, plain FTP:
/// user `test`/`secret` may do everything, anonymous may only list and read.
pub struct Pyftpd {
    proc: ServerProc,
    pub port: u16,
    /// The served directory (home of both logins).
    pub root: PathBuf,
    /// `ROOT/upload`, for uploads by `test`.
    pub upload: PathBuf,
    /// The passive port range (inclusive).
    pub pasv_ports: (u16, u16),
    /// stdout and stderr: every command and reply (DEBUG).
    log: PathBuf,
    _dir: TempDir,
}

impl Pyftpd {
    pub fn start() -> Pyftpd {
        let dir = TempDir::new("pyftpd");
        let (root, upload) = served_root(dir.path());
        let token = token(dir.path());
        let log = dir.path().join("pyftpd.log");
        let mut last_error = String::new();
        for _ in 0..START_TRIES {
            let port = port_block(PASV_PORTS + 1);
            let pasv_ports = (port + 1, port + PASV_PORTS);
            let mut cmd = Command::new(PYTHON);
            cmd.args(["-c", PYFTPD])
                .arg(&root)
                .args([port, pasv_ports.0, pasv_ports.1].map(|p| p.to_string()))
                .arg(&token)
                .current_dir(dir.path());
            let mut proc = ServerProc::spawn("pyftpdlib", cmd, &log, vec![log.clone()]);
            match proc.wait_ready(port, &token, false) {
                Ok(()) => return Pyftpd { proc, port, root, upload, pasv_ports, log, _dir: dir },
                Err(e) => last_error = format!("{e}\n{}", proc.log_text()),
            }
        }
        panic!("pyftpdlib did not start in {START_TRIES} tries; last:\n{last_error}");
    }
}

impl FtpServer for Pyftpd {
    fn name(&self) -> &'static str {
        "pyftpdlib"
    }
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    fn root(&self) -> &Path {
        &self.root
    }
    fn upload_dir(&self) -> &Path {
        &self.upload
    }
    fn pasv_ports(&self) -> (u16, u16) {
        self.pasv_ports
    }
    fn login(&self) -> Login {
        Login::TEST
    }
    fn log_text(&self) -> String {
        self.proc.log_text()
    }
    fn commands(&self) -> Vec<String> {
        // `[D 2026-01-01 10:00:00] 127.0.0.1:40000-[test] <- RETR x`
        logged_commands(&self.log, "] <- ", |rest| Some(rest))
    }
}
