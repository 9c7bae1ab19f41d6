//! `pagent start [-c CONFIG] [--log-format text|json] [--log-level LEVEL]`: runs the agent in the
//! foreground until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::{self, Config, Protocol};
use crate::messages;
use crate::policy::table::ConnDirection;

pub const DEFAULT_CONFIG: &str = "/etc/attls/pagent.conf";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The main configuration.
    #[arg(short = 'c', long = "config", value_name = "CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Log lines as text or as JSON objects (to stderr; `Log Syslog` in the configuration sends
    /// them to syslog instead).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// error, warn, info, debug or trace (RUST_LOG overrides).
    #[arg(long, default_value = "info")]
    log_level: String,
}

pub fn run(a: StartArgs) -> ExitCode {
    // The configuration first, since it says where the log goes; its errors go to stderr.
    let (config, warnings) = match config::load_with_warnings(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            eprintln!("configuration invalid: nothing started");
            return ExitCode::from(1);
        }
    };
    let log_to_syslog =
        crate::logging::init(config.log, matches!(a.log_format, LogFormat::Json), &a.log_level);
    for w in &warnings {
        tracing::warn!(msgid = messages::CONFIG_WARNING, "{}", w.trim_end());
    }
    // A worker polls for I/O only after this many task polls while it has work: more than its
    // local queue holds (256), so tasks that overflowed to the shared queue are served before new
    // events refill the local one. tokio's default (61) let 1,000 busy connections starve a few:
    // 1 KiB echo p99 112 ms against p50 4 ms on one CPU; with 300, 29 ms against 14 (README).
    let runtime = match tokio::runtime::Builder::new_multi_thread().event_interval(300).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let hints = ready_hints(&config);
    let result = runtime.block_on(async move {
        let running = crate::agent::start(config).await.map_err(|e| e.to_string())?;
        // Scripts and tests read these lines to find the bound ports.
        if let Some(addr) = running.metrics {
            say!("listening metrics {addr}");
        }
        for (name, addr) in &running.listeners {
            say!("listening {name} {addr}");
        }
        if !hints.is_empty() {
            say!("{hints}");
        }
        running.wait(std::future::pending()).await;
        Ok::<(), String>(())
    });
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.trim_end());
            eprintln!("agent not started");
            if log_to_syslog {
                tracing::error!(msgid = messages::NOT_STARTED, "agent not started: {}", e.trim_end());
            }
            ExitCode::from(1)
        }
    };
    // The last lines (shutting down, not started) are still queued for syslog.
    crate::logging::flush(std::time::Duration::from_secs(2));
    code
}

/// With a development keyring and a demo backend: where the keyring is and client lines that work.
fn ready_hints(config: &Config) -> String {
    let (Some(dev), Some(demo)) = (&config.dev_keyring, config.demo_backend) else { return String::new() };
    let Some(l) = config.listeners.iter().find(|l| {
        l.direction == ConnDirection::Inbound && l.protocol == Protocol::Raw && l.backend_port == demo.port()
    }) else {
        return String::new();
    };
    let ca = shell_word(&dev.join("ca.pem"));
    let port = l.listen.port();
    // Absolute paths, so the netstat line works as typed from any directory, whatever the PATH.
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("pagent"));
    let conf = std::path::absolute(&config.path).unwrap_or_else(|_| config.path.clone());
    format!(
        "attls is running: listener {} on {} relays to the plaintext demo backend on {demo}.\n\
         Development keyring: {} (CA certificate {}).\n\
         Try:\n  curl --cacert {} https://localhost:{port}/\n  \
         openssl s_client -connect 127.0.0.1:{port} -servername localhost -CAfile {} -brief\n\
         Then: {} netstat -c {}",
        l.name,
        l.listen,
        dev.display(),
        ca,
        ca,
        ca,
        shell_word(&exe),
        shell_word(&conf)
    )
}

/// `path` as one shell word: bare when it holds only characters no shell treats specially, else
/// single-quoted.
fn shell_word(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
