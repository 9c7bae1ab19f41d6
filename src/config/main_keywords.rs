//! The top-level keywords of the main configuration (TTLSConfig, ControlSocket, RefreshInterval,
//! KeyringMap, Listener, …): one function per keyword, applied in file order to a [`Config`]
//! that starts from the defaults. z/OS data set names and the statements of other policy
//! disciplines are in [`super::data_set_map`] and [`super::other_disciplines`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::data_set_map::{self, DataSetMapping, PolicyRef};
use super::keyword_args::{number, one_arg, path_arg, resolve_path};
use super::lines::Lines;
use super::protocol_helper_keywords::{UserCheck, user_check_warnings};
use super::{Config, DEFAULT_CONTROL_SOCKET, LogTarget, listener, other_disciplines};
use crate::policy::diag::{Diagnostic, Diagnostics, nearest};
use crate::policy::lex::{TokKind, Token, tokenize};
use crate::policy::source::{FileId, Span};

const TOP: &[&str] = &[
    "TTLSConfig",
    "CommonTTLSConfig",
    "ControlSocket",
    "ControlGroup",
    "RefreshInterval",
    "MaxConnections",
    "ShutdownDrain",
    "Strict",
    "KeyringMap",
    "DataSetMap",
    "DevKeyring",
    "TicketKeyFile",
    "CertUserMap",
    "DemoBackend",
    "LogLevel",
    "Codepage",
    "TcpImage",
    "PEPInstance",
    "ExpiryWarningDays",
    "MetricsListen",
    "AuditLog",
    "Log",
    "WatchFiles",
    "ClientInventory",
    "Listener",
];

/// The configuration so far, and what the statements read so far said beyond its fields.
struct State {
    /// The configuration file's directory: relative paths are relative to it.
    base: PathBuf,
    config: Config,
    common: Option<PolicyRef>,
    /// Every TTLSConfig's file, in order; data set names are resolved at the end.
    policy_refs: Vec<PolicyRef>,
    data_sets: Vec<DataSetMapping>,
    /// The first TTLSConfig's FLUSH and PURGE, and where it is (D13: all must agree).
    options: Option<(bool, bool, Span)>,
    /// Every listener's VerifyUser and SafCert, warned at the end unless there is a CertUserMap.
    user_checks: Vec<UserCheck>,
}

pub(super) fn parse(file: FileId, path: &Path, text: &str, diags: &mut Diagnostics) -> Config {
    let mut state = State {
        base: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        config: defaults(path),
        common: None,
        policy_refs: Vec::new(),
        data_sets: Vec::new(),
        options: None,
        user_checks: Vec::new(),
    };
    let mut ls = Lines::new(tokenize(file, text, diags));
    while let Some(line) = ls.next() {
        let kw = line[0];
        if let Some(word) = known(kw, &line, &mut ls, diags) {
            state.keyword(word, kw, &line[1..], &mut ls, diags);
        }
    }
    state.finish(file, diags)
}

fn defaults(path: &Path) -> Config {
    Config {
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
        ticket_key_file: None,
        cert_user_map: None,
        expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
        data_set_map: Vec::new(),
        demo_backend: None,
        listeners: Vec::new(),
        max_connections: DEFAULT_MAX_CONNECTIONS,
        shutdown_drain: Duration::from_secs(30),
        metrics_listen: None,
        audit_log: None,
        log: LogTarget::Stderr,
        watch_files: true,
        client_inventory: Some(crate::inventory::Limits::default()),
    }
}

/// `ExpiryWarningDays`: a used certificate that expires within this many days is warned about.
pub(super) const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 30;

