//! Whole-rule checks: that a TLS-enabled rule has a protocol, cipher suite and key-share group rustls
//! can use (D5, D6, D30), the warnings for what rustls will not do, keyrings a bare check cannot
//! open (D10), and rules that tie on Priority although they can match the same connection (D1).

use std::path::{Component, Path, PathBuf};

use super::super::ast::AddrMatch;
use super::super::ciphers;
use super::super::diag::Diagnostic;
use super::super::rustls_caps;
use super::super::source::Span;
use super::super::table::{AddrCond, ClientAuthType, Direction, PortCond, Rule, RuleTable, Settings};
use super::Resolver;
use super::levels::Levels;

impl Resolver<'_, '_> {
    /// Errors and warnings about what TLS a rule can really negotiate. False on an error.
    pub(super) fn tls_checks(
        &mut self,
        rule: &str,
        lv: &Levels<'_>,
        s: &Settings,
        written_ciphers: &[(u16, Span)],
        group_spans: &[(Span, Vec<u16>)],
    ) -> bool {
        let env_span = lv.env.map_or(lv.group.span(), |e| e.span());
        let p = &s.protocols;
        if !p.tlsv1_2 && !p.tlsv1_3 {
            let at = lv.adv("TLSv1.3").or(lv.adv("TLSv1.2")).map_or(env_span, |p| p.key_span);
            self.emit(Diagnostic::error(
                at,
                format!("TLS is enabled for TTLSRule {rule}, but neither TLSv1.2 nor TLSv1.3 is On"),
                "turn TLSv1.2 or TLSv1.3 On (rustls cannot negotiate SSLv2, SSLv3, TLSv1 or TLSv1.1)",
            ));
            return false;
        }
        let mut ok = self.cipher_checks(rule, env_span, s, written_ciphers);
        ok &= self.group_checks(rule, env_span, s, group_spans);
        self.rustls_limit_warnings(lv, s);
        ok
    }

    /// The written cipher suites rustls cannot do, and whether any suite is left for each protocol
    /// that is On. False on an error.
    fn cipher_checks(
        &mut self,
        rule: &str,
        env_span: Span,
        s: &Settings,
        written_ciphers: &[(u16, Span)],
    ) -> bool {
        let p = &s.protocols;
        if let Some(&(_, span)) = written_ciphers.iter().find(|(c, _)| !rustls_caps::supports_cipher(*c)) {
            let codes: Vec<String> = written_ciphers
                .iter()
                .filter(|(c, _)| !rustls_caps::supports_cipher(*c))
                .map(|&(c, _)| ciphers::hex4(c))
                .collect();
            self.emit(Diagnostic::rustls_limit(
                span,
                format!("cipher suites rustls cannot negotiate are never offered: {}", codes.join(" ")),
                "rustls offers 1301 1302 1303 C02B C02C C02F C030 CCA8 CCA9",
                "ciphers-rustls",
            ));
        }
        let cipher_span = written_ciphers.first().map_or(env_span, |&(_, s)| s);
        if s.ciphers_rustls.is_empty() {
            self.emit(Diagnostic::error(
                cipher_span,
                format!("no cipher suite of TTLSRule {rule} can be negotiated by rustls with the protocols that are On"),
                "add suites rustls can do, e.g. `V3CipherSuites4Char 13021301C030C02F`",
            ));
            return false;
        }
        let has13 = s.ciphers_rustls.iter().any(|&c| ciphers::is_tls13(c));
        let has12 = s.ciphers_rustls.iter().any(|&c| !ciphers::is_tls13(c));
        for (on, has, name, hint) in [
            (p.tlsv1_3, has13, "TLSv1.3", "add 1302 1301 1303, or turn TLSv1.3 Off"),
            (p.tlsv1_2, has12, "TLSv1.2", "add C030 C02F C02C C02B CCA8 CCA9, or turn TLSv1.2 Off"),
        ] {
            if on && !has {
                self.emit(Diagnostic::warning(
                    cipher_span,
                    format!("{name} is On but the cipher list has no {name} suite rustls can do, so it cannot be negotiated"),
                    hint,
                ));
            }
        }
        true
    }

