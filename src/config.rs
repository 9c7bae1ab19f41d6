//! The main configuration (the z/OS `pagent.conf` equivalent,
//! docs/policy-reference.md#main-configuration-pagentconf): which policy files to load, the control
//! socket, refresh, keyring names, and the listeners. Same lexer, diagnostics and error format as
//! policy files; relative paths are relative to the configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::policy::diag::{Diagnostic, Diagnostics, nearest};
use crate::policy::lex::{TokKind, Token, tokenize};
use crate::policy::source::{FileId, SourceMap, Span};
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
    /// A built-in plaintext responder for the demo listener (README's first command).
    pub demo_backend: Option<SocketAddr>,
    pub listeners: Vec<ListenerConfig>,
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

const TOP: &[&str] = &[
    "TTLSConfig",
    "CommonTTLSConfig",
    "ControlSocket",
    "ControlGroup",
    "RefreshInterval",
    "Strict",
    "KeyringMap",
    "DevKeyring",
    "DemoBackend",
    "LogLevel",
    "Codepage",
    "TcpImage",
    "Listener",
];

/// Listener keywords applied now.
pub(crate) const LISTENER: &[&str] = &[
    "Listen",
    "Backend",
    "Direction",
    "Protocol",
    "Jobname",
    "Userid",
    "ClientHelloHold",
    "Transparent",
    "ProtocolPorts",
];

/// Reads and validates a main configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
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
    let id = sources.add(path, text);
    let mut diagnostics = Diagnostics::default();
    let config = parse(id, path, &sources.file(id).text.clone(), &mut diagnostics);
    diagnostics.finish(config.strict);
    if diagnostics.has_errors() {
        return Err(ConfigError { sources, diagnostics });
    }
    for d in &diagnostics.items {
        let mut one = Diagnostics::default();
        one.push(d.clone());
        tracing::warn!("{}", one.render(&sources).trim_end());
    }
    Ok(config)
}

pub(crate) struct Lines<'a> {
    /// Tokens grouped by line.
    lines: Vec<Vec<Token<'a>>>,
    pos: usize,
}

