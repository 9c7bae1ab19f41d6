//! The agent: loads the configuration's policy into a [`Generation`], opens the listeners, the
//! control socket and the demo backend, and keeps the policy current. Startup, SIGHUP, file changes,
//! `RefreshInterval` and `pagent refresh` all go through [`Agent::reload`]; a policy with any error
//! installs nothing and the previous generation stays in force. At shutdown NOPURGE drains live
//! connections within a bound and PURGE closes them at once (D9).

mod dry_run;
mod notify;
mod signals;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch as cell};
use tracing::{error, info, warn};

pub use crate::engine::generation::{Generation, LoadError};

use crate::config::{Config, Protocol};
use crate::engine::Context;
use crate::expiry::report as expiry;
use crate::messages as msg;
use crate::registry::Registry;

/// What started a reload (for the log).
#[derive(Debug, Clone, Copy)]
pub enum ReloadCause {
    Start,
    Command,
    Signal,
    FileChange,
    Interval,
}

/// Why the agent did not start (nothing is served then).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Policy(#[from] LoadError),
    #[error("Listener {name}: cannot listen on {addr}: {source}")]
    Listen { name: String, addr: std::net::SocketAddr, source: std::io::Error },
    #[error("DemoBackend {addr}: {source}")]
    Demo { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("MetricsListen {addr}: {source}")]
    Metrics { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Control(#[from] crate::control::BindError),
    #[error("cannot install the {signal} handler: {source}")]
    Signal { signal: &'static str, source: std::io::Error },
    #[error("AuditLog {path}: {source}")]
    Audit { path: std::path::PathBuf, source: std::io::Error },
}

/// Shared state of a running agent.
#[derive(Debug)]
pub struct Agent {
    pub config: Config,
    pub registry: Arc<Registry>,
    /// What the engine knows of this agent.
    pub engine: Arc<Context>,
    current: cell::Sender<Arc<Generation>>,
    next_generation: AtomicU64,
    reloading: Mutex<()>,
    /// Set at shutdown under PURGE: connection tasks close at once.
    pub purge: cell::Sender<bool>,
    /// systemd's notify socket, when there is one.
    notify: notify::Notifier,
    /// Reload outcomes after startup (the metrics read them).
    pub refreshes: Arc<crate::metrics::RefreshCounts>,
}

impl Agent {
    /// Loads the first generation; an invalid policy is an error and nothing starts.
    pub async fn new(config: Config) -> Result<Arc<Agent>, StartError> {
        let c = config.clone();
        // The certificates' notAfter is logged with the load.
        let load = move || Generation::load(&c, 1, None).map(|g| with_expiry(g, &c));
        let first =
            tokio::task::spawn_blocking(load).await.map_err(|e| LoadError::Internal(e.to_string()))??;
        log_warnings(&first);
        info!(msgid = msg::POLICY_LOADED, generation = 1, rules = first.table.len(), "policy loaded");
        let (current, generations) = cell::channel(Arc::new(first));
        let (purge, purged) = cell::channel(false);
        let registry = Arc::new(Registry::default());
        let engine = Context::new(registry.clone(), generations, purged, config.max_connections)
            .with_helper(Protocol::Ftp, Arc::new(crate::ftp::Ftp))
            .with_helper(Protocol::Tn3270, Arc::new(crate::tn3270::Tn3270))
            .with_inventory(Arc::new(crate::inventory::Inventory::new(config.client_inventory)));
        Ok(Arc::new(Agent {
            config,
            registry,
            engine: Arc::new(engine),
            current,
            next_generation: AtomicU64::new(2),
            reloading: Mutex::new(()),
            purge,
            notify: notify::Notifier::from_env(),
            refreshes: Arc::default(),
        }))
    }

    /// Notified when a new generation is installed.
    pub fn subscribe(&self) -> cell::Receiver<Arc<Generation>> {
        self.current.subscribe()
    }

    /// The generation new connections map with.
    pub fn current(&self) -> Arc<Generation> {
        self.current.borrow().clone()
    }

    /// Re-reads the policy; on success installs it atomically, else keeps the old one. The error is
    /// every diagnostic, rendered.
    pub async fn reload(&self, cause: ReloadCause) -> Result<u64, LoadError> {
        let _one_at_a_time = self.reloading.lock().await;
        self.notify.reloading();
        let loaded = self.load_next(cause).await;
        self.refreshes.count(loaded.is_ok());
        self.notify.ready(self.current().id, self.registry.len());
        loaded
    }

    /// The body of [`Agent::reload`]: load, then install or keep.
    async fn load_next(&self, cause: ReloadCause) -> Result<u64, LoadError> {
        // Reloads are serialised, so the number is only used up when the generation is installed.
        let id = self.next_generation.load(Ordering::Relaxed);
        let config = self.config.clone();
        let previous = self.current();
        let load = move || Generation::load(&config, id, Some(&previous)).map(|g| with_expiry(g, &config));
        let loaded =
            tokio::task::spawn_blocking(load).await.map_err(|e| LoadError::Internal(e.to_string()))?;
        match loaded {
            Ok(g) => {
                log_warnings(&g);
                info!(
                    msgid = msg::POLICY_LOADED,
                    generation = id,
                    ?cause,
                    rules = g.table.len(),
                    "policy loaded"
                );
                self.next_generation.store(id + 1, Ordering::Relaxed);
                self.current.send_replace(Arc::new(g));
                Ok(id)
            }
            Err(e) => {
                error!(
                    msgid = msg::POLICY_NOT_INSTALLED,
                    ?cause,
                    "policy not installed, the previous one stays in force:\n{}",
                    e.to_string().trim_end()
                );
                Err(e)
            }
        }
    }
}

/// A loaded generation's warnings: the TicketKeyFile's on a line of its own, the others together.
fn log_warnings(g: &Generation) {
    if !g.ticket_key_warning.is_empty() {
        warn!(msgid = msg::TICKET_KEYS_KEPT, "{}", g.ticket_key_warning.trim_end());
    }
    let others = g.warnings.replacen(&g.ticket_key_warning, "", 1);
    if !others.trim().is_empty() {
        warn!(msgid = msg::POLICY_WARNINGS, "policy warnings:\n{}", others.trim_end());
    }
}

/// A started agent: the first generation loaded, every socket bound, everything serving.
pub struct Running {
    pub agent: Arc<Agent>,
    /// Each listener's name and the address it is bound to (a `:0` port resolved).
    pub listeners: Vec<(String, std::net::SocketAddr)>,
    /// Where the metrics are served (`MetricsListen`, a `:0` port resolved).
    pub metrics: Option<std::net::SocketAddr>,
    accepting: Vec<tokio::task::JoinHandle<()>>,
    terminations: signals::Terminations,
    audit: Option<Arc<crate::audit::AuditLog>>,
}

/// Loads the policy and binds every listener, the demo backend, the metrics endpoint and the control
/// socket; nothing is served unless all of them succeed.
pub async fn start(config: Config) -> Result<Running, StartError> {
    raise_descriptor_limit();
    let agent = Agent::new(config).await?;
    // Everything that must not miss an early event is set up before `start` returns.
    let (hangups, terminations, reopens) = signals::Signals::install()?.split();
    let audit = start_audit(&agent)?;
    let watcher = if agent.config.watch_files {
        watch::FileWatch::install(&agent)
    } else {
        info!(
            msgid = msg::WATCH_OFF,
            "WatchFiles Off: changed policy files wait for `pagent refresh`, SIGHUP or RefreshInterval"
        );
        None
    };
    let mut bound = Vec::new();
    for l in &agent.config.listeners {
        let backlog = l.limits.backlog;
        let sock = match l.transparent {
            Some(crate::config::Transparent::Tproxy) => {
                crate::engine::transparent_listener(l.listen, backlog)
            }
            _ => crate::engine::sockets::listener(l.listen, backlog),
        }
        .and_then(|s| s.local_addr().map(|a| (s, a)))
        .map_err(|source| StartError::Listen { name: l.name.clone(), addr: l.listen, source })?;
        let (sock, addr) = sock;
        let backend = if l.has_backend() { l.backend() } else { "original destination".into() };
        let mode = l.transparent.map_or("-", |t| t.word());
        info!(msgid = msg::LISTENING, listener = %l.name, listen = %addr, backend, transparent = mode, "listening");
        bound.push((l.clone(), sock, addr));
    }
    let demo = match agent.config.demo_backend {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.map_err(|source| StartError::Demo { addr, source })?)
        }
        None => None,
    };
    let metrics = match agent.config.metrics_listen {
        Some(addr) => Some(
            crate::metrics::Exporter::bind(addr, metrics_sources(&agent))
                .await
                .map_err(|source| StartError::Metrics { addr, source })?,
        ),
        None => None,
    };
    let control = crate::control::Server::bind(control_handle(&agent)).await?;
    if let Some(sock) = demo {
        info!(msgid = msg::DEMO_LISTENING, addr = ?sock.local_addr().ok(), "demo backend (plaintext) listening");
        tokio::spawn(crate::demo::serve(sock));
    }
    tokio::spawn(control.serve());
    let metrics = metrics.map(|m| {
        let addr = m.local_addr();
        m.serve();
        addr
    });
    let mut listeners = Vec::new();
    let mut accepting = Vec::new();
    for (l, sock, addr) in bound {
        listeners.push((l.name.clone(), addr));
        accepting.push(tokio::spawn(crate::engine::listener::accept_loop(
            agent.engine.clone(),
            Arc::new(l),
            sock,
        )));
    }
    tokio::spawn(hangups.refresh_on_signal(agent.clone()));
    tokio::spawn(reopens.reopen_on_signal(audit.clone()));
    if let Some(w) = watcher {
        tokio::spawn(w.refresh_on_change(agent.clone()));
    }
    if let Some(every) = agent.config.refresh_interval {
        tokio::spawn(refresh_every(agent.clone(), every));
    }
    agent.notify.ready(agent.current().id, 0);
    info!(msgid = msg::STARTED, generation = agent.current().id, listeners = listeners.len(), "started");
    if let Some(every) = agent.notify.watchdog_every() {
        tokio::spawn(watchdog(agent.clone(), every));
    }
    Ok(Running { agent, listeners, metrics, accepting, terminations, audit })
}

