//! Transparent mode's kernel side: the nftables rules that send intercepted connections to
//! a transparent listener, as `pagent setup-intercept` prints them, and the marks the agent and
//! those rules agree on.
//!
//! [`nft_script`] is a pure function of the main configuration and the loaded policy: for each
//! `Transparent` listener it lists the ports of the rules that can match that listener's connections
//! (local ports inbound, remote ports outbound, rules of its direction or `Both`) plus its
//! `ProtocolPorts`, in one table `inet attls` that the script flushes first, so loading it again
//! replaces the previous rules. A rule's Jobname and Userid do not narrow the ports: for an
//! intercepted connection they are the owning process's (docs/decisions.md D7), known only per
//! connection, and a port left out would pass in clear where a rule wants TLS. Chains: `prerouting`
//! (nat, `redirect`, inbound), `output` (nat, `redirect`, outbound, and with `--local` inbound for
//! clients on this host to a local address; returns first on [`OWN_MARK`]) and `tproxy_prerouting`
//! (filter at mangle priority, `tproxy`). `docs/transparent.md` explains them.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::config::{Config, ListenerConfig, Transparent};
use crate::policy::ast::PortSpan;
use crate::policy::table::{ConnDirection, RuleTable};

/// SO_MARK on every connection the agent itself opens for a transparent listener, so interception
/// rules skip them (`meta mark 0x4154 return`): the agent never intercepts its own connections.
pub const OWN_MARK: u32 = 0x4154;
/// The mark TPROXY rules set on intercepted packets, routed to the local stack by
/// `ip rule add fwmark 0x1 lookup 100` and `ip route add local 0.0.0.0/0 dev lo table 100`.
pub const TPROXY_MARK: u32 = 0x1;
/// The routing table of that local route.
pub const TPROXY_TABLE: u32 = 100;

/// The nft table every rule lives in (`nft delete table inet attls` removes them all).
pub const TABLE: &str = "inet attls";

/// What `pagent setup-intercept` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Input for `nft -f -`.
    pub nft: String,
    /// The policy routing Tproxy needs, as shell commands that can run again; empty without a
    /// Tproxy listener.
    pub routing: String,
}

/// Why no script can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterceptError {
    /// No listener of the configuration has `Transparent Redirect|Tproxy`.
    NoTransparentListener(PathBuf),
}

impl std::fmt::Display for InterceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterceptError::NoTransparentListener(p) => write!(
                f,
                "{} has no transparent listener: add `Transparent Redirect` or `Transparent Tproxy` \
                 to a Listener block",
                p.display()
            ),
        }
    }
}

impl std::error::Error for InterceptError {}

/// The ports one transparent listener intercepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerPorts {
    /// Sorted, merged, never overlapping: ready for an nft anonymous set.
    pub spans: Vec<PortSpan>,
    /// Rules that can match the listener but accept any port: they cannot be listed.
    pub any_port_rules: Vec<String>,
    /// Rules whose ports are listed, in evaluation order.
    pub rules: Vec<String>,
}

/// The ports of the rules that can match a connection of `listener` (its direction; any Jobname and
/// Userid, since the owning process supplies them): local ports for an inbound listener, remote
/// ports for an outbound one; plus its `ProtocolPorts`.
pub fn listener_ports(listener: &ListenerConfig, table: &RuleTable) -> ListenerPorts {
    let mut out = ListenerPorts::default();
    let mut spans: Vec<PortSpan> =
        listener.protocol_ports.iter().map(|(p, _)| PortSpan { lo: *p, hi: *p }).collect();
    for rule in table.rules() {
        if !rule.direction.admits(listener.direction) {
            continue;
        }
        let cond = match listener.direction {
            ConnDirection::Inbound => &rule.local_port,
            ConnDirection::Outbound => &rule.remote_port,
        };
        if cond.entries.is_empty() || cond.entries.iter().any(PortSpan::is_any) {
            out.any_port_rules.push(rule.name.clone());
        } else {
            spans.extend(cond.entries.iter().copied());
            out.rules.push(rule.name.clone());
        }
    }
    out.spans = merge(spans);
    out
}

/// Sorts spans and joins the ones that overlap or touch (nft refuses overlapping set elements).
fn merge(mut spans: Vec<PortSpan>) -> Vec<PortSpan> {
    spans.sort_by_key(|s| (s.lo, s.hi));
    let mut out: Vec<PortSpan> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if u32::from(s.lo) <= u32::from(last.hi) + 1 => last.hi = last.hi.max(s.hi),
            _ => out.push(s),
        }
    }
    out
}