    /// The written key-share groups rustls cannot do, and whether any group is left. False on an
    /// error.
    fn group_checks(
        &mut self,
        rule: &str,
        env_span: Span,
        s: &Settings,
        group_spans: &[(Span, Vec<u16>)],
    ) -> bool {
        for (span, written) in group_spans {
            let dropped: Vec<String> = written
                .iter()
                .filter(|&&g| !rustls_caps::supports_group(g))
                .map(|g| format!("{g:04}"))
                .collect();
            if !dropped.is_empty() {
                self.emit(Diagnostic::rustls_limit(
                    *span,
                    format!("key-share groups rustls cannot do are left out: {}", dropped.join(" ")),
                    "rustls does 0023 (secp256r1), 0024 (secp384r1) and 0029 (x25519)",
                    "groups-rustls",
                ));
            }
        }
        if s.groups_rustls.as_ref().is_some_and(Vec::is_empty) {
            let span = group_spans.first().map_or(env_span, |(s, _)| *s);
            self.emit(Diagnostic::error(
                span,
                format!("no key-share group of TTLSRule {rule} can be used by rustls"),
                "write `Any`, or include 0023, 0024 or 0029",
            ));
            return false;
        }
        true
    }

    /// Settings accepted but applied differently than on z/OS: ResetCipherTimer without TLSv1.3,
    /// ClientAuthType SAFCheck without a CertUserMap (D28; with one it is applied, D37).
    fn rustls_limit_warnings(&mut self, lv: &Levels<'_>, s: &Settings) {
        if s.reset_cipher_timer > 0
            && !s.protocols.tlsv1_3
            && let Some(t) = lv.adv("ResetCipherTimer")
        {
            self.emit(Diagnostic::rustls_limit(
                t.key_span,
                format!(
                    "ResetCipherTimer {} has no effect without TLSv1.3: rustls does not renegotiate TLS 1.2",
                    s.reset_cipher_timer
                ),
                "turn TLSv1.3 On (the timer sends a KeyUpdate), or remove the timer",
                "ResetCipherTimer",
            ));
        }
        if s.client_auth_type == ClientAuthType::SafCheck
            && !self.opts.cert_user_map
            && let Some(c) = lv.adv("ClientAuthType")
        {
            self.emit(Diagnostic::rustls_limit(
                c.value_span,
                "ClientAuthType SAFCheck is enforced as Required: without a CertUserMap no certificate maps to a user ID".into(),
                "add `CertUserMap PATH` to the main configuration (D37), or write `ClientAuthType Required` to say what attls does",
                "SAFCheck",
            ));
        }
    }

    /// D10: a bare check opens no keyring, but says which ones it could not find.
    pub(super) fn keyring_warning(&mut self, p: &super::super::ast::ParamItem) {
        let super::super::ast::Value::Text(ring) = &p.value else { return };
        let is_path = ring.starts_with('/') || ring.starts_with("./") || ring.starts_with("../");
        if !is_path {
            self.emit(Diagnostic::warning(
                p.value_span,
                format!("keyring `{ring}` is a z/OS key ring name, not opened by a bare check"),
                format!("map it to a PEM file or directory with `KeyringMap {ring} PATH` in the main configuration"),
            ));
            return;
        }
        let policy_dir = self.sources.path(p.value_span.file).parent().unwrap_or(Path::new("."));
        let path = normalize(&policy_dir.join(ring));
        if !path.exists() {
            self.emit(Diagnostic::warning(
                p.value_span,
                format!("keyring {} does not exist (a bare check opens no keyring)", path.display()),
                "create it, or check with -c CONFIG to open the keyrings the agent would use",
            ));
        }
    }

    /// D1: rules that can match the same connection with the same Priority are ordered by name only;
    /// warn once per such set so the administrator can make the order explicit.
    pub(super) fn overlap_warnings(&mut self, table: &RuleTable) {
        const LIMIT: usize = 20;
        let rules = table.rules();
        let mut reported = 0;
        let mut start = 0;
        while start < rules.len() && reported < LIMIT {
            let end =
                start + rules[start..].iter().take_while(|r| r.priority == rules[start].priority).count();
            for set in tie_sets(&rules[start..end]) {
                reported += 1;
                // In evaluation order (by name), which is the order of `rules`.
                let names: Vec<&str> = set.iter().map(|&i| rules[start + i].name.as_str()).collect();
                let prio =
                    rules[start].priority.map_or("no Priority".to_string(), |p| format!("Priority {p}"));
                let mut d = Diagnostic::warning(
                    self.rule_span(names[1]),
                    format!(
                        "TTLSRules {} can match the same connection and all have {prio}; they are evaluated by name, in that order",
                        names.join(", ")
                    ),
                    "give the rule that should win a higher Priority",
                );
                for n in names.iter().filter(|n| **n != names[1]) {
                    d = d.with_also(self.rule_span(n), format!("TTLSRule {n} is"));
                }
                self.emit(d);
            }
            start = end;
        }
    }

