//! The plaintext server whose port is intercepted: this same program started again with
//! `ATTLS_INTERCEPT_SERVE=PORT`, so it is a process of its own with its own command name
//! ([`COMM`], the Jobname the policy's rule names, as /proc/PID/comm shows it). It echoes every
//! byte back on 127.0.0.1:PORT and says `ready` on stdout once it listens; it exits when its
//! stdin closes (the bench ended, however it ended).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The server's command name, and the Jobname of the policy's rule.
pub const COMM: &str = "benchsrv";
/// The environment variable that makes this program the server.
pub const ROLE: &str = "ATTLS_INTERCEPT_SERVE";

/// Starts the server on `port` and waits for its `ready`.
pub fn spawn(port: u16) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env(ROLE, port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim() != "ready" {
        let _ = child.kill();
        return Err(format!("the server said `{}`", line.trim()));
    }
    Ok(child)
}

/// The server's life: names itself, listens, echoes until stdin closes.
pub fn run(port: &str) -> ! {
    let _ = std::fs::write("/proc/self/comm", COMM);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let Ok(rt) = rt else { std::process::exit(1) };
    let code = rt.block_on(async {
        let Ok(listener) = TcpListener::bind(format!("127.0.0.1:{port}")).await else { return 1 };
        println!("ready");
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((s, _)) => {
                        tokio::spawn(echo(s));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        // Until the bench closes our stdin (or dies).
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await;
        0
    });
    std::process::exit(code)
}

async fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