/// `MaxConnections` agent-wide: each proxied connection holds two descriptors.
pub(super) const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// The keyword `kw` names, or `None` after reporting it (and skipping its block, if it opens one).
fn known(
    kw: Token<'_>,
    line: &[Token<'_>],
    ls: &mut Lines<'_>,
    diags: &mut Diagnostics,
) -> Option<&'static str> {
    if let Some(word) = TOP.iter().find(|k| k.eq_ignore_ascii_case(kw.text)) {
        return Some(word);
    }
    if let Some(word) = other_disciplines::statement(kw.text) {
        return Some(word);
    }
    let candidates = TOP.iter().chain(other_disciplines::STATEMENTS.iter().map(|(n, _)| n));
    let hint = nearest(kw.text, candidates.copied()).map_or_else(
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
    None
}

impl State {
    fn keyword<'a>(
        &mut self,
        word: &'static str,
        kw: Token<'a>,
        args: &[Token<'a>],
        ls: &mut Lines<'a>,
        diags: &mut Diagnostics,
    ) {
        let (config, base) = (&mut self.config, self.base.as_path());
        match word {
            "TTLSConfig" => self.ttls_config(kw, args, diags),
            "CommonTTLSConfig" => {
                self.common = one_arg(kw, args, diags).map(|t| data_set_map::policy_ref(t, base));
            }
            "DataSetMap" => data_set_map::data_set_map(&mut self.data_sets, base, kw, args, diags),
            "ControlSocket" => {
                if let Some(p) = path_arg(kw, args, base, diags) {
                    config.control_socket = p;
                }
            }
            "ControlGroup" => config.control_group = one_arg(kw, args, diags).map(|t| t.text.to_string()),
            "MaxConnections" => {
                if let Some(n) = number(kw, args, 1, 1_000_000, diags) {
                    config.max_connections = n as usize;
                }
            }
            "ShutdownDrain" => {
                if let Some(n) = number(kw, args, 0, 3600, diags) {
                    config.shutdown_drain = Duration::from_secs(n);
                }
            }
            "RefreshInterval" => {
                if let Some(n) = number(kw, args, 0, 86_400 * 7, diags) {
                    config.refresh_interval = (n > 0).then(|| Duration::from_secs(n));
                }
            }
            "TcpImage" | "PEPInstance" => tcp_image(config, word, kw, args, diags),
            "ExpiryWarningDays" => {
                if let Some(n) = number(kw, args, 0, 3650, diags) {
                    config.expiry_warning_days = n as u32;
                }
            }
            "Strict" => {
                if let Some(on) = on_off(kw, args, diags) {
                    config.strict = on;
                }
            }
            "WatchFiles" => {
                if let Some(on) = on_off(kw, args, diags) {
                    config.watch_files = on;
                }
            }
            "MetricsListen" => config.metrics_listen = socket_addr(kw, args, diags),
            "AuditLog" => config.audit_log = path_arg(kw, args, base, diags),
            "Log" => log_target(config, kw, args, diags),
            "ClientInventory" => client_inventory(config, kw, args, diags),
            "KeyringMap" => keyring_map(config, base, kw, args, diags),
            "DevKeyring" => config.dev_keyring = path_arg(kw, args, base, diags),
            "TicketKeyFile" => config.ticket_key_file = path_arg(kw, args, base, diags),
            "CertUserMap" => config.cert_user_map = path_arg(kw, args, base, diags),
            "DemoBackend" => config.demo_backend = socket_addr(kw, args, diags),
            "LogLevel" | "Codepage" => diags.push(
                Diagnostic::portability(
                    kw.span,
                    format!("{word} has no meaning for attls; ignored"),
                    "use --log-level for the agent's log",
                )
                .grouped(word),
            ),
            "Listener" => add_listener(config, kw, args, ls, diags, &mut self.user_checks),
            other => match other_disciplines::statement(other) {
                Some(name) => other_disciplines::ignore(name, kw, diags),
                None => unreachable!("every TOP keyword has an arm"),
            },
        }
    }

    /// `TTLSConfig PATH [FLUSH|NOFLUSH] [PURGE|NOPURGE]`.
    fn ttls_config(&mut self, kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) {
        let Some(file) = one_arg(kw, args, diags) else { return };
        let p = data_set_map::policy_ref(file, &self.base);
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
        match self.options {
            Some((f, p, first)) if (f, p) != (flush, purge) => diags.push(
                Diagnostic::error(
                    kw.span,
                    "TTLSConfig statements disagree on FLUSH/PURGE",
                    "give every TTLSConfig the same FLUSH|NOFLUSH and PURGE|NOPURGE (D13)",
                )
                .with_also(first, "the first TTLSConfig is"),
            ),
            Some(_) => {}
            None => self.options = Some((flush, purge, kw.span)),
        }
        self.config.flush = flush;
        self.config.purge = purge;
        self.policy_refs.push(p);
    }

    /// CommonTTLSConfig goes first; at least one policy file is required. Data set names are
    /// resolved here, so a DataSetMap may follow the TTLSConfig that uses it.
    fn finish(self, file: FileId, diags: &mut Diagnostics) -> Config {
        let mut config = self.config;
        let written = self.common.iter().chain(&self.policy_refs);
        let any_written = written.clone().next().is_some();
        config.policy_files =
            written.filter_map(|r| data_set_map::resolve(r, &self.data_sets, diags)).collect();
        config.data_set_map = self.data_sets.into_iter().map(|m| (m.written, m.path)).collect();
        user_check_warnings(&self.user_checks, config.cert_user_map.is_some(), diags);
        if !any_written {
            diags.push(Diagnostic::error(
                Span::new(file, 0, 0),
                "no TTLSConfig policy file",
                "add `TTLSConfig PATH` naming a policy file",
            ));
        }
        config
    }
}

/// z/OS: `TcpImage NAME [FILE] [FLUSH|NOFLUSH] [PURGE|NOPURGE] [SECONDS]` (its synonym
/// `PEPInstance` alike): only the interval counts here.
fn tcp_image(config: &mut Config, word: &str, kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) {
    if let Some(n) = args.iter().rev().find_map(|a| a.text.parse::<u64>().ok()) {
        config.refresh_interval = (n > 0).then(|| Duration::from_secs(n));
    }
    diags.push(
        Diagnostic::portability(
            kw.span,
            format!("{word} is read as RefreshInterval: only its interval counts"),
            "write `RefreshInterval SECONDS`; a TTLSConfig in the image file belongs in this file",
        )
        .grouped("TcpImage"),
    );
}

/// `On` or `Off` (`Strict`, `WatchFiles`).
fn on_off(kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) -> Option<bool> {
    let t = one_arg(kw, args, diags)?;
    match t.text.to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => {
            diags.push(Diagnostic::error(
                t.span,
                format!("{} must be On or Off", kw.text),
                format!("write `{0} On` or `{0} Off`", kw.text),
            ));
            None
        }
    }
}