/// The audit writer when `AuditLog` is set (docs/audit.md); a file that cannot be opened stops the
/// start.
fn start_audit(agent: &Agent) -> Result<Option<Arc<crate::audit::AuditLog>>, StartError> {
    let Some(path) = &agent.config.audit_log else { return Ok(None) };
    crate::audit::AuditLog::start(path, &agent.registry)
        .map(|a| Some(Arc::new(a)))
        .map_err(|source| StartError::Audit { path: path.clone(), source })
}

/// `WATCHDOG=1` every `every` while the runtime runs (with the status line).
async fn watchdog(agent: Arc<Agent>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let status = notify::status(agent.current().id, agent.registry.len());
        agent.notify.send(&format!("WATCHDOG=1\nSTATUS={status}"));
    }
}

impl Running {
    /// Serves until `shutdown` completes (or SIGTERM/SIGINT), then drains or purges (D9).
    pub async fn wait(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = shutdown => {}
            () = self.terminations.wait() => {}
        }
        self.agent.notify.stopping();
        // Stop accepting (the listening sockets close), then drain or purge.
        for a in &self.accepting {
            a.abort();
        }
        // A second SIGTERM (or SIGINT) while draining stops at once.
        tokio::select! {
            () = drain(&self.agent) => {}
            () = self.terminations.wait() => {
                info!(msgid = msg::SECOND_SIGNAL, "second termination signal: closing live connections now");
                self.agent.purge.send_replace(true);
            }
        }
        if let Some(audit) = &self.audit {
            audit.finish(Duration::from_secs(5)).await;
        }
        let _ = std::fs::remove_file(&self.agent.config.control_socket);
    }
}

