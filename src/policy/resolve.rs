//! Resolution: statements of every file into one namespace (D4: the last definition wins), references
//! followed and type-checked, and each rule's effective settings computed in the precedence of
//! ATTLS.md §2.10 — connection action over environment action over group action over the documented
//! default (D5, D15, D30). The result is the immutable [`RuleTable`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::ast::{AddrMatch, Item, ParamItem, Statement, Value};
use super::catalog::{Kind, ValueType};
use super::ciphers;
use super::diag::{Diagnostic, Diagnostics, nearest};
use super::rustls_caps;
use super::source::{FileId, SourceMap, Span};
use super::table::{
    AddrCond, ClientAuthType, Direction, PortCond, Protocols, Role, Rule, RuleTable, SessionSettings,
    Settings,
};

/// D15: the list used when no TTLSCipherParms is written at any level.
pub const DEFAULT_CIPHERS: [u16; 9] =
    [0x1302, 0x1301, 0x1303, 0xC02C, 0xC02B, 0xCCA9, 0xC030, 0xC02F, 0xCCA8];

/// Options of one load.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions {
    /// Whether to look at keyring paths and warn (a bare `pagent check` opens no keyring, D10).
    pub warn_keyrings: bool,
}

/// Parameters that have a column of their own in reports; everything else written lands in `other`.
const CONSUMED: &[&str] = &[
    "TTLSEnabled",
    "Trace",
    "CtraceClearText",
    "SyslogFacility",
    "HandshakeRole",
    "ClientAuthType",
    "Keyring",
    "KeyringPw",
    "KeyringStashFile",
    "CertificateLabel",
    "SSLv2",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "V3CipherSuites",
    "V3CipherSuites4Char",
    "ApplicationControlled",
    "SecondaryMap",
    "HandshakeTimeout",
    "ResetCipherTimer",
    "ClientHandshakeSNI",
    "ClientHandshakeSNIList",
    "HostReferenceIdDNS",
    "ClientECurves",
    "ClientKeyShareGroups",
    "ServerKexECurves",
    "ServerKeyShareGroups",
    "GSK_V3_SESSION_TIMEOUT",
    "GSK_V3_SIDCACHE_SIZE",
    "GSK_SESSION_TICKET_SERVER_ENABLE",
    "GSK_SESSION_TICKET_SERVER_COUNT",
    "GSK_SESSION_TICKET_SERVER_TIMEOUT",
    "GSK_SESSION_TICKET_SERVER_KEY_REFRESH",
    "GSK_SESSION_TICKET_CLIENT_ENABLE",
];

/// Builds the rule table from parsed files (in load order). Returns `None` if any error was found;
/// every error and warning goes to `diags`.
pub fn resolve(
    files: &[(FileId, Vec<Statement>)],
    sources: &SourceMap,
    opts: ResolveOptions,
    diags: &mut Diagnostics,
) -> Option<RuleTable> {
    let mut r = Resolver {
        ns: HashMap::new(),
        inline: HashMap::new(),
        sources,
        opts,
        diags,
        seen: HashSet::new(),
        combos: HashMap::new(),
    };
    r.build_namespace(files);
    let mut rules = Vec::new();
    let mut names: Vec<&str> = r.ns.keys().filter(|(k, _)| *k == Kind::Rule).map(|(_, n)| *n).collect();
    names.sort_unstable();
    for name in names {
        let stmt = r.ns[&(Kind::Rule, name)];
        if let Some(rule) = r.rule(stmt) {
            rules.push(rule);
        }
    }
    let table = RuleTable::new(rules);
    r.overlap_warnings(&table);
    (!r.diags.has_errors()).then_some(table)
}

struct Resolver<'s, 'd> {
    ns: HashMap<(Kind, &'s str), &'s Statement>,
    /// Names of inline blocks, for the D17 hint.
    inline: HashMap<&'s str, Kind>,
    sources: &'s SourceMap,
    opts: ResolveOptions,
    diags: &'d mut Diagnostics,
    seen: HashSet<(Span, String)>,
    combos: HashMap<(String, Option<String>, Option<String>), Option<Arc<Settings>>>,
}

/// One action's blocks, found through inline blocks or references.
#[derive(Default)]
struct Levels<'s> {
    group: Option<&'s Statement>,
    group_adv: Option<&'s Statement>,
    env: Option<&'s Statement>,
    env_adv: Option<&'s Statement>,
    env_cipher: Option<&'s Statement>,
    env_sig: Option<&'s Statement>,
    keyring: Option<&'s Statement>,
    gsk: Option<&'s Statement>,
    conn: Option<&'s Statement>,
    conn_adv: Option<&'s Statement>,
    conn_cipher: Option<&'s Statement>,
    conn_sig: Option<&'s Statement>,
}

