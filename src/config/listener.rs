//! The `Listener NAME { … }` block of the main configuration.

use std::net::SocketAddr;
use std::time::Duration;

use super::helpers::{self, Helpers};
use super::{LISTENER, Lines, ListenerConfig, Protocol, Transparent, current_user};
use crate::policy::diag::{Diagnostic, Diagnostics, nearest};
use crate::policy::lex::{TokKind, Token};
use crate::policy::table::ConnDirection;

/// `HOST:PORT` or `[v6]:PORT`.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h.to_string(), p)
    } else {
        let (h, p) = s.rsplit_once(':')?;
        (h.to_string(), p)
    };
    (!host.is_empty()).then_some(())?;
    Some((host, port.parse().ok()?))
}

pub(super) fn listener<'a>(
    kw: Token<'a>,
    args: &[Token<'a>],
    ls: &mut Lines<'a>,
    diags: &mut Diagnostics,
) -> Option<ListenerConfig> {
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
    let mut listen = None;
    let mut backend = None;
    let mut direction = None;
    let mut protocol = Protocol::Raw;
    let mut jobname = None;
    let mut userid = None;
    let mut hold = Duration::from_millis(500);
    let mut helper = Helpers::default();
    let mut transparent = None;
    let mut protocol_ports: Vec<(u16, Protocol)> = Vec::new();
    let errors_before = diags.error_count();
    loop {
        let Some(line) = ls.next() else {
            diags.push(Diagnostic::error(
                name.span,
                format!("end of file inside Listener {}", name.text),
                "add `}` to close the block",
            ));
            return None;
        };
        let mut toks: &[Token<'_>] = &line;
        if toks[0].kind == TokKind::RBrace {
            break;
        }
        let closes = toks.last().is_some_and(|t| t.kind == TokKind::RBrace);
        if closes {
            toks = &toks[..toks.len() - 1];
        }
        let key = toks[0];
        let value = toks.get(1).copied();
        let Some(word) = LISTENER
            .iter()
            .chain(helpers::FTP)
            .chain(helpers::TN3270)
            .find(|k| k.eq_ignore_ascii_case(key.text))
        else {
            let hint = nearest(key.text, LISTENER.iter().chain(helpers::FTP).chain(helpers::TN3270).copied())
                .map_or("see the Listener keywords in README".into(), |n| format!("did you mean {n}?"));
            diags.push(Diagnostic::error(key.span, format!("unknown Listener keyword `{}`", key.text), hint));
            if closes {
                break;
            }
            continue;
        };
        let Some(v) = value else {
            diags.push(Diagnostic::error(
                key.span,
                format!("{word} needs a value"),
                format!("write `{word} VALUE`"),
            ));
            continue;
        };
        match *word {
            "Listen" => match v.text.parse::<SocketAddr>() {
                Ok(a) => listen = Some(a),
                Err(_) => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{}` is not ADDR:PORT", v.text),
                    "write e.g. `Listen 0.0.0.0:8443` or `Listen [::]:8443`",
                )),
            },
            "Backend" => match host_port(v.text) {
                Some(hp) => backend = Some(hp),
                None => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{}` is not HOST:PORT", v.text),
                    "write e.g. `Backend 127.0.0.1:8080` or `Backend db.example.com:5000`",
                )),
            },
            "Direction" => match v.text.to_ascii_lowercase().as_str() {
                "inbound" => direction = Some(ConnDirection::Inbound),
                "outbound" => direction = Some(ConnDirection::Outbound),
                _ => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{}` is not Inbound or Outbound", v.text),
                    "write `Direction Inbound` or `Direction Outbound`",
                )),
            },
            "Protocol" => match v.text.to_ascii_lowercase().as_str() {
                "raw" => protocol = Protocol::Raw,
                "ftp" => protocol = Protocol::Ftp,
                "tn3270" => protocol = Protocol::Tn3270,
                _ => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{}` is not Raw, Ftp or Tn3270", v.text),
                    "write `Protocol Raw`",
                )),
            },
            "Jobname" | "Userid" => {
                let n = v.text.to_string();
                if n.len() > 32 {
                    diags.push(Diagnostic::error(
                        v.span,
                        format!("{word} `{n}` is longer than 32 characters"),
                        "shorten it",
                    ));
                } else if n.len() > 8 {
                    diags.push(Diagnostic::portability(
                        v.span,
                        format!("{word} `{n}` is longer than the 8 characters z/OS allows"),
                        "attls accepts up to 32",
                    ));
                }
                if *word == "Jobname" { jobname = Some(n) } else { userid = Some(n) }
            }
            "ClientHelloHold" => match v.text.parse::<u64>() {
                Ok(ms) if ms <= 60_000 => hold = Duration::from_millis(ms),
                _ => diags.push(Diagnostic::error(
                    v.span,
                    "ClientHelloHold needs milliseconds from 0 to 60000",
                    "write e.g. `ClientHelloHold 500`",
                )),
            },
            w if helper.keyword(key, w, &v, diags) => {}
            "Transparent" => match v.text.to_ascii_lowercase().as_str() {
                "redirect" => transparent = Some(Transparent::Redirect),
                "tproxy" => transparent = Some(Transparent::Tproxy),
                _ => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{}` is not Redirect or Tproxy", v.text),
                    "write `Transparent Redirect` (nft redirect) or `Transparent Tproxy` (nft tproxy)",
                )),
            },
            "ProtocolPorts" => protocol_ports.extend(protocol_ports_line(&toks[1..], diags)),
            _ => unreachable!("every LISTENER keyword has an arm"),
        }
        if closes {
            break;
        }
    }
    let missing = |what: &str, diags: &mut Diagnostics| {
        diags.push(Diagnostic::error(
            name.span,
            format!("Listener {} has no {what}", name.text),
            format!("add `{what} …` to the block"),
        ));
    };
    if listen.is_none() {
        missing("Listen", diags);
    }
    if backend.is_none() && transparent.is_none() {
        missing("Backend", diags);
    }
    if !protocol_ports.is_empty() && transparent.is_none() {
        diags.push(Diagnostic::warning(
            name.span,
            format!("ProtocolPorts has no effect on Listener {}: it is not Transparent", name.text),
            "use `Protocol` for a listener that is not transparent",
        ));
    }
    if direction.is_none() {
        missing("Direction", diags);
    }
    helper.check(protocol, diags);
    let helpers_used = protocol != Protocol::Raw || protocol_ports.iter().any(|(_, p)| *p != Protocol::Raw);
    if direction == Some(ConnDirection::Outbound) && helpers_used {
        diags.push(Diagnostic::error(
            name.span,
            format!("Protocol {} serves inbound listeners only", protocol.word()),
            "use `Direction Inbound` (attls plays the server's side), or Protocol Raw",
        ));
    }
    if diags.error_count() > errors_before {
        return None;
    }
    // A transparent listener without Backend relays to each connection's original destination.
    let (backend_host, backend_port) = backend.unwrap_or_default();
    Some(ListenerConfig {
        name: name.text.to_string(),
        listen: listen?,
        backend_host,
        backend_port,
        direction: direction?,
        protocol,
        jobname: jobname.unwrap_or_else(|| name.text.to_string()),
        userid: userid.unwrap_or_else(current_user),
        client_hello_hold: hold,
        ftp: helper.ftp,
        tn3270: helper.tn3270,
        transparent,
        protocol_ports,
    })
}

/// `ProtocolPorts Ftp 21,990`: a helper and the original destination ports it serves.
fn protocol_ports_line(toks: &[Token<'_>], diags: &mut Diagnostics) -> Vec<(u16, Protocol)> {
    let Some(first) = toks.first() else { return Vec::new() };
    let protocol = match first.text.to_ascii_lowercase().as_str() {
        "ftp" => Protocol::Ftp,
        "tn3270" => Protocol::Tn3270,
        "raw" => Protocol::Raw,
        _ => {
            diags.push(Diagnostic::error(
                first.span,
                format!("`{}` is not Ftp, Tn3270 or Raw", first.text),
                "write e.g. `ProtocolPorts Ftp 21,990`",
            ));
            return Vec::new();
        }
    };
    let rest: Vec<&Token<'_>> = toks[1..].iter().filter(|t| t.text != ",").collect();
    if rest.is_empty() {
        diags.push(Diagnostic::error(
            first.span,
            "ProtocolPorts needs ports",
            "write e.g. `ProtocolPorts Ftp 21,990`",
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in rest {
        for part in t.text.split(',').filter(|p| !p.is_empty()) {
            match part.parse::<u16>() {
                Ok(port) if port > 0 => out.push((port, protocol)),
                _ => diags.push(Diagnostic::error(
                    t.span,
                    format!("`{part}` is not a port (1-65535)"),
                    "write ports separated by commas, e.g. `ProtocolPorts Tn3270 23,992`",
                )),
            }
        }
    }
    out
}
