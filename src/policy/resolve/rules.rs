//! One TTLSRule: its conditions (addresses, ports, job name, user ID, direction, priority) and its
//! action references, checked; the settings come from `settings`.

use std::sync::Arc;

use super::super::ast::{AddrMatch, Item, PortSpan, Statement, Value};
use super::super::catalog::Kind;
use super::super::diag::Diagnostic;
use super::super::table::{AddrCond, Direction, PortCond, Rule, Settings};
use super::{Resolver, int, on_off, word};

/// Slots that count as a condition besides Direction.
const CONDITIONS: [&str; 7] =
    ["LocalAddr", "RemoteAddr", "LocalPort", "RemotePort", "Jobname", "Userid", "IpTimeCondition"];

impl<'s> Resolver<'s, '_> {
    pub(super) fn rule(&mut self, stmt: &'s Statement) -> Option<Rule> {
        let name = stmt.name.as_ref()?.value.clone();
        let direction = self.direction(stmt, &name);
        let time_condition = self.check_conditions(stmt, &name);
        let local_addr = self.addr_cond(stmt, "LocalAddr");
        let remote_addr = self.addr_cond(stmt, "RemoteAddr");
        let local_port = self.port_cond(stmt, "LocalPort");
        let remote_port = self.port_cond(stmt, "RemotePort");
        let name_cond = |key: &str| match stmt.param(key).map(|p| &p.value) {
            Some(Value::Jobname(j)) => Some(j.clone()),
            _ => None,
        };
        let (jobname, userid) = (name_cond("Jobname"), name_cond("Userid"));
        let priority = stmt.param("Priority").map(|p| int(Some(p), 0));

        let group_ref = stmt.param("TTLSGroupActionRef");
        let env_ref = stmt.param("TTLSEnvironmentActionRef");
        let conn_ref = stmt.param("TTLSConnectionActionRef");
        if group_ref.is_none() {
            self.missing(
                stmt,
                format!("TTLSRule {name} has no TTLSGroupActionRef"),
                "add `TTLSGroupActionRef NAME` naming a TTLSGroupAction",
            );
        }
        let group = group_ref.and_then(|p| self.target(p));
        let env = env_ref.and_then(|p| self.target(p));
        let conn = conn_ref.and_then(|p| self.target(p));
        let (group, local_addr, remote_addr, local_port, remote_port, direction) =
            (group?, local_addr?, remote_addr?, local_port?, remote_port?, direction?);
        if (env_ref.is_some() && env.is_none()) || (conn_ref.is_some() && conn.is_none()) || stmt.broken {
            return None;
        }
        if !self.environment_if_enabled(stmt, &name, group, env) {
            return None;
        }
        let settings = self.combo_settings(group, env, conn, &name)?;
        let rule = Rule {
            name,
            priority,
            direction,
            local_addr,
            remote_addr,
            local_port,
            remote_port,
            jobname,
            userid,
            time_condition,
            group_action: group.display_name().to_string(),
            environment_action: env.map(|e| e.display_name().to_string()),
            connection_action: conn.map(|c| c.display_name().to_string()),
            settings,
        };
        self.forgeable_jobname_warning(stmt, &rule);
        Some(rule)
    }

    /// The rule's Direction; an error when it is not written.
    fn direction(&mut self, stmt: &'s Statement, name: &str) -> Option<Direction> {
        match word(stmt.param("Direction")) {
            Some("Inbound") => Some(Direction::Inbound),
            Some("Outbound") => Some(Direction::Outbound),
            Some(_) => Some(Direction::Both),
            None => {
                if stmt.param("Direction").is_none() {
                    self.missing(
                        stmt,
                        format!("TTLSRule {name} has no Direction"),
                        "add `Direction Inbound`, `Direction Outbound` or `Direction Both`",
                    );
                }
                None
            }
        }
    }

    /// An error when the rule has no condition besides Direction, a warning for a time condition
    /// (never evaluated). True when the rule has a time condition.
    fn check_conditions(&mut self, stmt: &'s Statement, name: &str) -> bool {
        let has_condition = stmt.items.iter().any(|i| match i {
            Item::Param(p) => CONDITIONS.contains(&p.def.slot.unwrap_or(p.def.name)),
            Item::Block(b) => b.kind == Kind::IpTimeCondition,
        });
        if !has_condition {
            self.missing(
                stmt,
                format!("TTLSRule {name} has no condition besides Direction"),
                "add a condition such as LocalPortRange, or `LocalAddr All` to match every connection",
            );
        }
        let time_condition = stmt.param("IpTimeConditionRef").is_some()
            || stmt.blocks().any(|b| b.kind == Kind::IpTimeCondition);
        if time_condition {
            self.emit(
                Diagnostic::portability(
                    stmt.span(),
                    format!("IpTimeCondition of TTLSRule {name} is not evaluated: the rule counts as always active"),
                    "remove the time condition, or accept that the rule is always active",
                )
                .grouped("IpTimeCondition"),
            );
        }
        time_condition
    }

    /// A rule whose group action enables TLS needs an environment action: false (and an error)
    /// when it has none.
    fn environment_if_enabled(
        &mut self,
        stmt: &'s Statement,
        name: &str,
        group: &'s Statement,
        env: Option<&'s Statement>,
    ) -> bool {
        if !on_off(group.param("TTLSEnabled"), false) || env.is_some() {
            return true;
        }
        self.emit(Diagnostic::error(
            stmt.span(),
            format!(
                "TTLSRule {name} enables TLS (TTLSGroupAction {} has TTLSEnabled On) but has no TTLSEnvironmentActionRef",
                group.display_name()
            ),
            "add `TTLSEnvironmentActionRef NAME` to the rule",
        ));
        false
    }

    /// The settings of one (group, environment, connection) combination, computed once and shared
    /// by every rule that names it.
    fn combo_settings(
        &mut self,
        group: &'s Statement,
        env: Option<&'s Statement>,
        conn: Option<&'s Statement>,
        rule: &str,
    ) -> Option<Arc<Settings>> {
        let key = (group.display_name(), env.map(Statement::display_name), conn.map(Statement::display_name));
        match self.combos.get(&key) {
            Some(s) => s.clone(),
            None => {
                let s = self.settings(group, env, conn, rule).map(Arc::new);
                self.combos.insert(key, s.clone());
                s
            }
        }
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

    pub(super) fn addr_entries(&mut self, stmt: &'s Statement, out: &mut Vec<AddrMatch>) -> Option<()> {
        if stmt.broken {
            return None;
        }
        match stmt.kind {
            Kind::IpAddr | Kind::IpAddrSet => {
                let found = stmt.params().find_map(|p| match &p.value {
                    Value::Addr(m) => Some(*m),
                    _ => None,
                });
                let Some(m) = found else {
                    let what = if stmt.kind == Kind::IpAddr { "an Addr" } else { "a Prefix or Range" };
                    self.missing(
                        stmt,
                        format!("{} {} has no address", stmt.kind, stmt.display_name()),
                        &format!("add {what}"),
                    );
                    return None;
                };
                out.push(m);
            }
            Kind::IpAddrGroup => {
                if stmt.items.is_empty() {
                    let msg = format!("IpAddrGroup {} is empty", stmt.display_name());
                    self.missing(stmt, msg, "add IpAddr or IpAddrSet members");
                    return None;
                }
                for item in &stmt.items {
                    match item {
                        Item::Block(b) => self.addr_entries(b, out)?,
                        Item::Param(p) => {
                            let t = self.target(p)?;
                            self.addr_entries(t, out)?;
                        }
                    }
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
        if entries.iter().any(PortSpan::is_any) {
            entries.clear();
        }
        Some(PortCond { label: Some(target.display_name().to_string()), entries })
    }

    pub(super) fn port_entries(&mut self, stmt: &'s Statement, out: &mut Vec<PortSpan>) -> Option<()> {
        if stmt.broken {
            return None;
        }
        match stmt.kind {
            Kind::PortRange => match stmt.param("Port").map(|p| &p.value) {
                Some(Value::Ports(s)) => out.push(*s),
                _ => {
                    let msg = format!("PortRange {} has no Port", stmt.display_name());
                    self.missing(stmt, msg, "add `Port n` or `Port n-m`");
                    return None;
                }
            },
            Kind::PortGroup => {
                if stmt.items.is_empty() {
                    let msg = format!("PortGroup {} is empty", stmt.display_name());
                    self.missing(stmt, msg, "add PortRange members");
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
}
