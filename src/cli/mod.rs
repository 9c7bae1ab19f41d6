//! The `pagent` command line: clap definitions and dispatch, one module per subcommand. Diagnostics
//! and summaries go to stderr; reports to stdout. Exit 0 = valid, 1 = invalid policy, 2 = usage.

/// `println!` and `print!` for command output: a reader that goes away (`pagent netstat | head`)
/// ends the process quietly instead of a panic.
macro_rules! say {
    ($($t:tt)*) => { $crate::cli::write_stdout(format_args!($($t)*), true) };
}
macro_rules! say_raw {
    ($($t:tt)*) => { $crate::cli::write_stdout(format_args!($($t)*), false) };
}

mod agent_cmds;
mod check;
mod check_listeners;
mod clients;
mod clients_against;
mod docs_out;
mod intercept;
mod search;
mod start;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::policy::{LoadOptions, Loaded, load_files};

#[derive(Debug, Parser)]
#[command(name = "pagent", version = crate::engine::fips::VERSION, about = "attls policy agent: z/OS AT-TLS policies for Linux")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate policy files; with --match, show the rule one connection would get.
    Check(check::CheckArgs),
    /// Every rule in evaluation order with its conditions and resolved actions (like pasearch -t).
    Search(search::SearchArgs),
    /// Run the agent in the foreground.
    Start(start::StartArgs),
    /// Reload the running agent's policy (z/OS F PAGENT,REFRESH), or with --dry-run show what would
    /// change; exit 1 and every error if invalid.
    #[command(alias = "update")]
    Refresh(agent_cmds::RefreshArgs),
    /// Live connections through the running agent (z/OS Netstat TTLS); --group: by TTLSGroupAction.
    Netstat(agent_cmds::NetstatArgs),
    /// The clients seen per rule (their ClientHello profiles), and with --against whether each
    /// would pass a candidate policy (docs/clients.md).
    Clients(clients::ClientsArgs),
    /// Query or steer one connection's TLS, as an application does with z/OS SIOCTTLSCTL.
    ///
    /// OP says what to do (docs/control-protocol.md): query prints the connection's policy and
    /// connection status, protocol, cipher, rule and map type; cert (alias return_certificate) the
    /// peer's certificate and whether it was validated. On a connection whose rule has
    /// ApplicationControlled On, init starts TLS in the rule's role and stop goes back to clear, at
    /// once or after exactly --written N application bytes; reset-cipher and reset-write-cipher renew
    /// the TLS 1.3 keys (KeyUpdate); reset-session and send-session-ticket answer EOPNOTSUPP. The
    /// control protocol's snake_case names are accepted too.
    Ctl(agent_cmds::CtlArgs),
    /// Print the nftables rules (for `nft -f -`) that send connections to the transparent listeners.
    SetupIntercept(intercept::InterceptArgs),
    /// Print a completion script for bash, zsh or fish to stdout.
    Completions(docs_out::CompletionsArgs),
    /// Write the man pages (section 8) of pagent and of each subcommand into DIR.
    Man(docs_out::ManArgs),
}

/// Exit code for a usage error found after clap (e.g. a bad address in --match).
pub const USAGE: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(a) => check::run(a),
        Command::Search(a) => search::run(a),
        Command::Start(a) => start::run(a),
        Command::Refresh(a) => agent_cmds::refresh(a),
        Command::Netstat(a) => agent_cmds::netstat(a),
        Command::Clients(a) => clients::run(a),
        Command::Ctl(a) => agent_cmds::ctl(a),
        Command::SetupIntercept(a) => intercept::run(a),
        Command::Completions(a) => docs_out::completions(a),
        Command::Man(a) => docs_out::man(a),
    }
}

/// Loads the files and prints every diagnostic to stderr.
fn load_and_report(files: &[PathBuf], opts: LoadOptions) -> Loaded {
    let loaded = load_files(files, opts);
    eprint!("{}", loaded.diagnostics.render(&loaded.sources));
    loaded
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// The one-line summary printed to stderr after a load.
fn summary(loaded: &Loaded) -> String {
    let c = loaded.counts();
    if c.errors > 0 {
        format!("policy invalid: {}, {}", plural(c.errors, "error"), plural(c.warnings, "warning"))
    } else {
        format!(
            "policy valid: {}, {}, {}",
            plural(c.rules, "rule"),
            plural(c.actions, "action"),
            plural(c.warnings, "warning")
        )
    }
}

/// Writes command output to stdout; a closed pipe ends the process with status 0, as a reader that
/// stopped early (`head`) expects, and any other write error with status 1.
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args).and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = r.and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}
