//! The main configuration (the z/OS `pagent.conf` equivalent,
//! docs/policy-reference.md#main-configuration-pagentconf): which policy files to load, the control
//! socket, refresh, keyring names, the certificate-to-user map, and the listeners. Same lexer, diagnostics and error format as
//! policy files; relative paths are relative to the configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::source::{SourceMap, Span};
use crate::policy::table::ConnDirection;

pub const DEFAULT_CONTROL_SOCKET: &str = "/run/attls/pagent.sock";

/// The helper protocol a listener speaks for its unmodified server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Raw,
    Ftp,
    Tn3270,
}

impl Protocol {
    pub fn word(self) -> &'static str {
        match self {
            Protocol::Raw => "Raw",
            Protocol::Ftp => "Ftp",
            Protocol::Tn3270 => "Tn3270",
        }
    }
}

/// How intercepted connections reach a transparent listener (the kernel's transparent-proxy support).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transparent {
    /// nftables/iptables `redirect`: the original destination comes from `SO_ORIGINAL_DST`.
    Redirect,
    /// nftables/iptables `tproxy`: the accepted socket's own local address is the original
    /// destination (`IP_TRANSPARENT`), and the backend connection keeps the client's address.
    Tproxy,
}

impl Transparent {
    pub fn word(self) -> &'static str {
        match self {
            Transparent::Redirect => "Redirect",
            Transparent::Tproxy => "Tproxy",
        }
    }
}

/// One `Listener NAME { … }` block.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub name: String,
    pub listen: SocketAddr,
    /// `HOST:PORT` as written; the host is resolved per connection and is the D21 fallback name.
    pub backend_host: String,
    pub backend_port: u16,
    pub direction: ConnDirection,
    pub protocol: Protocol,
    /// D7: defaults to the listener name.
    pub jobname: String,
    /// D7: defaults to the user the agent runs as.
    pub userid: String,
    pub client_hello_hold: Duration,
    /// `Protocol Ftp`: the FTP.DATA-like settings (docs/policy-reference.md#ftp-settings).
    pub ftp: crate::ftp::settings::FtpSettings,
    /// `Protocol Tn3270`: ConnType, ClientAuth, StartTlsWait
    /// (docs/policy-reference.md#tn3270-listener-keywords).
    pub tn3270: crate::tn3270::settings::Tn3270Settings,
    /// `Transparent Redirect|Tproxy`: take intercepted connections.
    pub transparent: Option<Transparent>,
    /// `ProtocolPorts Ftp 21,990`: the helper per original destination port (transparent listeners).
    pub protocol_ports: Vec<(u16, Protocol)>,
    /// `NoPolicy Refuse|Clear`: a connection no rule matches (docs/decisions.md D32).
    pub no_policy: NoPolicy,
    /// Bounds of this listener (docs/security.md).
    pub limits: ListenerLimits,
    /// `JobnameFrom Command|Unit`: what a transparent connection's Jobname is (D35).
    pub jobname_from: JobnameFrom,
}

/// Where a transparent connection's Jobname comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobnameFrom {
    /// The owning process's command name (any user can choose it: `cp /usr/bin/curl ./PAYROLL`).
    Command,
    /// The systemd unit the owning process runs in (only root places processes in units); a
    /// process in no unit has an unknown owner.
    Unit,
}

/// A listener's bounds: connections, per client address, the listen backlog, and its waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// `MaxConnections`: live connections of this listener; more wait in the backlog.
    pub max_connections: usize,
    /// `MaxConnectionsPerSource`: live connections from one client address; more are reset.
    pub max_per_source: usize,
    /// `Backlog`: the listen queue.
    pub backlog: u32,
    /// `ConnectTimeout`: how long the backend connection may take.
    pub connect_timeout: Duration,
    /// `IdleTimeout`: a relay with no byte either way for this long is closed (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl Default for ListenerLimits {
    fn default() -> ListenerLimits {
        ListenerLimits {
            max_connections: 16_384,
            max_per_source: 1024,
            backlog: 1024,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: None,
        }
    }
}

/// What a listener does with a connection no rule matches (z/OS NO_POLICY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoPolicy {
    /// Reset before the backend opens: the default for a sidecar listener, which exists to put TLS
    /// in front of one server (a typo in a rule must not open it in clear).
    Refuse,
    /// Relay in clear, as z/OS does: the default for transparent listeners.
    Clear,
}

impl NoPolicy {
    pub fn word(self) -> &'static str {
        match self {
            NoPolicy::Refuse => "Refuse",
            NoPolicy::Clear => "Clear",
        }
    }
}

impl ListenerConfig {
    /// The helper for a connection whose original destination port is `port`.
    pub fn protocol_for(&self, port: u16) -> Protocol {
        self.protocol_ports.iter().find(|(p, _)| *p == port).map_or(self.protocol, |(_, proto)| *proto)
    }

    /// Whether `Backend` was written (a transparent listener without it uses the original destination).
    pub fn has_backend(&self) -> bool {
        !self.backend_host.is_empty()
    }

    pub fn backend(&self) -> String {
        if self.backend_host.contains(':') {
            format!("[{}]:{}", self.backend_host, self.backend_port)
        } else {
            format!("{}:{}", self.backend_host, self.backend_port)
        }
    }
}