fn parse(file: FileId, path: &Path, text: &str, diags: &mut Diagnostics) -> Config {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut config = Config {
        path: path.to_path_buf(),
        policy_files: Vec::new(),
        flush: true,
        purge: false,
        control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
        control_group: None,
        refresh_interval: Some(Duration::from_secs(1800)),
        strict: false,
        keyring_map: Vec::new(),
        dev_keyring: None,
        demo_backend: None,
        listeners: Vec::new(),
    };
    let tokens = tokenize(file, text, diags);
    let mut lines: Vec<Vec<Token<'_>>> = Vec::new();
    for t in tokens {
        match lines.last_mut() {
            Some(l) if l[0].line == t.line => l.push(t),
            _ => lines.push(vec![t]),
        }
    }
    let mut ls = Lines { lines, pos: 0 };
    let mut common = None;
    let mut options: Option<(bool, bool, Span)> = None;
    while let Some(line) = ls.next() {
        let kw = line[0];
        let args = &line[1..];
        let Some(word) = TOP.iter().find(|k| k.eq_ignore_ascii_case(kw.text)) else {
            let hint = nearest(kw.text, TOP.iter().copied()).map_or_else(
                || format!("main configuration keywords are {}", TOP.join(", ")),
                |n| format!("did you mean {n}?"),
            );
            diags.push(Diagnostic::error(
                kw.span,
                format!("unknown keyword `{}` in the main configuration", kw.text),
                hint,
            ));
            if line.last().is_some_and(|t| t.kind == TokKind::LBrace) || ls.peek_is_brace() {
                ls.skip_block();
            }
            continue;
        };
        match *word {
            "TTLSConfig" => {
                let Some(p) = path_arg(kw, args, &base, diags) else { continue };
                let (mut flush, mut purge) = (true, false);
                for a in &args[1..] {
                    match a.text.to_ascii_uppercase().as_str() {
                        "FLUSH" => flush = true,
                        "NOFLUSH" => flush = false,
                        "PURGE" => purge = true,
                        "NOPURGE" => purge = false,
                        _ => diags.push(Diagnostic::error(
                            a.span,
                            format!("`{}` is not FLUSH, NOFLUSH, PURGE or NOPURGE", a.text),
                            "write e.g. `TTLSConfig policies/ftp.pol FLUSH NOPURGE`",
                        )),
                    }
                }
                match options {
                    Some((f, p, first)) if (f, p) != (flush, purge) => diags.push(
                        Diagnostic::error(
                            kw.span,
                            "TTLSConfig statements disagree on FLUSH/PURGE",
                            "give every TTLSConfig the same FLUSH|NOFLUSH and PURGE|NOPURGE (D13)",
                        )
                        .with_also(first, "the first TTLSConfig is"),
                    ),
                    Some(_) => {}
                    None => options = Some((flush, purge, kw.span)),
                }
                config.flush = flush;
                config.purge = purge;
                config.policy_files.push(p);
            }
            "CommonTTLSConfig" => common = path_arg(kw, args, &base, diags),
            "ControlSocket" => {
                if let Some(p) = path_arg(kw, args, &base, diags) {
                    config.control_socket = p;
                }
            }
            "ControlGroup" => config.control_group = one_arg(kw, args, diags).map(|t| t.text.to_string()),
            "RefreshInterval" => {
                if let Some(n) = number(kw, args, 0, 86_400 * 7, diags) {
                    config.refresh_interval = (n > 0).then(|| Duration::from_secs(n));
                }
            }
            "TcpImage" => {
                // z/OS: TcpImage NAME [FLUSH|NOFLUSH] [SECONDS]: only the interval counts here.
                if let Some(n) = args.iter().rev().find_map(|a| a.text.parse::<u64>().ok()) {
                    config.refresh_interval = (n > 0).then(|| Duration::from_secs(n));
                }
                diags.push(
                    Diagnostic::portability(
                        kw.span,
                        "TcpImage is read as RefreshInterval: only its interval counts",
                        "write `RefreshInterval SECONDS`",
                    )
                    .grouped("TcpImage"),
                );
            }
            "Strict" => {
                if let Some(t) = one_arg(kw, args, diags) {
                    match t.text.to_ascii_lowercase().as_str() {
                        "on" => config.strict = true,
                        "off" => config.strict = false,
                        _ => diags.push(Diagnostic::error(
                            t.span,
                            "Strict must be On or Off",
                            "write `Strict On` or `Strict Off`",
                        )),
                    }
                }
            }
            "KeyringMap" => {
                if args.len() < 2 {
                    diags.push(Diagnostic::error(
                        kw.span,
                        "KeyringMap needs a ring name and a path",
                        "write `KeyringMap FTPD/FTPRING /etc/attls/keys/ftpd`",
                    ));
                } else {
                    let p = resolve_path(&base, args[1].text);
                    config.keyring_map.push((args[0].text.to_string(), p));
                }
            }
            "DevKeyring" => config.dev_keyring = path_arg(kw, args, &base, diags),
            "DemoBackend" => {
                if let Some(t) = one_arg(kw, args, diags) {
                    match t.text.parse::<SocketAddr>() {
                        Ok(a) => config.demo_backend = Some(a),
                        Err(_) => diags.push(Diagnostic::error(
                            t.span,
                            format!("`{}` is not IP:PORT", t.text),
                            "write e.g. `DemoBackend 127.0.0.1:8080`",
                        )),
                    }
                }
            }
            "LogLevel" | "Codepage" => diags.push(
                Diagnostic::portability(
                    kw.span,
                    format!("{word} has no meaning for attls; ignored"),
                    "use --log-level for the agent's log",
                )
                .grouped(*word),
            ),
            "Listener" => {
                if let Some(l) = listener::listener(kw, args, &mut ls, diags) {
                    if config.listeners.iter().any(|o| o.name == l.name) {
                        diags.push(Diagnostic::error(
                            kw.span,
                            format!("two listeners are named {}", l.name),
                            "give each Listener its own name",
                        ));
                    }
                    config.listeners.push(l);
                }
            }
            _ => unreachable!("every TOP keyword has an arm"),
        }
    }
    if let Some(c) = common {
        config.policy_files.insert(0, c);
    }
    if config.policy_files.is_empty() {
        diags.push(Diagnostic::error(
            Span::new(file, 0, 0),
            "no TTLSConfig policy file",
            "add `TTLSConfig PATH` naming a policy file",
        ));
    }
    config
}

impl<'a> Lines<'a> {
    pub(crate) fn next(&mut self) -> Option<Vec<Token<'a>>> {
        let l = self.lines.get(self.pos).cloned();
        self.pos += 1;
        l
    }
    fn peek_is_brace(&self) -> bool {
        self.lines.get(self.pos).is_some_and(|l| l[0].kind == TokKind::LBrace)
    }
    /// Skips to the line after the next `}`.
    fn skip_block(&mut self) {
        while let Some(l) = self.next() {
            if l.iter().any(|t| t.kind == TokKind::RBrace) {
                return;
            }
        }
    }
}

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

fn one_arg<'a>(kw: Token<'a>, args: &[Token<'a>], diags: &mut Diagnostics) -> Option<Token<'a>> {
    match args.first() {
        Some(t) => Some(*t),
        None => {
            diags.push(Diagnostic::error(
                kw.span,
                format!("{} needs a value", kw.text),
                format!("write `{} VALUE`", kw.text),
            ));
            None
        }
    }
}

fn path_arg(kw: Token<'_>, args: &[Token<'_>], base: &Path, diags: &mut Diagnostics) -> Option<PathBuf> {
    let t = one_arg(kw, args, diags)?;
    if t.text.starts_with("//") {
        diags.push(Diagnostic::error(
            t.span,
            format!("`{}` is a z/OS data set name", t.text),
            "copy the member to a Linux file and name its path",
        ));
        return None;
    }
    Some(resolve_path(base, t.text))
}

fn number(kw: Token<'_>, args: &[Token<'_>], min: u64, max: u64, diags: &mut Diagnostics) -> Option<u64> {
    let t = one_arg(kw, args, diags)?;
    match t.text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            diags.push(Diagnostic::error(
                t.span,
                format!("{} needs a number from {min} to {max}, not `{}`", kw.text, t.text),
                format!("write `{} N`", kw.text),
            ));
            None
        }
    }
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

mod helpers;
mod listener;
#[cfg(test)]
mod tests;