/// The ports two merged span lists have in common.
fn overlap(a: &[PortSpan], b: &[PortSpan]) -> Vec<PortSpan> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let (lo, hi) = (x.lo.max(y.lo), x.hi.min(y.hi));
            if lo <= hi {
                out.push(PortSpan { lo, hi });
            }
        }
    }
    merge(out)
}

/// FNV-1a over the policy texts in load order: names the policy a script was made from.
pub fn fingerprint<'a>(texts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in texts {
        for b in t.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// What `setup-intercept` adds beyond the default rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptOptions {
    /// `--local`: Inbound Redirect listeners also take connections opened on this host to a local
    /// address (the `output` hook; `prerouting` only sees connections arriving from the network).
    pub local: bool,
}

/// [`nft_script_with`] and the default options: what `pagent setup-intercept` prints.
pub fn nft_script(config: &Config, table: &RuleTable, fingerprint: u64) -> Result<Script, InterceptError> {
    nft_script_with(config, table, fingerprint, ScriptOptions::default())
}

/// The hooks a listener's rules go to, for the overlap warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Prerouting,
    Output,
    /// `--local` rules: output, destination a local address.
    OutputLocal,
}

/// The nft script (and the Tproxy policy routing) for every transparent listener of `config`, with
/// the ports of `table`, the policy loaded from `config.policy_files` (`fingerprint` of its texts).
pub fn nft_script_with(
    config: &Config,
    table: &RuleTable,
    fingerprint: u64,
    options: ScriptOptions,
) -> Result<Script, InterceptError> {
    let transparent: Vec<&ListenerConfig> =
        config.listeners.iter().filter(|l| l.transparent.is_some()).collect();
    if transparent.is_empty() {
        return Err(InterceptError::NoTransparentListener(config.path.clone()));
    }
    let (mut nat_in, mut nat_out, mut nat_local, mut tproxy) =
        (String::new(), String::new(), String::new(), String::new());
    // Ports already taken on each hook, for the overlap warnings.
    let mut taken: Vec<(Hook, &str, Vec<PortSpan>)> = Vec::new();
    for l in &transparent {
        let (kind, direction) = (l.transparent.expect("filtered on Some"), l.direction);
        let (chain, hook) = match (kind, direction) {
            (Transparent::Redirect, ConnDirection::Inbound) => (&mut nat_in, Hook::Prerouting),
            (Transparent::Redirect, ConnDirection::Outbound) => (&mut nat_out, Hook::Output),
            (Transparent::Tproxy, _) => (&mut tproxy, Hook::Prerouting),
        };
        let ports = listener_ports(l, table);
        let shared = |hook: Hook| -> Vec<String> {
            taken
                .iter()
                .filter(|(h, _, _)| *h == hook)
                .filter_map(|(_, name, spans)| {
                    let common: Vec<String> =
                        overlap(&ports.spans, spans).iter().map(PortSpan::to_string).collect();
                    (!common.is_empty()).then(|| {
                        format!(
                            "ports {} are also intercepted for Listener {name}: each goes to one listener",
                            common.join(", ")
                        )
                    })
                })
                .collect()
        };
        listener_rules(chain, l, &ports, &shared(hook));
        if options.local && direction == ConnDirection::Inbound {
            local_rules(&mut nat_local, l, &ports, &shared(Hook::OutputLocal));
            taken.push((Hook::OutputLocal, &l.name, ports.spans.clone()));
        }
        taken.push((hook, &l.name, ports.spans));
    }
    let mut nft = header(config, table, fingerprint, options);
    let _ = writeln!(nft, "table {TABLE}\nflush table {TABLE}\ntable {TABLE} {{");
    let mut chains = Vec::new();
    if !nat_in.is_empty() {
        chains.push(chain("prerouting", "type nat hook prerouting priority dstnat", &nat_in));
    }
    if !nat_out.is_empty() || !nat_local.is_empty() {
        let body = format!(
            "    # the agent's own connections (SO_MARK {OWN_MARK:#x}) are never intercepted\n    \
             meta mark {OWN_MARK:#x} return\n{nat_local}{nat_out}"
        );
        chains.push(chain("output", "type nat hook output priority -100", &body));
    }
    if !tproxy.is_empty() {
        let body = format!(
            "    # packets of connections a transparent socket already owns (accepted connections, FTP\n    \
             # passive listeners, the agent's connections that keep the client's address)\n    \
             meta l4proto tcp socket transparent 1 meta mark set {TPROXY_MARK:#x} accept\n{tproxy}"
        );
        chains.push(chain("tproxy_prerouting", "type filter hook prerouting priority mangle", &body));
    }
    nft.push_str(&chains.join("\n"));
    nft.push_str("}\n");
    let routing = if tproxy.is_empty() { String::new() } else { routing_script() };
    if !routing.is_empty() {
        nft.push_str(&routing_comment());
    }
    Ok(Script { nft, routing })
}

