//! Rule lookup for one connection (docs/policy-reference.md#rule-matching): among the rules whose
//! every written condition holds, the first in evaluation order wins. A local-port index narrows
//! the candidates; it returns exactly what the ordered scan returns. Also the SecondaryMap decision
//! (D8) as a pure function.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::table::{AddrCond, ConnDirection, PortCond, Rule, RuleTable};

/// What is known about a connection when it is mapped.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    pub direction: ConnDirection,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Job name (D7); `None` = unknown: only rules without a Jobname (or with `*`) match.
    pub jobname: Option<&'a str>,
    pub userid: Option<&'a str>,
}

/// IPv4-mapped IPv6 addresses are matched as IPv4 (D2).
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn addr_ok(cond: &AddrCond, ip: IpAddr) -> bool {
    cond.entries.is_empty() || cond.entries.iter().any(|m| m.contains(ip))
}

fn port_ok(cond: &PortCond, port: u16) -> bool {
    cond.entries.is_empty() || cond.entries.iter().any(|s| s.contains(port))
}

/// Job name or user ID condition: exact or trailing-`*` prefix, ASCII case ignored (D14).
pub fn name_ok(pattern: Option<&str>, value: Option<&str>) -> bool {
    let Some(pattern) = pattern else { return true };
    if pattern == "*" {
        return true;
    }
    let Some(value) = value else { return false };
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            value.len() >= prefix.len()
                && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        }
        None => value.eq_ignore_ascii_case(pattern),
    }
}

/// Whether every written condition of `rule` holds for `c`.
pub fn rule_matches(rule: &Rule, c: &Connection<'_>) -> bool {
    rule.direction.admits(c.direction)
        && port_ok(&rule.local_port, c.local.port())
        && port_ok(&rule.remote_port, c.remote.port())
        && addr_ok(&rule.local_addr, canonical(c.local.ip()))
        && addr_ok(&rule.remote_addr, canonical(c.remote.ip()))
        && name_ok(rule.jobname.as_deref(), c.jobname)
        && name_ok(rule.userid.as_deref(), c.userid)
}

/// Local port to candidate rules (positions in evaluation order): a segment tree over the
/// elementary port intervals that the rules' local-port bounds cut. Each rule sits in O(log n) nodes;
/// a lookup walks one leaf-to-root path and merges the (sorted) lists it meets with the rules that
/// accept any local port, in evaluation order, stopping at the first rule that matches.
#[derive(Debug, Clone, Default)]
pub struct PortIndex {
    /// Start port of each elementary interval; `starts[0] == 0`.
    starts: Vec<u16>,
    /// Node `k` of the bottom-up tree: leaves at `starts.len() + interval`.
    nodes: Vec<Box<[u32]>>,
    /// Rules with any local port: candidates for every port.
    any: Box<[u32]>,
}

impl PortIndex {
    pub fn build(rules: &[Rule]) -> Self {
        let mut bounds: Vec<u16> = vec![0];
        let mut any = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.local_port.entries.is_empty() {
                any.push(i as u32);
            }
            for s in &r.local_port.entries {
                bounds.push(s.lo);
                if s.hi < u16::MAX {
                    bounds.push(s.hi + 1);
                }
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let m = bounds.len();
        let mut nodes: Vec<Vec<u32>> = vec![Vec::new(); 2 * m];
        for (i, r) in rules.iter().enumerate() {
            for s in &r.local_port.entries {
                // Elementary intervals [first, end) that the span covers.
                let (mut l, mut h) =
                    (bounds.partition_point(|&b| b < s.lo) + m, bounds.partition_point(|&b| b <= s.hi) + m);
                while l < h {
                    if l & 1 == 1 {
                        push_once(&mut nodes[l], i as u32);
                        l += 1;
                    }
                    if h & 1 == 1 {
                        h -= 1;
                        push_once(&mut nodes[h], i as u32);
                    }
                    l >>= 1;
                    h >>= 1;
                }
            }
        }
        PortIndex {
            starts: bounds,
            nodes: nodes.into_iter().map(Vec::into_boxed_slice).collect(),
            any: any.into_boxed_slice(),
        }
    }

    /// The sorted candidate lists for a port: one per tree node on the path, plus `any`.
    fn candidates<'a>(&'a self, port: u16, out: &mut Vec<&'a [u32]>) {
        let m = self.starts.len();
        let mut k = self.starts.partition_point(|&s| s <= port) - 1 + m;
        while k > 0 {
            if !self.nodes[k].is_empty() {
                out.push(&self.nodes[k]);
            }
            k >>= 1;
        }
        if !self.any.is_empty() {
            out.push(&self.any);
        }
    }
}

/// Rules are added in evaluation order, so a list stays sorted; a rule with two spans in one node
/// is kept once.
fn push_once(list: &mut Vec<u32>, i: u32) {
    if list.last() != Some(&i) {
        list.push(i);
    }
}

impl RuleTable {
    /// The rule for a connection, through the port index.
    pub fn lookup(&self, c: &Connection<'_>) -> Option<&Arc<Rule>> {
        let rules = self.rules();
        let mut lists: Vec<&[u32]> = Vec::with_capacity(20);
        self.index.candidates(c.local.port(), &mut lists);
        // Merge the sorted lists in evaluation order; the first rule that matches wins.
        loop {
            let next = *lists.iter().filter_map(|l| l.first()).min()?;
            for l in lists.iter_mut() {
                if l.first() == Some(&next) {
                    *l = &l[1..];
                }
            }
            let rule = &rules[next as usize];
            if rule_matches(rule, c) {
                return Some(rule);
            }
        }
    }

    /// The rule for a connection by scanning every rule in order (the definition `lookup` follows).
    pub fn lookup_scan(&self, c: &Connection<'_>) -> Option<&Arc<Rule>> {
        self.rules().iter().find(|r| rule_matches(r, c))
    }
}

/// How a connection was mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    Primary,
    Secondary,
}

impl MapType {
    pub fn word(self) -> &'static str {
        match self {
            MapType::Primary => "Primary",
            MapType::Secondary => "Secondary",
        }
    }
}

/// An open primary connection as SecondaryMap sees it: its rule and its IP pair. The caller only
/// passes primaries of the same owner (listener and, for FTP, control session) (D8).
#[derive(Debug, Clone, Copy)]
pub struct Primary<'r> {
    pub rule: &'r Rule,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
}

/// SecondaryMap (docs/policy-reference.md#secondarymap, D8): given the connection's own best rule
/// and a live primary of the same owner, which rule the connection takes and how it is mapped.
pub fn map_with_primary<'r>(
    own: Option<&'r Rule>,
    primary: Option<Primary<'r>>,
    local_ip: IpAddr,
    remote_ip: IpAddr,
) -> (Option<&'r Rule>, Option<MapType>) {
    let own_result = (own, own.map(|_| MapType::Primary));
    let Some(p) = primary else { return own_result };
    let same_pair =
        canonical(p.local_ip) == canonical(local_ip) && canonical(p.remote_ip) == canonical(remote_ip);
    if !p.rule.settings.secondary_map || !same_pair {
        return own_result;
    }
    // An absent Priority counts lowest (None < Some); equal priorities keep their own rule.
    let takes_primary = match own {
        None => true,
        Some(r) => r.priority < p.rule.priority,
    };
    if takes_primary { (Some(p.rule), Some(MapType::Secondary)) } else { own_result }
}

#[cfg(test)]
mod tests;