    fn rule_span(&self, name: &str) -> Span {
        self.ns.get(&(super::super::catalog::Kind::Rule, name)).map(|s| s.span()).unwrap_or_default()
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Sets (of two or more) of rules, positions in `group`, linked by "can match the same connection".
fn tie_sets(group: &[std::sync::Arc<Rule>]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..group.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut by_port: Vec<usize> = (0..group.len()).collect();
    by_port.sort_by_key(|&i| first_port(&group[i]));
    for (k, &a) in by_port.iter().enumerate() {
        for &b in &by_port[k + 1..] {
            if first_port(&group[b]) > last_port(&group[a]) {
                break;
            }
            if may_overlap(&group[a], &group[b]) {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut sets: Vec<Vec<usize>> = Vec::new();
    let mut index_of_root: Vec<Option<usize>> = vec![None; group.len()];
    for i in 0..group.len() {
        let r = root(&mut parent, i);
        match index_of_root[r] {
            Some(s) => sets[s].push(i),
            None => {
                index_of_root[r] = Some(sets.len());
                sets.push(vec![i]);
            }
        }
    }
    sets.retain(|s| s.len() > 1);
    sets
}

fn first_port(r: &Rule) -> u16 {
    r.local_port.entries.iter().map(|s| s.lo).min().unwrap_or(0)
}
fn last_port(r: &Rule) -> u16 {
    r.local_port.entries.iter().map(|s| s.hi).max().unwrap_or(u16::MAX)
}

fn may_overlap(a: &Rule, b: &Rule) -> bool {
    let dir = a.direction == Direction::Both || b.direction == Direction::Both || a.direction == b.direction;
    let ports = |x: &PortCond, y: &PortCond| {
        x.entries.is_empty()
            || y.entries.is_empty()
            || x.entries.iter().any(|s| y.entries.iter().any(|t| s.lo <= t.hi && t.lo <= s.hi))
    };
    let addrs = |x: &AddrCond, y: &AddrCond| {
        x.entries.is_empty()
            || y.entries.is_empty()
            || x.entries.iter().any(|s| y.entries.iter().any(|t| addr_overlap(s, t)))
    };
    dir && ports(&a.local_port, &b.local_port)
        && ports(&a.remote_port, &b.remote_port)
        && addrs(&a.local_addr, &b.local_addr)
        && addrs(&a.remote_addr, &b.remote_addr)
        && names_overlap(&a.jobname, &b.jobname)
        && names_overlap(&a.userid, &b.userid)
}

/// Whether two job-name (or user ID) patterns can both match one name.
fn names_overlap(x: &Option<String>, y: &Option<String>) -> bool {
    let (Some(x), Some(y)) = (x, y) else { return true };
    let (px, py) =
        (x.trim_end_matches('*').to_ascii_lowercase(), y.trim_end_matches('*').to_ascii_lowercase());
    match (x.ends_with('*'), y.ends_with('*')) {
        (false, false) => px == py,
        (true, false) => py.starts_with(&px),
        (false, true) => px.starts_with(&py),
        (true, true) => px.starts_with(&py) || py.starts_with(&px),
    }
}

fn addr_overlap(a: &AddrMatch, b: &AddrMatch) -> bool {
    let bounds = |m: &AddrMatch| match *m {
        AddrMatch::All => None,
        AddrMatch::Net(n) => Some((n.network(), n.broadcast())),
        AddrMatch::Range(lo, hi) => Some((lo, hi)),
    };
    match (bounds(a), bounds(b)) {
        (Some((alo, ahi)), Some((blo, bhi))) => alo.is_ipv4() == blo.is_ipv4() && alo <= bhi && blo <= ahi,
        _ => true,
    }
}