impl<'s> Levels<'s> {
    fn adv(&self, name: &str) -> Option<&'s ParamItem> {
        self.conn_adv.and_then(|b| b.param(name)).or_else(|| self.env_adv.and_then(|b| b.param(name)))
    }
    fn all_adv(&self, name: &str) -> Vec<&'s ParamItem> {
        let from = |b: Option<&'s Statement>| {
            b.map(|b| b.params().filter(|p| p.def.name == name).collect::<Vec<_>>()).unwrap_or_default()
        };
        let conn = from(self.conn_adv);
        if conn.is_empty() { from(self.env_adv) } else { conn }
    }
    fn action_param(&self, name: &str) -> Option<&'s ParamItem> {
        [self.conn, self.env, self.group].into_iter().flatten().find_map(|b| b.param(name))
    }
}

fn on_off(p: Option<&ParamItem>, default: bool) -> bool {
    match p.map(|p| &p.value) {
        Some(Value::OnOff(b)) => *b,
        _ => default,
    }
}
fn int(p: Option<&ParamItem>, default: u32) -> u32 {
    match p.map(|p| &p.value) {
        Some(Value::Int(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        _ => default,
    }
}
fn word(p: Option<&ParamItem>) -> Option<&'static str> {
    match p.map(|p| &p.value) {
        Some(Value::Enum(w)) => Some(w),
        _ => None,
    }
}
fn text(p: Option<&ParamItem>) -> Option<String> {
    match p.map(|p| &p.value) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

impl<'s> Resolver<'s, '_> {
    fn emit(&mut self, d: Diagnostic) {
        if self.seen.insert((d.span, d.message.clone())) {
            self.diags.push(d);
        }
    }

    fn build_namespace(&mut self, files: &'s [(FileId, Vec<Statement>)]) {
        for (_, stmts) in files {
            for stmt in stmts {
                collect_inline(stmt, &mut self.inline);
                let Some(name) = &stmt.name else { continue };
                if let Some(prev) = self.ns.insert((stmt.kind, name.value.as_str()), stmt) {
                    let prev_span = prev.name.as_ref().map_or(prev.keyword_span, |n| n.span);
                    if prev_span.file == name.span.file {
                        self.emit(
                            Diagnostic::portability(
                                name.span,
                                format!(
                                    "{} {} is defined twice in this file; the last definition wins",
                                    stmt.kind, name.value
                                ),
                                "remove or rename one of them",
                            )
                            .with_also(prev_span, "the earlier definition is"),
                        );
                    }
                }
            }
        }
    }

    /// Follows a `…Ref` to a top-level statement of the right kind, or reports why it cannot.
    fn target(&mut self, p: &ParamItem) -> Option<&'s Statement> {
        let (ValueType::Ref(kind), Value::Ref(name)) = (p.def.ty, &p.value) else { return None };
        if let Some(s) = self.ns.get(&(kind, name.as_str())) {
            return Some(s);
        }
        let other = self.ns.keys().find(|(_, n)| *n == name).map(|(k, _)| *k);
        let hint = if let Some(k) = other {
            format!("{name} is a {k}; {} must name a {kind}", p.def.name)
        } else if self.inline.get(name.as_str()) == Some(&kind) {
            format!(
                "{name} is the name of an inline block, which references cannot reach; move it to the top level as `{kind} {name}`"
            )
        } else {
            let names = self.ns.keys().filter(|(k, _)| *k == kind).map(|(_, n)| *n);
            match nearest(name, names) {
                Some(n) => format!("did you mean {n}?"),
                None => format!("define `{kind} {name}` or correct the name (names are case-sensitive)"),
            }
        };
        self.emit(Diagnostic::error(
            p.value_span,
            format!("{} {name} refers to no {kind}", p.def.name),
            hint,
        ));
        None
    }

    /// The block filling `child`'s slot in `stmt`: inline, or through its `…Ref`.
    fn slot(&mut self, stmt: Option<&'s Statement>, child: Kind) -> Option<&'s Statement> {
        let stmt = stmt?;
        let ref_kw = stmt.kind.children().iter().find(|(c, _)| *c == child).map(|(_, r)| *r)?;
        for item in &stmt.items {
            match item {
                Item::Block(b) if b.kind == child => return Some(b),
                Item::Param(p) if p.def.name == ref_kw => return self.target(p),
                _ => {}
            }
        }
        None
    }

    fn rule(&mut self, stmt: &'s Statement) -> Option<Rule> {
        let name = stmt.name.as_ref()?.value.clone();
        let at = stmt.name.as_ref().map_or(stmt.keyword_span, |n| n.span);
        let direction = match word(stmt.param("Direction")) {
            Some("Inbound") => Some(Direction::Inbound),
            Some("Outbound") => Some(Direction::Outbound),
            Some(_) => Some(Direction::Both),
            None if stmt.param("Direction").is_some() => None,
            None => {
                self.emit(Diagnostic::error(
                    at,
                    format!("TTLSRule {name} has no Direction"),
                    "add `Direction Inbound`, `Direction Outbound` or `Direction Both`",
                ));
                None
            }
        };
        let conditions =
            ["LocalAddr", "RemoteAddr", "LocalPort", "RemotePort", "Jobname", "Userid", "IpTimeCondition"];
        let has_condition = stmt.items.iter().any(|i| match i {
            Item::Param(p) => conditions.contains(&p.def.slot.unwrap_or(p.def.name)),
            Item::Block(b) => b.kind == Kind::IpTimeCondition,
        });
        if !has_condition {
            self.emit(Diagnostic::error(
                at,
                format!("TTLSRule {name} has no condition besides Direction"),
                "add a condition such as LocalPortRange, or `LocalAddr All` to match every connection",
            ));
        }
        if stmt.param("IpTimeConditionRef").is_some()
            || stmt.blocks().any(|b| b.kind == Kind::IpTimeCondition)
        {
            self.emit(
                Diagnostic::portability(at, format!("IpTimeCondition of TTLSRule {name} is not evaluated: the rule counts as always active"), "remove the time condition, or accept that the rule is always active")
                    .grouped("IpTimeCondition"),
            );
        }
        let local_addr = self.addr_cond(stmt, "LocalAddr");
        let remote_addr = self.addr_cond(stmt, "RemoteAddr");
        let local_port = self.port_cond(stmt, "LocalPort");
        let remote_port = self.port_cond(stmt, "RemotePort");
        let jobname = match stmt.param("Jobname").map(|p| &p.value) {
            Some(Value::Jobname(j)) => Some(j.clone()),
            _ => None,
        };
        let userid = match stmt.param("Userid").map(|p| &p.value) {
            Some(Value::Jobname(j)) => Some(j.clone()),
            _ => None,
        };
        let priority = stmt.param("Priority").map(|p| int(Some(p), 0));

        let group_ref = stmt.param("TTLSGroupActionRef");
        let env_ref = stmt.param("TTLSEnvironmentActionRef");
        let conn_ref = stmt.param("TTLSConnectionActionRef");
        if group_ref.is_none() {
            self.emit(Diagnostic::error(
                at,
                format!("TTLSRule {name} has no TTLSGroupActionRef"),
                "add `TTLSGroupActionRef NAME` naming a TTLSGroupAction",
            ));
        }
        let group = group_ref.and_then(|p| self.target(p));
        let env = env_ref.and_then(|p| self.target(p));
        let conn = conn_ref.and_then(|p| self.target(p));
        let (group, local_addr, remote_addr, local_port, remote_port, direction) =
            (group?, local_addr?, remote_addr?, local_port?, remote_port?, direction?);
        if (env_ref.is_some() && env.is_none()) || (conn_ref.is_some() && conn.is_none()) {
            return None;
        }
        let enabled = on_off(group.param("TTLSEnabled"), false);
        if enabled && env.is_none() {
            self.emit(Diagnostic::error(
                group_ref.map_or(at, |p| p.value_span),
                format!("TTLSRule {name} enables TLS (TTLSGroupAction {} has TTLSEnabled On) but names no TTLSEnvironmentActionRef", group.display_name()),
                "add `TTLSEnvironmentActionRef NAME` to the rule",
            ));
            return None;
        }
        let key = (
            group.display_name().to_string(),
            env.map(|e| e.display_name().to_string()),
            conn.map(|c| c.display_name().to_string()),
        );
        let settings = match self.combos.get(&key) {
            Some(s) => s.clone(),
            None => {
                let s = self.settings(group, env, conn, at, &name).map(Arc::new);
                self.combos.insert(key, s.clone());
                s
            }
        }?;
        Some(Rule {
            name,
            priority,
            direction,
            local_addr,
            remote_addr,
            local_port,
            remote_port,
            jobname,
            userid,
            time_condition: stmt.param("IpTimeConditionRef").is_some()
                || stmt.blocks().any(|b| b.kind == Kind::IpTimeCondition),
            group_action: group.display_name().to_string(),
            environment_action: env.map(|e| e.display_name().to_string()),
            connection_action: conn.map(|c| c.display_name().to_string()),
            settings,
        })
    }

    fn addr_cond(&mut self, rule: &'s Statement, slot: &str) -> Option<AddrCond> {
        let Some(p) = rule.params().find(|p| p.def.slot == Some(slot)) else {
            return Some(AddrCond::default());
        };
        if let Value::Addr(m) = &p.value {
            let entries = if *m == AddrMatch::All { Vec::new() } else { vec![*m] };
            return Some(AddrCond { label: None, entries });
        }
        let target = self.target(p)?;
        let mut entries = Vec::new();
        self.addr_entries(target, &mut entries)?;
        if entries.contains(&AddrMatch::All) {
            entries.clear();
        }
        Some(AddrCond { label: Some(target.display_name().to_string()), entries })
    }

    fn addr_entries(&mut self, stmt: &'s Statement, out: &mut Vec<AddrMatch>) -> Option<()> {
        match stmt.kind {
            Kind::IpAddr | Kind::IpAddrSet => {
                let found = stmt.params().find_map(|p| match &p.value {
                    Value::Addr(m) => Some(*m),
                    _ => None,
                });
                let Some(m) = found else {
                    let what = if stmt.kind == Kind::IpAddr { "an Addr" } else { "a Prefix or Range" };
                    self.emit(Diagnostic::error(
                        stmt.keyword_span,
                        format!("{} {} has no address", stmt.kind, stmt.display_name()),
                        format!("add {what}"),
                    ));
                    return None;
                };
                out.push(m);
            }
            Kind::IpAddrGroup => {
                let mut any = false;
                for item in &stmt.items {
                    any = true;
                    match item {
                        Item::Block(b) => self.addr_entries(b, out)?,
                        Item::Param(p) => {
                            let t = self.target(p)?;
                            self.addr_entries(t, out)?;
                        }
                    }
                }
                if !any {
                    self.emit(Diagnostic::error(
                        stmt.keyword_span,
                        format!("IpAddrGroup {} is empty", stmt.display_name()),
                        "add IpAddr or IpAddrSet members",
                    ));
                    return None;
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn port_cond(&mut self, rule: &'s Statement, slot: &str) -> Option<PortCond> {
        let Some(p) = rule.params().find(|p| p.def.slot == Some(slot)) else {
            return Some(PortCond::default());
        };
        if let Value::Ports(s) = &p.value {
            let entries = if s.is_any() { Vec::new() } else { vec![*s] };
            return Some(PortCond { label: None, entries });
        }
        let target = self.target(p)?;
        let mut entries = Vec::new();
        self.port_entries(target, &mut entries)?;
        if entries.iter().any(|s| s.is_any()) {
            entries.clear();
        }
        Some(PortCond { label: Some(target.display_name().to_string()), entries })
    }

    fn port_entries(&mut self, stmt: &'s Statement, out: &mut Vec<super::ast::PortSpan>) -> Option<()> {
        match stmt.kind {
            Kind::PortRange => match stmt.param("Port").map(|p| &p.value) {
                Some(Value::Ports(s)) => out.push(*s),
                _ => {
                    self.emit(Diagnostic::error(
                        stmt.keyword_span,
                        format!("PortRange {} has no Port", stmt.display_name()),
                        "add `Port n` or `Port n-m`",
                    ));
                    return None;
                }
            },
            Kind::PortGroup => {
                if stmt.items.is_empty() {
                    self.emit(Diagnostic::error(
                        stmt.keyword_span,
                        format!("PortGroup {} is empty", stmt.display_name()),
                        "add PortRange members",
                    ));
                    return None;
                }
                for item in &stmt.items {
                    match item {
                        Item::Block(b) => self.port_entries(b, out)?,
                        Item::Param(p) => {
                            let t = self.target(p)?;
                            self.port_entries(t, out)?;
                        }
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn levels(
        &mut self,
        group: &'s Statement,
        env: Option<&'s Statement>,
        conn: Option<&'s Statement>,
    ) -> Levels<'s> {
        Levels {
            group: Some(group),
            group_adv: self.slot(Some(group), Kind::GroupAdvancedParms),
            env,
            env_adv: self.slot(env, Kind::EnvironmentAdvancedParms),
            env_cipher: self.slot(env, Kind::CipherParms),
            env_sig: self.slot(env, Kind::SignatureParms),
            keyring: self.slot(env, Kind::KeyringParms),
            gsk: self.slot(env, Kind::GskAdvancedParms),
            conn,
            conn_adv: self.slot(conn, Kind::ConnectionAdvancedParms),
            conn_cipher: self.slot(conn, Kind::CipherParms),
            conn_sig: self.slot(conn, Kind::SignatureParms),
        }
    }

    fn settings(
        &mut self,
        group: &'s Statement,
        env: Option<&'s Statement>,
        conn: Option<&'s Statement>,
        at: Span,
        rule: &str,
    ) -> Option<Settings> {
        let lv = self.levels(group, env, conn);
        let mut ok = true;
        let Some(enabled) = group.param("TTLSEnabled") else {
            self.emit(Diagnostic::error(
                group.keyword_span,
                format!("TTLSGroupAction {} has no TTLSEnabled", group.display_name()),
                "add `TTLSEnabled On` or `TTLSEnabled Off`",
            ));
            return None;
        };
        let ttls_enabled = on_off(Some(enabled), false);
        let role = match word(
            lv.conn
                .and_then(|c| c.param("HandshakeRole"))
                .or_else(|| env.and_then(|e| e.param("HandshakeRole"))),
        ) {
            Some("Client") => Some(Role::Client),
            Some("Server") => Some(Role::Server),
            Some(_) => Some(Role::ServerWithClientAuth),
            None => None,
        };
        if let Some(env) = env {
            if env.param("HandshakeRole").is_none() {
                self.emit(Diagnostic::error(env.keyword_span, format!("TTLSEnvironmentAction {} has no HandshakeRole", env.display_name()), "add `HandshakeRole Server`, `Client` or `ServerWithClientAuth` (it is required even when a connection action sets one)"));
                ok = false;
            }
            match lv.keyring {
                None => {
                    self.emit(Diagnostic::error(
                        env.keyword_span,
                        format!("TTLSEnvironmentAction {} has no TTLSKeyringParms", env.display_name()),
                        "add a TTLSKeyringParms block with `Keyring PATH`, or TTLSKeyringParmsRef NAME",
                    ));
                    ok = false;
                }
                Some(k) if k.param("Keyring").is_none() => {
                    self.emit(Diagnostic::error(k.keyword_span, "TTLSKeyringParms has no Keyring", "add `Keyring PATH` (a PEM file or directory, or a z/OS ring name mapped by KeyringMap)"));
                    ok = false;
                }
                Some(k) => {
                    if self.opts.warn_keyrings && ttls_enabled {
                        self.keyring_warning(k.param("Keyring").expect("checked"));
                    }
                }
            }
        }
        let protocols = Protocols {
            sslv2: on_off(lv.adv("SSLv2"), false),
            sslv3: on_off(lv.adv("SSLv3"), false),
            tlsv1: on_off(lv.adv("TLSv1"), false),
            tlsv1_1: on_off(lv.adv("TLSv1.1"), false),
            tlsv1_2: on_off(lv.adv("TLSv1.2"), true),
            tlsv1_3: on_off(lv.adv("TLSv1.3"), true),
        };
        let cipher_block = lv.conn_cipher.or(lv.env_cipher);
        let (ciphers, cipher_span) = cipher_list(cipher_block);
        let ciphers_rustls: Vec<u16> = ciphers
            .iter()
            .copied()
            .filter(|&c| {
                rustls_caps::supports_cipher(c)
                    && if ciphers::is_tls13(c) { protocols.tlsv1_3 } else { protocols.tlsv1_2 }
            })
            .collect();
        let sig = lv.conn_sig.or(lv.env_sig);
        let (groups, group_spans) = group_list(sig, role);
        let groups_rustls = groups
            .as_ref()
            .map(|g| g.iter().copied().filter(|&g| rustls_caps::supports_group(g)).collect::<Vec<_>>());
        let client_auth = match word(lv.adv("ClientAuthType")) {
            Some("PassThru") => ClientAuthType::PassThru,
            Some("Full") => ClientAuthType::Full,
            Some("SAFCheck") => ClientAuthType::SafCheck,
            _ => ClientAuthType::Required,
        };
        if ttls_enabled && env.is_some() {
            let at_env = env.map_or(at, |e| e.keyword_span);
            ok &= self.tls_checks(
                rule,
                at_env,
                &protocols,
                &ciphers,
                &ciphers_rustls,
                cipher_span,
                groups_rustls.as_deref(),
                &group_spans,
            );
            if client_auth == ClientAuthType::SafCheck {
                let p = lv.adv("ClientAuthType").expect("written");
                self.emit(
                    Diagnostic::portability(p.value_span, "ClientAuthType SAFCheck is enforced as Required: certificate-to-user-ID mapping has no Linux equivalent", "write `ClientAuthType Required` to say what attls does")
                        .grouped("SAFCheck"),
                );
            }
        }
        if !ok {
            return None;
        }
        let gsk = |name: &str| lv.gsk.and_then(|g| g.param(name));
        let defaults = SessionSettings::default();
        let trace_p = lv.action_param("Trace");
        Some(Settings {
            ttls_enabled,
            trace: int(trace_p, 2) as u8,
            ctrace_clear_text: on_off(lv.action_param("CtraceClearText"), false),
            syslog_facility: word(lv.group_adv.and_then(|g| g.param("SyslogFacility"))).unwrap_or("Daemon"),
            handshake_role: role,
            client_auth_type: client_auth,
            keyring: text(lv.keyring.and_then(|k| k.param("Keyring"))),
            keyring_pw: text(lv.keyring.and_then(|k| k.param("KeyringPw"))),
            keyring_stash_file: text(lv.keyring.and_then(|k| k.param("KeyringStashFile"))),
            certificate_label: text(lv.adv("CertificateLabel")),
            protocols,
            ciphers,
            ciphers_rustls,
            groups,
            groups_rustls,
            application_controlled: on_off(lv.adv("ApplicationControlled"), false),
            secondary_map: on_off(lv.adv("SecondaryMap"), false),
            handshake_timeout: int(lv.adv("HandshakeTimeout"), 10),
            reset_cipher_timer: int(lv.adv("ResetCipherTimer"), 0),
            client_handshake_sni: word(lv.adv("ClientHandshakeSNI")),
            client_handshake_sni_list: lv
                .all_adv("ClientHandshakeSNIList")
                .iter()
                .filter_map(|p| text(Some(p)))
                .collect(),
            host_reference_id_dns: lv
                .all_adv("HostReferenceIdDNS")
                .iter()
                .filter_map(|p| text(Some(p)))
                .collect(),
            session: SessionSettings {
                session_timeout: int(gsk("GSK_V3_SESSION_TIMEOUT"), defaults.session_timeout),
                sid_cache_size: int(gsk("GSK_V3_SIDCACHE_SIZE"), defaults.sid_cache_size),
                ticket_server_enable: on_off(
                    gsk("GSK_SESSION_TICKET_SERVER_ENABLE"),
                    defaults.ticket_server_enable,
                ),
                ticket_server_count: int(
                    gsk("GSK_SESSION_TICKET_SERVER_COUNT"),
                    defaults.ticket_server_count,
                ),
                ticket_server_timeout: int(
                    gsk("GSK_SESSION_TICKET_SERVER_TIMEOUT"),
                    defaults.ticket_server_timeout,
                ),
                ticket_server_key_refresh: int(
                    gsk("GSK_SESSION_TICKET_SERVER_KEY_REFRESH"),
                    defaults.ticket_server_key_refresh,
                ),
                ticket_client_enable: on_off(
                    gsk("GSK_SESSION_TICKET_CLIENT_ENABLE"),
                    defaults.ticket_client_enable,
                ),
            },
            other: other_params(&lv),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn tls_checks(
        &mut self,
        rule: &str,
        at_env: Span,
        protocols: &Protocols,
        ciphers: &[u16],
        ciphers_rustls: &[u16],
        cipher_span: Option<Span>,
        groups_rustls: Option<&[u16]>,
        group_spans: &[(Span, Vec<u16>)],
    ) -> bool {
        let mut ok = true;
        if !protocols.tlsv1_2 && !protocols.tlsv1_3 {
            self.emit(Diagnostic::error(
                at_env,
                format!("TLS is enabled for TTLSRule {rule}, but neither TLSv1.2 nor TLSv1.3 is On"),
                "turn TLSv1.2 or TLSv1.3 On in the advanced parms (rustls cannot negotiate SSLv2, SSLv3, TLSv1 or TLSv1.1)",
            ));
            return false;
        }
        let span = cipher_span.unwrap_or(at_env);
        let unsupported: Vec<String> = ciphers
            .iter()
            .filter(|&&c| !rustls_caps::supports_cipher(c))
            .map(|&c| ciphers::hex4(c))
            .collect();
        if !unsupported.is_empty() {
            self.emit(
                Diagnostic::portability(
                    span,
                    format!(
                        "cipher suites rustls cannot negotiate are never offered: {}",
                        unsupported.join(" ")
                    ),
                    "rustls offers 1301 1302 1303 C02B C02C C02F C030 CCA8 CCA9",
                )
                .grouped("ciphers-rustls"),
            );
        }
        if ciphers_rustls.is_empty() {
            self.emit(Diagnostic::error(
                span,
                format!("no cipher suite of TTLSRule {rule} can be negotiated by rustls for the protocols that are On"),
                "add suites rustls can do, e.g. `V3CipherSuites4Char 13021301C030C02F`",
            ));
            ok = false;
        } else {
            let has13 = ciphers_rustls.iter().any(|&c| ciphers::is_tls13(c));
            let has12 = ciphers_rustls.iter().any(|&c| !ciphers::is_tls13(c));
            for (on, has, name, hint) in [
                (protocols.tlsv1_3, has13, "TLSv1.3", "add 1302 1301 1303, or turn TLSv1.3 Off"),
                (
                    protocols.tlsv1_2,
                    has12,
                    "TLSv1.2",
                    "add C030 C02F C02C C02B CCA8 CCA9, or turn TLSv1.2 Off",
                ),
            ] {
                if on && !has {
                    self.emit(Diagnostic::warning(span, format!("{name} is On but the cipher list has no {name} suite rustls can do, so it cannot be negotiated"), hint));
                }
            }
        }
        for (span, written) in group_spans {
            let dropped: Vec<String> = written
                .iter()
                .filter(|&&g| !rustls_caps::supports_group(g))
                .map(|g| format!("{g:04}"))
                .collect();
            if !dropped.is_empty() {
                self.emit(
                    Diagnostic::portability(
                        *span,
                        format!("key-share groups rustls cannot do are left out: {}", dropped.join(" ")),
                        "rustls does 0023 (secp256r1), 0024 (secp384r1) and 0029 (x25519)",
                    )
                    .grouped("groups-rustls"),
                );
            }
        }
        if groups_rustls.is_some_and(<[u16]>::is_empty) {
            let span = group_spans.first().map_or(at_env, |(s, _)| *s);
            self.emit(Diagnostic::error(
                span,
                format!("no key-share group of TTLSRule {rule} can be used by rustls"),
                "write `Any`, or include 0023, 0024 or 0029",
            ));
            ok = false;
        }
        ok
    }

    fn keyring_warning(&mut self, p: &ParamItem) {
        let Value::Text(ring) = &p.value else { return };
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
        let path = if ring.starts_with('/') { Path::new(ring).to_path_buf() } else { policy_dir.join(ring) };
        if !path.exists() {
            self.emit(Diagnostic::warning(
                p.value_span,
                format!("keyring {} does not exist (a bare check opens no keyring)", path.display()),
                "create it, or check with -c CONFIG to open the keyrings the agent would use",
            ));
        }
    }

    /// D1: two rules that can match the same connection with the same priority are ordered by name
    /// only; warn so the administrator can make the order explicit.
    fn overlap_warnings(&mut self, table: &RuleTable) {
        const LIMIT: usize = 20;
        let rules = table.rules();
        let mut reported = 0;
        let mut start = 0;
        while start < rules.len() {
            let end =
                start + rules[start..].iter().take_while(|r| r.priority == rules[start].priority).count();
            let mut group: Vec<&Rule> = rules[start..end].iter().collect();
            group.sort_by_key(|r| first_port(r));
            for (i, a) in group.iter().enumerate() {
                for b in &group[i + 1..] {
                    if first_port(b) > last_port(a) {
                        break;
                    }
                    if reported < LIMIT && may_overlap(a, b) {
                        reported += 1;
                        let at = self.rule_span(&a.name);
                        let also = self.rule_span(&b.name);
                        let prio = a.priority.map_or("no Priority".to_string(), |p| format!("Priority {p}"));
                        self.emit(
                            Diagnostic::warning(at, format!("TTLSRule {} and {} can match the same connection and both have {prio}; {} is evaluated first by name", a.name, b.name, a.name.as_str().min(b.name.as_str())), "give the rule that should win a higher Priority")
                                .with_also(also, format!("TTLSRule {} is", b.name)),
                        );
                    }
                }
            }
            start = end;
        }
    }

    fn rule_span(&self, name: &str) -> Span {
        self.ns
            .get(&(Kind::Rule, name))
            .map(|s| s.name.as_ref().map_or(s.keyword_span, |n| n.span))
            .unwrap_or_default()
    }
}

fn first_port(r: &Rule) -> u16 {
    r.local_port.entries.iter().map(|s| s.lo).min().unwrap_or(0)
}
fn last_port(r: &Rule) -> u16 {
    r.local_port.entries.iter().map(|s| s.hi).max().unwrap_or(u16::MAX)
}

fn may_overlap(a: &Rule, b: &Rule) -> bool {
    let dir = matches!((a.direction, b.direction), (Direction::Both, _) | (_, Direction::Both))
        || a.direction == b.direction;
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
    let names = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => {
            let (px, py) =
                (x.trim_end_matches('*').to_ascii_lowercase(), y.trim_end_matches('*').to_ascii_lowercase());
            let (wx, wy) = (x.ends_with('*'), y.ends_with('*'));
            match (wx, wy) {
                (false, false) => px == py,
                (true, false) => py.starts_with(&px),
                (false, true) => px.starts_with(&py),
                (true, true) => px.starts_with(&py) || py.starts_with(&px),
            }
        }
        _ => true,
    };
    dir && ports(&a.local_port, &b.local_port)
        && ports(&a.remote_port, &b.remote_port)
        && addrs(&a.local_addr, &b.local_addr)
        && addrs(&a.remote_addr, &b.remote_addr)
        && names(&a.jobname, &b.jobname)
        && names(&a.userid, &b.userid)
}

fn addr_overlap(a: &AddrMatch, b: &AddrMatch) -> bool {
    let bounds = |m: &AddrMatch| -> Option<(std::net::IpAddr, std::net::IpAddr)> {
        match *m {
            AddrMatch::All => None,
            AddrMatch::Net(n) => Some((n.network(), n.broadcast())),
            AddrMatch::Range(lo, hi) => Some((lo, hi)),
        }
    };
    match (bounds(a), bounds(b)) {
        (Some((alo, ahi)), Some((blo, bhi))) => alo.is_ipv4() == blo.is_ipv4() && alo <= bhi && blo <= ahi,
        _ => true,
    }
}

/// The written cipher list (both keywords, in order, duplicates dropped) or the D15 default.
fn cipher_list(block: Option<&Statement>) -> (Vec<u16>, Option<Span>) {
    let mut codes = Vec::new();
    let mut span = None;
    if let Some(b) = block {
        for p in b.params() {
            if let Value::Ciphers(list) = &p.value {
                span.get_or_insert(p.value_span);
                for &c in list {
                    if !codes.contains(&c) {
                        codes.push(c);
                    }
                }
            }
        }
    }
    if codes.is_empty() {
        return (DEFAULT_CIPHERS.to_vec(), None);
    }
    (codes, span)
}

/// The key-share groups for a role (D30): the role's KeyShareGroups then its ECurves; `None` when
/// unwritten or `Any`.
fn group_list(block: Option<&Statement>, role: Option<Role>) -> (Option<Vec<u16>>, Vec<(Span, Vec<u16>)>) {
    let Some(b) = block else { return (None, Vec::new()) };
    let keys: [&str; 2] = match role {
        Some(Role::Client) => ["ClientKeyShareGroups", "ClientECurves"],
        _ => ["ServerKeyShareGroups", "ServerKexECurves"],
    };
    let mut out: Vec<u16> = Vec::new();
    let mut spans = Vec::new();
    let mut written = false;
    for key in keys {
        for p in b.params().filter(|p| p.def.name == key) {
            written = true;
            match &p.value {
                Value::Groups(None) => return (None, Vec::new()),
                Value::Groups(Some(list)) => {
                    spans.push((p.value_span, list.clone()));
                    out.extend(list.iter().filter(|g| !out.contains(g)).copied().collect::<Vec<_>>());
                }
                _ => {}
            }
        }
    }
    if written { (Some(out), spans) } else { (None, Vec::new()) }
}

/// Every written parameter without a column of its own (connection level wins), sorted by keyword.
fn other_params(lv: &Levels<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let blocks = [
        lv.conn,
        lv.conn_adv,
        lv.conn_cipher,
        lv.conn_sig,
        lv.env,
        lv.env_adv,
        lv.env_cipher,
        lv.env_sig,
        lv.gsk,
        lv.group,
        lv.group_adv,
    ];
    let mut seen_blocks: Vec<*const Statement> = Vec::new();
    for b in blocks.into_iter().flatten() {
        if seen_blocks.contains(&(b as *const _)) {
            continue;
        }
        seen_blocks.push(b);
        let mut stack = vec![b];
        while let Some(s) = stack.pop() {
            for item in &s.items {
                match item {
                    Item::Param(p)
                        if CONSUMED.contains(&p.def.name) || matches!(p.def.ty, ValueType::Ref(_)) => {}
                    Item::Param(p) => match out.iter_mut().find(|(k, _)| k == p.def.name) {
                        Some((_, v)) if p.def.multi => {
                            v.push(' ');
                            v.push_str(&p.raw);
                        }
                        Some(_) => {}
                        None => out.push((p.def.name.to_string(), p.raw.clone())),
                    },
                    // GSK children (LDAP, OCSP, HTTP CDP) are shown too; other inline blocks are
                    // levels of their own and appear in `blocks`.
                    Item::Block(child)
                        if matches!(
                            child.kind,
                            Kind::GskLdapParms | Kind::GskOcspParms | Kind::GskHttpCdpParms
                        ) =>
                    {
                        stack.push(child)
                    }
                    Item::Block(_) => {}
                }
            }
        }
    }
    out.sort();
    out
}

fn collect_inline<'s>(stmt: &'s Statement, out: &mut HashMap<&'s str, Kind>) {
    for b in stmt.blocks() {
        if let Some(n) = &b.name {
            out.insert(n.value.as_str(), b.kind);
        }
        collect_inline(b, out);
    }
}