/// The main configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// CommonTTLSConfig first, then every TTLSConfig in order (D13).
    pub policy_files: Vec<PathBuf>,
    pub flush: bool,
    pub purge: bool,
    pub control_socket: PathBuf,
    pub control_group: Option<String>,
    /// `None` = never (RefreshInterval 0).
    pub refresh_interval: Option<Duration>,
    pub strict: bool,
    /// z/OS key ring name → PEM file or directory (D10).
    pub keyring_map: Vec<(String, PathBuf)>,
    /// The development keyring: generated when a policy uses it and it does not exist (D10).
    pub dev_keyring: Option<PathBuf>,
    /// `TicketKeyFile`: session ticket keys shared by a fleet of agents (docs/fleet.md).
    pub ticket_key_file: Option<PathBuf>,
    /// `CertUserMap`: client certificates to Linux user names ([`crate::certmap`], D37); read with
    /// each policy generation.
    pub cert_user_map: Option<PathBuf>,
    /// `ExpiryWarningDays`: a used certificate expiring within this many days is warned about
    /// (0 = no warnings; an expired server certificate is still an error), see [`crate::expiry`].
    pub expiry_warning_days: u32,
    /// `DataSetMap`: z/OS data set names (as written, `//'HLQ.NAME(MEMBER)'`) and their files.
    pub data_set_map: Vec<(String, PathBuf)>,
    /// A built-in plaintext responder for the demo listener (README's first command).
    pub demo_backend: Option<SocketAddr>,
    pub listeners: Vec<ListenerConfig>,
    /// `MaxConnections`: live connections agent-wide, FTP data connections included.
    pub max_connections: usize,
    /// `ShutdownDrain`: how long SIGTERM waits for live connections under NOPURGE.
    pub shutdown_drain: Duration,
    /// `MetricsListen ADDR:PORT`: where Prometheus scrapes `/metrics` (none by default).
    pub metrics_listen: Option<SocketAddr>,
    /// `AuditLog PATH`: one JSON record per ended connection (none by default).
    pub audit_log: Option<PathBuf>,
    /// `Log Stderr|Syslog [Rfc3164|Rfc5424]`: where the agent's log goes.
    pub log: LogTarget,
    /// `WatchFiles On|Off`: whether a changed policy or keyring file refreshes by itself (On) or
    /// waits for `pagent refresh`, SIGHUP or the RefreshInterval (Off, as on z/OS).
    pub watch_files: bool,
    /// `ClientInventory PROFILES RULES|Off`: how much of the client inventory `pagent clients`
    /// reports is kept (docs/clients.md); `None`: none (Off).
    pub client_inventory: Option<crate::inventory::Limits>,
}

/// Where the agent's log lines go (`Log` in the main configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error (journald captures it under systemd): the default.
    Stderr,
    /// The local syslog daemon (`/dev/log`), RFC 3164 framing as syslog(3) writes it.
    Syslog,
    /// The local syslog daemon, RFC 5424 framing (`Log Syslog Rfc5424`), the message ID as MSGID.
    SyslogRfc5424,
}

impl LogTarget {
    pub fn word(self) -> &'static str {
        match self {
            LogTarget::Stderr => "Stderr",
            LogTarget::Syslog => "Syslog",
            LogTarget::SyslogRfc5424 => "Syslog Rfc5424",
        }
    }
}

/// A configuration that failed: the sources and every diagnostic, for rendering.
#[derive(Debug)]
pub struct ConfigError {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostics.render(&self.sources))
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates a main configuration file; its warnings go to the log.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let (config, warnings) = load_with_warnings(path)?;
    for w in &warnings {
        tracing::warn!(msgid = crate::messages::CONFIG_WARNING, "{}", w.trim_end());
    }
    Ok(config)
}

/// Reads and validates a main configuration file; the warnings of a valid one are returned, each
/// rendered in the D11 shape (for `pagent check -c`, which prints them).
pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let mut sources = SourceMap::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let id = sources.add(path, String::new());
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(Diagnostic::error(
                Span::new(id, 0, 0),
                format!("cannot read the main configuration: {e}"),
                "check the path given with -c",
            ));
            return Err(ConfigError { sources, diagnostics });
        }
    };
    let (config, warnings) = parse_text(path, &text)?;
    let rendered = warnings
        .diagnostics
        .items
        .iter()
        .map(|d| Diagnostics { items: vec![d.clone()] }.render(&warnings.sources))
        .collect();
    Ok((config, rendered))
}

/// Validates a main configuration given as text, as [`load`] does after reading it: `path` names
/// the file in diagnostics and anchors its relative paths. Warnings of a valid configuration are
/// not logged (fuzzing, tests).
pub fn load_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_text(path, text).map(|(config, _)| config)
}

/// The configuration, with its warnings (as a [`ConfigError`] holding no error), or every error.
fn parse_text(path: &Path, text: &str) -> Result<(Config, ConfigError), ConfigError> {
    let mut sources = SourceMap::default();
    let id = sources.add(path, text.to_string());
    let mut diagnostics = Diagnostics::default();
    let config = main_keywords::parse(id, path, text, &mut diagnostics);
    diagnostics.finish(config.strict);
    if diagnostics.has_errors() {
        return Err(ConfigError { sources, diagnostics });
    }
    Ok((config, ConfigError { sources, diagnostics }))
}

/// The name of the user the agent runs as (from the environment, else the uid from /proc).
pub fn current_user() -> String {
    if let Ok(u) = std::env::var("USER")
        && !u.is_empty()
    {
        return u;
    }
    crate::procnet::process_uid(Path::new("/proc/self"))
        .and_then(crate::procnet::user_name)
        .unwrap_or_else(|| "unknown".into())
}

mod data_set_map;
mod keyword_args;
mod lines;
mod listener;
mod listener_values;
mod main_keywords;
mod other_disciplines;
mod protocol_helper_keywords;
#[cfg(test)]
mod tests;
