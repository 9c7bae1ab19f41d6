//! The `Listener NAME { … }` block of the main configuration: opening it, reading its lines into
//! a [`Block`], checking what is missing or contradictory, and building the [`ListenerConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use super::lines::Lines;
use super::listener_values as values;
use super::protocol_helper_keywords::{self as helper_keywords, Helpers, UserCheck};
use super::{JobnameFrom, ListenerConfig, ListenerLimits, NoPolicy, Protocol, Transparent, current_user};
use crate::policy::diag::{Diagnostic, Diagnostics, nearest};
use crate::policy::lex::{TokKind, Token};
use crate::policy::table::ConnDirection;

/// Listener keywords applied now.
pub(crate) const LISTENER: &[&str] = &[
    "Listen",
    "Backend",
    "Direction",
    "Protocol",
    "Jobname",
    "Userid",
    "ClientHelloHold",
    "NoPolicy",
    "MaxConnections",
    "MaxConnectionsPerSource",
    "Backlog",
    "ConnectTimeout",
    "IdleTimeout",
    "JobnameFrom",
    "Transparent",
    "ProtocolPorts",
];

/// What the lines of one Listener block said.
struct Block<'a> {
    listen: Option<SocketAddr>,
    backend: Option<(String, u16)>,
    direction: Option<ConnDirection>,
    protocol: Protocol,
    jobname: Option<String>,
    userid: Option<String>,
    hold: Duration,
    helper: Helpers<'a>,
    transparent: Option<Transparent>,
    protocol_ports: Vec<(u16, Protocol)>,
    no_policy: Option<NoPolicy>,
    limits: ListenerLimits,
    jobname_from: JobnameFrom,
}

/// The listener of a `Listener NAME { … }` block; its VerifyUser and SafCert settings go to
/// `user_checks` (warned, or not, once the whole file is read).
pub(super) fn listener<'a>(
    kw: Token<'a>,
    args: &[Token<'a>],
    ls: &mut Lines<'a>,
    diags: &mut Diagnostics,
    user_checks: &mut Vec<UserCheck>,
) -> Option<ListenerConfig> {
    let name = open_block(kw, args, ls, diags)?;
    let errors_before = diags.error_count();
    let block = read_block(name, ls, diags)?;
    user_checks.extend_from_slice(&block.helper.user_checks);
    block.check(name, diags);
    if diags.error_count() > errors_before {
        return None;
    }
    block.build(name)
}

/// The listener's name, once its `{` is found on the `Listener` line or the next one.
fn open_block<'a>(
    kw: Token<'a>,
    args: &[Token<'a>],
    ls: &mut Lines<'a>,
    diags: &mut Diagnostics,
) -> Option<Token<'a>> {
    let Some(name) = args.first().filter(|t| t.kind != TokKind::LBrace) else {
        diags.push(Diagnostic::error(
            kw.span,
            "Listener has no name",
            "write `Listener NAME` then its block",
        ));
        return None;
    };
    let opened_here = args.iter().any(|t| t.kind == TokKind::LBrace);
    if !opened_here {
        match ls.next() {
            Some(l) if l[0].kind == TokKind::LBrace => {}
            _ => {
                diags.push(Diagnostic::error(
                    name.span,
                    format!("expected `{{` to open Listener {}", name.text),
                    "put `{` on the line after `Listener NAME`",
                ));
                return None;
            }
        }
    }
    Some(*name)
}

/// Reads the block's lines up to its `}`; `None` when the file ends first.
fn read_block<'a>(name: Token<'a>, ls: &mut Lines<'a>, diags: &mut Diagnostics) -> Option<Block<'a>> {
    let mut block = Block::new();
    loop {
        let Some(line) = ls.next() else {
            diags.push(Diagnostic::error(
                name.span,
                format!("end of file inside Listener {}", name.text),
                "add `}` to close the block",
            ));
            return None;
        };
        let mut toks: &[Token<'a>] = &line;
        if toks[0].kind == TokKind::RBrace {
            break;
        }
        let closes = toks.last().is_some_and(|t| t.kind == TokKind::RBrace);
        if closes {
            toks = &toks[..toks.len() - 1];
        }
        // A keyword without its value does not close the block, even with a trailing `}`.
        if block.line(toks, diags) && closes {
            break;
        }
    }
    Some(block)
}

/// The keyword `key` names: the listener's own or a protocol helper's.
fn keyword(key: &str) -> Option<&'static str> {
    let mut all = LISTENER.iter().chain(helper_keywords::FTP).chain(helper_keywords::TN3270);
    all.find(|k| k.eq_ignore_ascii_case(key)).copied()
}

fn missing(name: Token<'_>, what: &str, diags: &mut Diagnostics) {
    diags.push(Diagnostic::error(
        name.span,
        format!("Listener {} has no {what}", name.text),
        format!("add `{what} …` to the block"),
    ));
}