fn header(config: &Config, table: &RuleTable, fingerprint: u64, options: ScriptOptions) -> String {
    let files: Vec<String> = config.policy_files.iter().map(|p| p.display().to_string()).collect();
    format!(
        "# attls transparent interception: printed by `pagent setup-intercept`\n\
         # config: {}\n\
         # policy: {} ({} rules, fingerprint {fingerprint:016x})\n\
         # Ports: those of every rule of a listener's direction, whatever its Jobname and Userid (the\n\
         # owning process's, known per connection). Print and load this again when the ports change.\n\
         # Loop prevention: the agent sets SO_MARK {OWN_MARK:#x} on every connection it opens for a\n\
         # transparent listener; those connections are never intercepted.\n\
         # Load: pagent setup-intercept -c {}{} | nft -f -    Remove: nft delete table {TABLE}\n",
        config.path.display(),
        files.join(", "),
        table.len(),
        config.path.display(),
        if options.local { " --local" } else { "" },
    )
}

fn chain(name: &str, hook: &str, body: &str) -> String {
    format!("  chain {name} {{\n    {hook}; policy accept;\n{body}  }}\n")
}

/// The comment and rule lines of one listener.
fn listener_rules(out: &mut String, l: &ListenerConfig, ports: &ListenerPorts, shared: &[String]) {
    let kind = l.transparent.expect("a transparent listener");
    let (dir, side) = match l.direction {
        ConnDirection::Inbound => ("Inbound", "local"),
        ConnDirection::Outbound => ("Outbound", "remote"),
    };
    let _ =
        writeln!(out, "    # Listener {} ({dir}, Transparent {}, Listen {})", l.name, kind.word(), l.listen);
    if !ports.rules.is_empty() {
        let _ = writeln!(out, "    #   {side} ports of TTLSRule {}", ports.rules.join(", "));
    }
    if !l.protocol_ports.is_empty() {
        let pp: Vec<String> = l.protocol_ports.iter().map(|(p, h)| format!("{p} {}", h.word())).collect();
        let _ = writeln!(out, "    #   ProtocolPorts {}", pp.join(", "));
    }
    for w in warnings(l).iter().chain(shared) {
        let _ = writeln!(out, "    # warning: {w}");
    }
    for r in &ports.any_port_rules {
        let _ = writeln!(
            out,
            "    # TTLSRule {r} matches any {side} port, which cannot be listed: add the ports it should \
             take to the set by hand"
        );
    }
    if ports.spans.is_empty() {
        let _ = writeln!(out, "    # no {side} port to intercept for Listener {}", l.name);
        return;
    }
    let set: Vec<String> = ports.spans.iter().map(PortSpan::to_string).collect();
    let dport = format!("tcp dport {{ {} }}", set.join(", "));
    let port = l.listen.port();
    match kind {
        Transparent::Redirect => {
            let _ = writeln!(out, "    {}{dport} redirect to :{port}", family_match(l.listen));
        }
        Transparent::Tproxy => {
            let mark = format!("meta mark set {TPROXY_MARK:#x} accept");
            let (v4, v6) = families(l.listen);
            if v4 {
                let ip = l.listen.ip().to_canonical();
                let to = if ip.is_unspecified() { String::new() } else { ip.to_string() };
                let _ = writeln!(out, "    {dport} tproxy ip to {to}:{port} {mark}");
            }
            if v6 {
                let to = if l.listen.ip().is_unspecified() {
                    String::new()
                } else {
                    format!("[{}]", l.listen.ip())
                };
                let _ = writeln!(out, "    {dport} tproxy ip6 to {to}:{port} {mark}");
            }
        }
    }
}

