//! `pagent start [-c CONFIG] [--log-format text|json] [--log-level LEVEL]`: runs the agent in the
//! foreground until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::{self, Config, Protocol};
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
    /// Log lines as text or as JSON objects (to stderr).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// error, warn, info, debug or trace (RUST_LOG overrides).
    #[arg(long, default_value = "info")]
    log_level: String,
}

pub fn run(a: StartArgs) -> ExitCode {
    init_logging(a.log_format, &a.log_level);
    let config = match config::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            eprintln!("configuration invalid: nothing started");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
        for (name, addr) in &running.listeners {
            say!("listening {name} {addr}");
        }
        if !hints.is_empty() {
            say!("{hints}");
        }
        running.wait(std::future::pending()).await;
        Ok::<(), String>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.trim_end());
            eprintln!("agent not started");
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
