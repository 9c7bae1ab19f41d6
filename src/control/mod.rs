//! The control socket: a Unix socket speaking line-delimited JSON
//! (docs/policy-reference.md#control-socket). Agent-wide ops (`refresh`, `refresh_dry_run`,
//! `netstat`, `netstat_group`, `clients`) need root or the configured `ControlGroup`; every request
//! is checked with SO_PEERCRED. Oversized, malformed or slow requests get an error reply or a
//! timeout and never disturb other clients.

pub mod auth;
pub mod client;
mod policy_ops;
pub mod proto;
mod query;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, info, warn};

use crate::engine::controls::Controls;
use crate::engine::dry_run::DryRun;
use crate::engine::generation::{Generation, LoadError};
use crate::messages as msg;
use crate::registry::{ConnId, Registry};
use proto::{Errno, MAX_LINE, Request, VERSION, err, ok};

/// A client that sends nothing (or reads no reply) for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);
/// Control clients served at once; one more is answered EBUSY and closed.
const MAX_SESSIONS: usize = 512;

/// Why the control socket cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("ControlSocket {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("ControlSocket {path}: another agent is running there")]
    InUse { path: String },
    #[error("ControlSocket {path}: chown: {source}")]
    Chown { path: String, source: std::io::Error },
}

/// A reload in progress: the new generation's number, or why the policy was not installed.
pub type Reloading<'a> = Pin<Box<dyn Future<Output = Result<u64, LoadError>> + Send + 'a>>;

/// A dry run in progress: what a refresh would change, or why the policy is invalid.
pub type DryRunning<'a> = Pin<Box<dyn Future<Output = Result<DryRun, LoadError>> + Send + 'a>>;

/// How the control socket reaches the agent's policy: a refresh, a dry run of one, the generation
/// in force.
pub trait Reload: Send + Sync {
    fn reload(&self) -> Reloading<'_>;
    /// Loads the policy as a refresh would and compares it with the running one; installs nothing.
    fn dry_run(&self) -> DryRunning<'_>;
    /// The generation new connections map with.
    fn current(&self) -> Arc<Generation>;
}

/// What the control socket may use of a running agent.
pub struct Handle {
    pub registry: Arc<Registry>,
    /// The application-controlled connections' channels.
    pub controls: Arc<Controls>,
    /// The client inventory (`clients`).
    pub inventory: Arc<crate::inventory::Inventory>,
    pub reload: Arc<dyn Reload>,
    /// `ControlSocket` and `ControlGroup`.
    pub socket: PathBuf,
    pub group: Option<String>,
}

pub struct Server {
    agent: Arc<Handle>,
    sock: UnixListener,
}

