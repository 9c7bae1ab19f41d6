//! Hercules (`/usr/bin/hercules`, Debian package `hercules`, 3.13) as a plaintext TN3270 server.
//!
//! Started as `timeout --kill-after=5 300 hercules -d -f hercules.cnf` with stdin from /dev/null, in
//! its own process group, in a temporary directory. `-d` is daemon mode (no panel); with stdin at
//! end of file Hercules keeps running (it ignores the end of its command input), and `timeout`
//! ends an instance a killed test run left behind. Ready when the log says `HHCTE003I Waiting for
//! console connection on port N`; a taken port shows `HHCTE002W Waiting for port N to become free`
//! and the start is retried on another port. Each console connection takes a free 3270 device
//! (`0700.2 3270`: two of them) and gets the logo screen, which has no input field (wait for
//! output, not for an input field).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::agent::{TempDir, eventually};

/// Text of the Hercules logo screen (the console port's first screen).
pub const LOGO_TEXT: &str = "My PC thinks it's a MAINFRAME";

/// How long a start may take.
const START_WAIT: Duration = Duration::from_secs(15);

/// A running Hercules whose console port is a TN3270 server on 127.0.0.1; its process group is
/// killed on drop.
pub struct Hercules {
    port: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Hercules {
    /// Starts Hercules on a free port (panics with its log if it cannot).
    pub fn start() -> Hercules {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port =
                TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let dir = TempDir::new("hercules");
            let config = dir.path().join("hercules.cnf");
            std::fs::write(&config, config_text(port)).expect("write hercules.cnf");
            let log = dir.path().join("hercules.log");
            let out = File::create(&log).expect("create hercules.log");
            let child = Command::new("timeout")
                .args(["--kill-after=5", "300", "hercules", "-d", "-f"])
                .arg(&config)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log handle"))
                .stderr(out)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn hercules: {e}"));
            let mut h = Hercules { port, child, log, _dir: dir };
            let ready = format!("Waiting for console connection on port {port}");
            let taken = format!("Waiting for port {port} to become free");
            eventually(START_WAIT, || {
                let log = h.log();
                log.contains(&ready) || log.contains(&taken) || h.child.try_wait().ok().flatten().is_some()
            });
            if h.log().contains(&ready) {
                return h;
            }
            last_log = h.log();
            h.kill();
        }
        panic!("hercules did not listen on a free port in 5 tries; last log:\n{last_log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The console port: a plaintext TN3270 server.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Everything Hercules logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Console clients connected so far (`HHCTE009I Client ... connected to 3270 device`).
    pub fn clients(&self) -> usize {
        self.log().matches("HHCTE009I").count()
    }

    fn kill(&mut self) {
        // The group: `timeout` and Hercules; its id is the child's pid. The shell's own `kill` (no
        // procps needed).
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -KILL -{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hercules {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- hercules log ({})\n{}--- end of hercules log", self.log.display(), self.log());
        }
    }
}

/// A console-only machine: no IPL device, two 3270 devices for console clients.
fn config_text(port: u16) -> String {
    format!(
        "# attls test: Hercules as a plaintext TN3270 server; nothing is IPLed.\n\
         ARCHMODE  ESA/390\n\
         MAINSIZE  2\n\
         NUMCPU    1\n\
         CNSLPORT  127.0.0.1:{port}\n\
         0700.2    3270\n"
    )
}