/// `Log Stderr|Syslog [Rfc3164|Rfc5424]`.
fn log_target(config: &mut Config, kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) {
    let (Some(t), framing) = (args.first(), args.get(1)) else {
        one_arg(kw, args, diags);
        return;
    };
    let word = |t: &Token<'_>| t.text.to_ascii_lowercase();
    match (word(t).as_str(), framing.map(word).as_deref(), args.len()) {
        ("stderr", None, _) => config.log = LogTarget::Stderr,
        ("syslog", None | Some("rfc3164"), ..=2) => config.log = LogTarget::Syslog,
        ("syslog", Some("rfc5424"), 2) => config.log = LogTarget::SyslogRfc5424,
        ("stderr" | "syslog", _, _) => diags.push(Diagnostic::error(
            args.get(1).map_or(t.span, |f| f.span),
            format!("`Log {}` takes no such framing", t.text),
            "write `Log Stderr`, `Log Syslog` (RFC 3164) or `Log Syslog Rfc5424`",
        )),
        _ => diags.push(Diagnostic::error(
            t.span,
            format!("`{}` is not Stderr or Syslog", t.text),
            "write `Log Stderr` (journald captures it under systemd) or `Log Syslog`",
        )),
    }
}

/// `ClientInventory PROFILES [RULES]` (profiles kept per rule, rules kept), `On` (64 and 1024)
/// or `Off`.
fn client_inventory(config: &mut Config, kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) {
    let Some(first) = one_arg(kw, args, diags) else { return };
    let word = first.text.to_ascii_lowercase();
    if args.len() > 2 || (args.len() > 1 && (word == "on" || word == "off")) {
        diags.push(Diagnostic::error(
            args[args.len() - 1].span,
            "ClientInventory takes `Off`, `On`, or PROFILES and optionally RULES",
            "write e.g. `ClientInventory 64 1024`",
        ));
        return;
    }
    let mut limits = crate::inventory::Limits::default();
    match word.as_str() {
        "off" => {
            config.client_inventory = None;
            return;
        }
        "on" => {}
        _ => {
            let Some(profiles) = number(kw, args, 1, 4096, diags) else { return };
            limits.profiles_per_rule = profiles as usize;
            if args.len() == 2 {
                let Some(rules) = number(kw, &args[1..], 1, 65_536, diags) else { return };
                limits.rules = rules as usize;
            }
        }
    }
    config.client_inventory = Some(limits);
}

/// `KeyringMap RING PATH`.
fn keyring_map(config: &mut Config, base: &Path, kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) {
    if args.len() < 2 {
        diags.push(Diagnostic::error(
            kw.span,
            "KeyringMap needs a ring name and a path",
            "write `KeyringMap FTPD/FTPRING /etc/attls/keys/ftpd`",
        ));
    } else {
        let p = resolve_path(base, args[1].text);
        config.keyring_map.push((args[0].text.to_string(), p));
    }
}

/// `IP:PORT` (`DemoBackend`, `MetricsListen`).
fn socket_addr(kw: Token<'_>, args: &[Token<'_>], diags: &mut Diagnostics) -> Option<SocketAddr> {
    let t = one_arg(kw, args, diags)?;
    match t.text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            diags.push(Diagnostic::error(
                t.span,
                format!("`{}` is not IP:PORT", t.text),
                format!("write e.g. `{} 127.0.0.1:9100`", kw.text),
            ));
            None
        }
    }
}

/// `Listener NAME { … }`: read its block and add it, refusing a second listener of the same name.
fn add_listener<'a>(
    config: &mut Config,
    kw: Token<'a>,
    args: &[Token<'a>],
    ls: &mut Lines<'a>,
    diags: &mut Diagnostics,
    user_checks: &mut Vec<UserCheck>,
) {
    let Some(l) = listener::listener(kw, args, ls, diags, user_checks) else { return };
    if config.listeners.iter().any(|o| o.name == l.name) {
        diags.push(Diagnostic::error(
            kw.span,
            format!("two listeners are named {}", l.name),
            "give each Listener its own name",
        ));
    }
    config.listeners.push(l);
}