/// A loaded generation with its certificates' notAfter logged (and warned about) and recorded for the
/// metrics. Blocking (reads the keyrings again).
fn with_expiry(mut g: Generation, config: &Config) -> Generation {
    g.certificate_expiry = expiry::log(&g.table, config);
    g
}

/// Runs the agent until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<(), StartError> {
    start(config).await?.wait(shutdown).await;
    Ok(())
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (each proxied connection holds two descriptors)
/// and logs the figure. `rlimit` is a small safe wrapper over setrlimit(2): the crate forbids
/// unsafe code of its own.
fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => info!(msgid = msg::DESCRIPTOR_LIMIT, descriptors = n, "descriptor limit (RLIMIT_NOFILE)"),
        Err(e) => warn!(msgid = msg::DESCRIPTOR_LIMIT_NOT_RAISED, "cannot raise the descriptor limit: {e}"),
    }
}

/// What the control socket may use of the agent.
fn control_handle(agent: &Arc<Agent>) -> crate::control::Handle {
    crate::control::Handle {
        registry: agent.registry.clone(),
        controls: agent.engine.controls.clone(),
        inventory: agent.engine.inventory.clone(),
        reload: agent.clone(),
        socket: agent.config.control_socket.clone(),
        group: agent.config.control_group.clone(),
    }
}

/// What the metrics read of the agent.
fn metrics_sources(agent: &Arc<Agent>) -> crate::metrics::Sources {
    crate::metrics::Sources {
        connections: agent.registry.clone(),
        generations: agent.subscribe(),
        refreshes: agent.refreshes.clone(),
        listeners: agent.config.listeners.iter().map(|l| l.name.clone()).collect(),
    }
}

impl crate::control::Reload for Agent {
    fn reload(&self) -> crate::control::Reloading<'_> {
        Box::pin(Agent::reload(self, ReloadCause::Command))
    }
    fn dry_run(&self) -> crate::control::DryRunning<'_> {
        Box::pin(Agent::dry_run(self))
    }
    fn current(&self) -> Arc<Generation> {
        Agent::current(self)
    }
}

async fn refresh_every(agent: Arc<Agent>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        let _ = agent.reload(ReloadCause::Interval).await;
    }
}

/// D9: PURGE closes live connections at once; NOPURGE lets them finish within `ShutdownDrain`.
async fn drain(agent: &Agent) {
    let live = agent.registry.len();
    if agent.config.purge || live == 0 {
        info!(msgid = msg::SHUTTING_DOWN, live, purge = agent.config.purge, "shutting down");
    } else {
        info!(msgid = msg::DRAINING, live, "shutting down: draining live connections (NOPURGE)");
        let deadline = tokio::time::Instant::now() + agent.config.shutdown_drain;
        while !agent.registry.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Purged connections close in order (close_notify, FIN) within a short grace.
    agent.purge.send_replace(true);
    let grace = tokio::time::Instant::now() + Duration::from_secs(2);
    while !agent.registry.is_empty() && tokio::time::Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