impl Server {
    /// Binds the configured socket (replacing a stale one), mode 0660, group ControlGroup.
    pub async fn bind(agent: Handle) -> Result<Server, BindError> {
        let path = agent.socket.clone();
        let shown = path.display().to_string();
        let io = |source| BindError::Io { path: shown.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| BindError::Io { path: dir.display().to_string(), source })?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(BindError::InUse { path: shown });
            }
            let _ = std::fs::remove_file(&path);
        }
        let sock = UnixListener::bind(&path).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
        if let Some(group) = &agent.group {
            match auth::group_id(group) {
                Some(gid) => std::os::unix::fs::chown(&path, None, Some(gid))
                    .map_err(|source| BindError::Chown { path: shown.clone(), source })?,
                None => warn!(
                    msgid = msg::CONTROL_GROUP_UNKNOWN,
                    group, "ControlGroup names no group in /etc/group; only root may use the control socket"
                ),
            }
        }
        info!(msgid = msg::CONTROL_LISTENING, path = %path.display(), "control socket listening");
        Ok(Server { agent: Arc::new(agent), sock })
    }

    pub async fn serve(self) {
        let sessions = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
        loop {
            match self.sock.accept().await {
                Ok((stream, _)) => {
                    let Ok(place) = sessions.clone().try_acquire_owned() else {
                        tokio::spawn(busy(stream));
                        continue;
                    };
                    let agent = self.agent.clone();
                    tokio::spawn(async move {
                        client_session(agent, stream).await;
                        drop(place);
                    });
                }
                Err(e) => {
                    warn!(msgid = msg::CONTROL_ACCEPT_FAILED, "control socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// One control client too many: told so, and closed.
async fn busy(mut stream: UnixStream) {
    let reply = err(Errno::Ebusy, format!("more than {MAX_SESSIONS} control clients at once: try again"));
    let _ =
        tokio::time::timeout(Duration::from_secs(1), stream.write_all(format!("{reply}\n").as_bytes())).await;
}

async fn client_session(agent: Arc<Handle>, stream: UnixStream) {
    let cred = stream.peer_cred().ok();
    let (r, mut w) = stream.into_split();
    let mut r = tokio::io::AsyncReadExt::take(BufReader::new(r), 0);
    loop {
        let mut line = Vec::new();
        // A line longer than MAX_LINE is refused without reading it all into memory.
        r.set_limit(MAX_LINE as u64 + 1);
        let n = match tokio::time::timeout(IDLE, r.read_until(b'\n', &mut line)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                debug!("control client: {e}");
                return;
            }
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let reply = if line.len() > MAX_LINE {
            let _ = w
                .write_all(
                    format!("{}\n", err(Errno::Einval, format!("request longer than {MAX_LINE} bytes")))
                        .as_bytes(),
                )
                .await;
            return;
        } else {
            handle(&agent, cred, &line).await
        };
        // A client that does not read its replies is dropped, not waited for.
        let written = tokio::time::timeout(IDLE, w.write_all(format!("{reply}\n").as_bytes())).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

async fn handle(agent: &Handle, cred: Option<tokio::net::unix::UCred>, line: &[u8]) -> Value {
    let req: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => return err(Errno::Einval, format!("not a request: {e}")),
    };
    if req.v != VERSION {
        return err(
            Errno::Einval,
            format!("protocol version {} is not supported (this agent speaks {VERSION})", req.v),
        );
    }
    match req.op.as_str() {
        "refresh" | "update" | "netstat" | "refresh_dry_run" | "netstat_group" | "clients" => {
            if !auth::may_administer(cred, agent.group.as_deref()) {
                return err(Errno::Eperm, format!("{} needs root or membership of the ControlGroup", req.op));
            }
        }
        "query" => return query::query(agent, cred, &req),
        "return_certificate" => return query::return_certificate(agent, cred, &req),
        "init" | "stop" | "reset_session" | "reset_cipher" | "reset_write_cipher" | "send_session_ticket" => {
            return query::application_control(agent, cred, &req).await;
        }
        other => return err(Errno::Einval, format!("unknown op `{other}`")),
    }
    match req.op.as_str() {
        "netstat" => netstat(agent, &req),
        "netstat_group" => policy_ops::netstat_group(agent),
        "refresh_dry_run" => policy_ops::refresh_dry_run(agent).await,
        "clients" => {
            let report = agent.inventory.report(req.rule.as_deref());
            ok(Map::from_iter([("report".to_string(), report.to_json())]))
        }
        _ => match agent.reload.reload().await {
            Ok(generation) => ok(Map::from_iter([("generation".to_string(), json!(generation))])),
            Err(diagnostics) => {
                let mut v = err(Errno::Einval, "policy not installed; the previous policy stays in force");
                v["diagnostics"] = json!(diagnostics.to_string());
                v
            }
        },
    }
}

fn netstat(agent: &Handle, req: &Request) -> Value {
    let conns = agent.registry.snapshot();
    match &req.conn {
        None => {
            let mut m = Map::new();
            m.insert("text".into(), json!(crate::netstat::list_text(&conns)));
            m.insert("report".into(), crate::netstat::list_json(&conns));
            ok(m)
        }
        Some(id) => {
            let Ok(id) = id.parse::<ConnId>() else {
                return err(Errno::Einval, format!("`{id}` is not a ConnID"));
            };
            let Some(c) = conns.iter().find(|c| c.id == id) else {
                return err(Errno::Enoent, format!("no live connection {id}"));
            };
            let mut m = Map::new();
            m.insert("text".into(), json!(crate::netstat::detail_text(c)));
            m.insert("report".into(), crate::netstat::detail_json(c));
            ok(m)
        }
    }
}
