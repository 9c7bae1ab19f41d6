//! The values of the `Listener` block's own keywords (Listen, Backend, Direction, Protocol,
//! Jobname/Userid, ClientHelloHold, Transparent, ProtocolPorts): each parser returns the value,
//! or `None` after reporting why it is not one.

use std::net::SocketAddr;
use std::time::Duration;

use super::{JobnameFrom, ListenerLimits, NoPolicy, Protocol, Transparent};
use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::lex::Token;
use crate::policy::table::ConnDirection;

/// `Listen ADDR:PORT`.
pub(super) fn listen(v: Token<'_>, diags: &mut Diagnostics) -> Option<SocketAddr> {
    match v.text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{}` is not ADDR:PORT", v.text),
                "write e.g. `Listen 0.0.0.0:8443` or `Listen [::]:8443`",
            ));
            None
        }
    }
}

/// `Backend HOST:PORT`.
pub(super) fn backend(v: Token<'_>, diags: &mut Diagnostics) -> Option<(String, u16)> {
    let hp = host_port(v.text);
    if hp.is_none() {
        diags.push(Diagnostic::error(
            v.span,
            format!("`{}` is not HOST:PORT", v.text),
            "write e.g. `Backend 127.0.0.1:8080` or `Backend db.example.com:5000`",
        ));
    }
    hp
}

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

/// `Direction Inbound|Outbound`.
pub(super) fn direction(v: Token<'_>, diags: &mut Diagnostics) -> Option<ConnDirection> {
    match v.text.to_ascii_lowercase().as_str() {
        "inbound" => Some(ConnDirection::Inbound),
        "outbound" => Some(ConnDirection::Outbound),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{}` is not Inbound or Outbound", v.text),
                "write `Direction Inbound` or `Direction Outbound`",
            ));
            None
        }
    }
}

/// `Protocol Raw|Ftp|Tn3270`.
pub(super) fn protocol(v: Token<'_>, diags: &mut Diagnostics) -> Option<Protocol> {
    match v.text.to_ascii_lowercase().as_str() {
        "raw" => Some(Protocol::Raw),
        "ftp" => Some(Protocol::Ftp),
        "tn3270" => Some(Protocol::Tn3270),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{}` is not Raw, Ftp or Tn3270", v.text),
                "write `Protocol Raw`",
            ));
            None
        }
    }
}

/// `Jobname NAME` / `Userid NAME`: up to 32 characters; beyond z/OS's 8 is a portability note.
pub(super) fn job_or_user_name(word: &str, v: Token<'_>, diags: &mut Diagnostics) -> String {
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
    n
}

/// `ClientHelloHold MILLISECONDS`, at most 60000.
pub(super) fn client_hello_hold(v: Token<'_>, diags: &mut Diagnostics) -> Option<Duration> {
    match v.text.parse::<u64>() {
        Ok(ms) if ms <= 60_000 => Some(Duration::from_millis(ms)),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                "ClientHelloHold needs milliseconds from 0 to 60000",
                "write e.g. `ClientHelloHold 500`",
            ));
            None
        }
    }
}

/// `Transparent Redirect|Tproxy`.
pub(super) fn transparent(v: Token<'_>, diags: &mut Diagnostics) -> Option<Transparent> {
    match v.text.to_ascii_lowercase().as_str() {
        "redirect" => Some(Transparent::Redirect),
        "tproxy" => Some(Transparent::Tproxy),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{}` is not Redirect or Tproxy", v.text),
                "write `Transparent Redirect` (nft redirect) or `Transparent Tproxy` (nft tproxy)",
            ));
            None
        }
    }
}

/// `MaxConnections`, `MaxConnectionsPerSource`, `Backlog` (counts) and `ConnectTimeout`,
/// `IdleTimeout` (seconds; IdleTimeout 0 = never).
pub(super) fn limit(limits: &mut ListenerLimits, word: &str, v: Token<'_>, diags: &mut Diagnostics) {
    let (min, max) = match word {
        "MaxConnections" | "MaxConnectionsPerSource" => (1, 1_000_000),
        "Backlog" => (1, 65_535),
        "ConnectTimeout" => (1, 3600),
        _ => (0, 86_400),
    };
    let Some(n) = v.text.parse::<u64>().ok().filter(|n| (min..=max).contains(n)) else {
        diags.push(Diagnostic::error(
            v.span,
            format!("{word} needs a number from {min} to {max}, not `{}`", v.text),
            format!("write `{word} N`"),
        ));
        return;
    };
    match word {
        "MaxConnections" => limits.max_connections = n as usize,
        "MaxConnectionsPerSource" => limits.max_per_source = n as usize,
        "Backlog" => limits.backlog = n as u32,
        "ConnectTimeout" => limits.connect_timeout = Duration::from_secs(n),
        _ => limits.idle_timeout = (n > 0).then(|| Duration::from_secs(n)),
    }
}

/// `JobnameFrom Command|Unit`.
pub(super) fn jobname_from(v: Token<'_>, diags: &mut Diagnostics) -> Option<JobnameFrom> {
    match v.text.to_ascii_lowercase().as_str() {
        "command" => Some(JobnameFrom::Command),
        "unit" => Some(JobnameFrom::Unit),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{}` is not Command or Unit", v.text),
                "write `JobnameFrom Unit` to match Jobname against the owner's systemd unit",
            ));
            None
        }
    }
}

/// `NoPolicy Refuse|Clear`.
pub(super) fn no_policy(v: Token<'_>, diags: &mut Diagnostics) -> Option<NoPolicy> {
    match v.text.to_ascii_lowercase().as_str() {
        "refuse" => Some(NoPolicy::Refuse),
        "clear" => Some(NoPolicy::Clear),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{}` is not Refuse or Clear", v.text),
                "write `NoPolicy Refuse` (reset connections no rule matches) or `NoPolicy Clear` (relay them in clear)",
            ));
            None
        }
    }
}

/// `ProtocolPorts Ftp 21,990`: a helper and the original destination ports it serves.
pub(super) fn protocol_ports(toks: &[Token<'_>], diags: &mut Diagnostics) -> Vec<(u16, Protocol)> {
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
