//! Commands that talk to a running agent through its control socket (docs/control-protocol.md):
//! `pagent refresh` (alias `update`; `--dry-run` installs nothing), `pagent netstat` (`--group`:
//! by TTLSGroupAction) and `pagent ctl`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::config::DEFAULT_CONTROL_SOCKET;
use crate::control::client::request;
use crate::control::proto::Request;

/// How to find the agent: `-c CONFIG` (its ControlSocket), `--socket PATH`, or the default.
#[derive(Debug, Args)]
pub struct AgentAddress {
    /// The main configuration of the running agent (its ControlSocket is used).
    #[arg(short = 'c', long = "config", value_name = "CONFIG", conflicts_with = "socket")]
    config: Option<PathBuf>,
    /// The control socket of the running agent (without -c or --socket: /run/attls/pagent.sock).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

impl AgentAddress {
    /// The main configuration named with `-c`, if any.
    pub(super) fn config_path(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }

    fn socket(&self) -> Result<PathBuf, String> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        if let Some(c) = &self.config {
            return crate::config::load(c).map(|c| c.control_socket).map_err(|e| e.to_string());
        }
        Ok(PathBuf::from(DEFAULT_CONTROL_SOCKET))
    }
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    at: AgentAddress,
    /// Install nothing: check the policy files as they are now (keyrings included) and print what a
    /// refresh would change: rules added (+), removed (-) and changed (~, each setting old -> new),
    /// and how many live connections would map to another rule. Exit 1 with every error if invalid.
    #[arg(long)]
    dry_run: bool,
    /// The dry run's report as JSON (with --dry-run).
    #[arg(long, requires = "dry_run")]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NetstatArgs {
    #[command(flatten)]
    at: AgentAddress,
    /// One connection (ConnID, leading zeros optional: 2A).
    #[arg(long, value_name = "ID")]
    conn: Option<String>,
    /// By TTLSGroupAction (z/OS Netstat TTLS GROUP DETAIL): each group and environment action of the
    /// running policy, the rules using it and its live connections by TLS state.
    #[arg(long, conflicts_with = "conn")]
    group: bool,
    /// The full TTLS report of the connection (with --conn).
    #[arg(long, requires = "conn")]
    detail: bool,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn call(at: &AgentAddress, req: Request) -> Result<Value, String> {
    let socket = at.socket()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(request(&socket, &req)).map_err(|e| e.to_string())
}

/// [`call`], the agent's refusal or a failed call printed: the reply when the agent answered ok,
/// else the exit code (1) to return.
pub(super) fn call_ok(at: &AgentAddress, req: Request) -> Result<Value, ExitCode> {
    match call(at, req) {
        Ok(reply) if reply["ok"] == true => Ok(reply),
        Ok(reply) => {
            if let Some(d) = reply["diagnostics"].as_str() {
                eprintln!("{}", d.trim_end());
            }
            eprintln!("{}", failed(&reply));
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn failed(reply: &Value) -> String {
    format!(
        "{}: {}",
        reply["errno"].as_str().unwrap_or("ERROR"),
        reply["message"].as_str().unwrap_or("the agent refused the request")
    )
}

pub fn refresh(a: RefreshArgs) -> ExitCode {
    if a.dry_run {
        return dry_run(&a);
    }
    match call_ok(&a.at, Request::new("refresh")) {
        Ok(reply) => {
            eprintln!("policy refreshed: generation {}", reply["generation"]);
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `refresh --dry-run`: the report on stdout (text or JSON), diagnostics on stderr; exit 1 when
/// the files are invalid.
fn dry_run(a: &RefreshArgs) -> ExitCode {
    let reply = match call_ok(&a.at, Request::new("refresh_dry_run")) {
        Ok(reply) => reply,
        Err(code) => return code,
    };
    let valid = reply["report"]["valid"] == true;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&reply["report"]).unwrap_or_default());
    } else {
        let diagnostics = reply["diagnostics"].as_str().unwrap_or_default();
        if !diagnostics.is_empty() {
            eprintln!("{}", diagnostics.trim_end());
        }
        say_raw!("{}", reply["text"].as_str().unwrap_or_default());
    }
    if valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

pub fn netstat(a: NetstatArgs) -> ExitCode {
    let mut req = Request::new(if a.group { "netstat_group" } else { "netstat" });
    req.conn = a.conn.clone();
    req.detail = a.detail;
    match call_ok(&a.at, req) {
        Ok(reply) => {
            if a.json {
                say!("{}", serde_json::to_string_pretty(&reply["report"]).unwrap_or_default());
            } else {
                say_raw!("{}", reply["text"].as_str().unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// The operations of `pagent ctl` (docs/policy-reference.md#control-socket; z/OS SIOCTTLSCTL
/// requests). The protocol's snake_case names are accepted too.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "kebab-case")]
pub enum CtlOp {
    Query,
    Init,
    Stop,
    #[value(alias = "reset_session")]
    ResetSession,
    #[value(alias = "reset_cipher")]
    ResetCipher,
    #[value(alias = "reset_write_cipher")]
    ResetWriteCipher,
    #[value(alias = "send_session_ticket")]
    SendSessionTicket,
    #[value(alias = "return_certificate", alias = "return-certificate")]
    Cert,
}

impl CtlOp {
    /// The op's name in the control protocol.
    fn wire(self) -> &'static str {
        match self {
            CtlOp::Query => "query",
            CtlOp::Init => "init",
            CtlOp::Stop => "stop",
            CtlOp::ResetSession => "reset_session",
            CtlOp::ResetCipher => "reset_cipher",
            CtlOp::ResetWriteCipher => "reset_write_cipher",
            CtlOp::SendSessionTicket => "send_session_ticket",
            CtlOp::Cert => "return_certificate",
        }
    }
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    #[command(flatten)]
    at: AgentAddress,
    /// The connection by ConnID (leading zeros optional).
    #[arg(long, value_name = "ID", required_unless_present = "app_peer", conflicts_with = "app_peer")]
    conn: Option<String>,
    /// The connection as the application sees it: its getpeername() (IP:PORT).
    #[arg(long, value_name = "ADDR")]
    app_peer: Option<String>,
    #[arg(value_enum)]
    op: CtlOp,
    /// init/stop: switch after exactly this many bytes the application has written on the connection.
    #[arg(long, value_name = "N")]
    written: Option<u64>,
    /// init: start the handshake only if the peer's first bytes are a ClientHello within
    /// HandshakeTimeout; otherwise stay up in clear instead of resetting.
    #[arg(long)]
    allow_hstimeout: bool,
    /// The reply as JSON.
    #[arg(long)]
    json: bool,
}

pub fn ctl(a: CtlArgs) -> ExitCode {
    let mut req = Request::new(a.op.wire());
    req.conn = a.conn.clone();
    req.app_peer = a.app_peer.clone();
    req.written = a.written;
    req.allow_hstimeout = a.allow_hstimeout;
    match call(&a.at, req) {
        Ok(reply) => {
            if a.json {
                say!("{reply}");
            } else if let Some(fields) = reply.as_object().filter(|_| reply["ok"] == true) {
                for (k, v) in fields.iter().filter(|(k, _)| !matches!(k.as_str(), "v" | "ok")) {
                    let shown = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => "-".into(),
                        other => other.to_string(),
                    };
                    say!("{k}: {shown}");
                }
            }
            if reply["ok"] == true {
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", failed(&reply));
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