impl<'a> Block<'a> {
    fn new() -> Self {
        Block {
            listen: None,
            backend: None,
            direction: None,
            protocol: Protocol::Raw,
            jobname: None,
            userid: None,
            hold: Duration::from_millis(500),
            helper: Helpers::default(),
            transparent: None,
            protocol_ports: Vec::new(),
            no_policy: None,
            limits: ListenerLimits::default(),
            jobname_from: JobnameFrom::Command,
        }
    }

    /// Applies one `KEYWORD VALUE…` line (without a closing `}`); false when the value is missing.
    fn line(&mut self, toks: &[Token<'a>], diags: &mut Diagnostics) -> bool {
        let key = toks[0];
        let Some(word) = keyword(key.text) else {
            let all = LISTENER.iter().chain(helper_keywords::FTP).chain(helper_keywords::TN3270);
            let hint = nearest(key.text, all.copied())
                .map_or("see the Listener keywords in README".into(), |n| format!("did you mean {n}?"));
            diags.push(Diagnostic::error(key.span, format!("unknown Listener keyword `{}`", key.text), hint));
            return true;
        };
        let Some(v) = toks.get(1).copied() else {
            diags.push(Diagnostic::error(
                key.span,
                format!("{word} needs a value"),
                format!("write `{word} VALUE`"),
            ));
            return false;
        };
        self.apply(word, key, v, &toks[1..], diags);
        true
    }

    /// Applies `word` with its first value `v` (and all of them, `args`); a bad value changes nothing.
    fn apply(
        &mut self,
        word: &str,
        key: Token<'a>,
        v: Token<'a>,
        args: &[Token<'a>],
        diags: &mut Diagnostics,
    ) {
        fn set<T>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        match word {
            "Listen" => set(&mut self.listen, values::listen(v, diags)),
            "Backend" => set(&mut self.backend, values::backend(v, diags)),
            "Direction" => set(&mut self.direction, values::direction(v, diags)),
            "Protocol" => self.protocol = values::protocol(v, diags).unwrap_or(self.protocol),
            "Jobname" => self.jobname = Some(values::job_or_user_name(word, v, diags)),
            "Userid" => self.userid = Some(values::job_or_user_name(word, v, diags)),
            "ClientHelloHold" => self.hold = values::client_hello_hold(v, diags).unwrap_or(self.hold),
            "NoPolicy" => set(&mut self.no_policy, values::no_policy(v, diags)),
            "JobnameFrom" => self.jobname_from = values::jobname_from(v, diags).unwrap_or(self.jobname_from),
            "MaxConnections" | "MaxConnectionsPerSource" | "Backlog" | "ConnectTimeout" | "IdleTimeout" => {
                values::limit(&mut self.limits, word, v, diags)
            }
            w if self.helper.keyword(key, w, &v, diags) => {}
            "Transparent" => set(&mut self.transparent, values::transparent(v, diags)),
            "ProtocolPorts" => self.protocol_ports.extend(values::protocol_ports(args, diags)),
            _ => unreachable!("every LISTENER keyword has an arm"),
        }
    }

    /// Reports what is missing, ignored or contradictory in the block.
    fn check(&self, name: Token<'_>, diags: &mut Diagnostics) {
        if self.listen.is_none() {
            missing(name, "Listen", diags);
        }
        if self.backend.is_none() && self.transparent.is_none() {
            missing(name, "Backend", diags);
        }
        if !self.protocol_ports.is_empty() && self.transparent.is_none() {
            diags.push(Diagnostic::warning(
                name.span,
                format!("ProtocolPorts has no effect on Listener {}: it is not Transparent", name.text),
                "use `Protocol` for a listener that is not transparent",
            ));
        }
        if self.direction.is_none() {
            missing(name, "Direction", diags);
        }
        self.helper.check(self.protocol, diags);
        let helpers_used =
            self.protocol != Protocol::Raw || self.protocol_ports.iter().any(|(_, p)| *p != Protocol::Raw);
        if self.direction == Some(ConnDirection::Outbound) && helpers_used {
            diags.push(Diagnostic::error(
                name.span,
                format!("Protocol {} serves inbound listeners only", self.protocol.word()),
                "use `Direction Inbound` (attls plays the server's side), or Protocol Raw",
            ));
        }
    }

    /// The listener, with the defaults for what the block left out (after [`Block::check`]).
    fn build(self, name: Token<'_>) -> Option<ListenerConfig> {
        // A transparent listener without Backend relays to each connection's original destination.
        let (backend_host, backend_port) = self.backend.unwrap_or_default();
        Some(ListenerConfig {
            name: name.text.to_string(),
            listen: self.listen?,
            backend_host,
            backend_port,
            direction: self.direction?,
            protocol: self.protocol,
            jobname: self.jobname.unwrap_or_else(|| name.text.to_string()),
            userid: self.userid.unwrap_or_else(current_user),
            client_hello_hold: self.hold,
            ftp: self.helper.ftp,
            tn3270: self.helper.tn3270,
            transparent: self.transparent,
            no_policy: self.no_policy.unwrap_or(match self.transparent {
                None => NoPolicy::Refuse,
                Some(_) => NoPolicy::Clear,
            }),
            protocol_ports: self.protocol_ports,
            limits: self.limits,
            jobname_from: self.jobname_from,
        })
    }
}