/// `--local`: the `output` rule of an Inbound listener, for connections this host's own processes
/// open to a local address and a port of the listener (a comment where none can be made).
fn local_rules(out: &mut String, l: &ListenerConfig, ports: &ListenerPorts, shared: &[String]) {
    let kind = l.transparent.expect("a transparent listener");
    let _ = writeln!(
        out,
        "    # Listener {} (Inbound, clients on this host, Transparent {}, Listen {})",
        l.name,
        kind.word(),
        l.listen
    );
    if kind == Transparent::Tproxy {
        let _ = writeln!(
            out,
            "    # warning: tproxy cannot take connections opened on this host; add a Transparent \
             Redirect listener (Listen 0.0.0.0:PORT) for local clients"
        );
        return;
    }
    let ip = l.listen.ip();
    if !(ip.is_unspecified() || ip.is_loopback()) {
        let _ = writeln!(
            out,
            "    # warning: redirect delivers local connections to the loopback address: Listen {ip} \
             never sees them; use Listen 0.0.0.0:{port} or [::]:{port}",
            port = l.listen.port()
        );
    }
    for w in shared {
        let _ = writeln!(out, "    # warning: {w}");
    }
    if ports.spans.is_empty() {
        let _ = writeln!(out, "    # no local port to intercept for Listener {}", l.name);
        return;
    }
    let set: Vec<String> = ports.spans.iter().map(PortSpan::to_string).collect();
    let _ = writeln!(
        out,
        "    {}fib daddr type local tcp dport {{ {} }} redirect to :{}",
        family_match(l.listen),
        set.join(", "),
        l.listen.port()
    );
}

/// Which families a listener accepts: `0.0.0.0` and IPv4 addresses IPv4 only, `[::]` both (dual
/// stack), other IPv6 addresses IPv6 only.
fn families(listen: SocketAddr) -> (bool, bool) {
    match listen.ip() {
        IpAddr::V4(_) => (true, false),
        IpAddr::V6(a) if a.is_unspecified() => (true, true),
        IpAddr::V6(a) => (a.to_ipv4_mapped().is_some(), a.to_ipv4_mapped().is_none()),
    }
}

/// `meta nfproto ipv4 ` when a redirect must not catch the other family's connections.
fn family_match(listen: SocketAddr) -> &'static str {
    match families(listen) {
        (true, false) => "meta nfproto ipv4 ",
        (false, true) => "meta nfproto ipv6 ",
        _ => "",
    }
}

/// Listen addresses the kernel will not deliver intercepted connections to.
fn warnings(l: &ListenerConfig) -> Vec<String> {
    let ip = l.listen.ip();
    let mut w = Vec::new();
    match (l.transparent, l.direction) {
        (Some(Transparent::Redirect), ConnDirection::Inbound) if !ip.is_unspecified() => w.push(format!(
            "redirect delivers to the receiving interface's primary address: Listen {ip} must be it, \
             or use Listen 0.0.0.0:{port} / [::]:{port}",
            port = l.listen.port()
        )),
        (Some(Transparent::Redirect), ConnDirection::Outbound)
            if !(ip.is_unspecified() || ip.is_loopback()) =>
        {
            w.push(format!(
                "redirect delivers local connections to the loopback address: Listen {ip} never sees them; \
                 use Listen 127.0.0.1:{port} or [::1]:{port}",
                port = l.listen.port()
            ))
        }
        (Some(Transparent::Tproxy), ConnDirection::Outbound) => w.push(
            "tproxy sees forwarded connections only (router); connections opened on this host need \
             Transparent Redirect"
                .to_string(),
        ),
        _ => {}
    }
    w
}

/// The policy routing lines, as comments of the nft script.
fn routing_comment() -> String {
    format!(
        "# Tproxy also needs policy routing (once per boot; `pagent setup-intercept --routing | sh`):\n\
         #   ip rule add fwmark {m:#x} lookup {t}\n\
         #   ip route add local 0.0.0.0/0 dev lo table {t}\n\
         #   ip -6 rule add fwmark {m:#x} lookup {t}\n\
         #   ip -6 route add local ::/0 dev lo table {t}\n",
        m = TPROXY_MARK,
        t = TPROXY_TABLE
    )
}

/// The same routing as a shell script that can run again without adding duplicates.
fn routing_script() -> String {
    let mut s = String::from("# attls Tproxy policy routing: marked packets go to the local stack\n");
    for (v, any) in [("", "0.0.0.0/0"), (" -6", "::/0")] {
        let _ = writeln!(
            s,
            "ip{v} rule show fwmark {m:#x} lookup {t} | grep -q . || ip{v} rule add fwmark {m:#x} lookup {t}\n\
             ip{v} route replace local {any} dev lo table {t}",
            m = TPROXY_MARK,
            t = TPROXY_TABLE
        );
    }
    s
}

#[cfg(test)]
mod tests;
