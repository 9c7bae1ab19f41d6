//! `pagent netstat --group`: the z/OS `NETSTAT TTLS GROUP DETAIL` view
//! (docs/policy-reference.md#netstat-group-report). One entry per TTLSGroupAction of the running
//! generation, in the order its rules first use it: `GroupID` (the generation, 8 hex digits, as in
//! the connection detail), `GroupStatus`, the rules that use it, and the live connections mapped to
//! a rule with that group (`GroupConns`, then by TLS state: `SecureConns`, `HandshakeConns`,
//! `NotSecureConns`); then each environment action its rules name, with its rules and the same
//! counts (`EnvironmentConns`, …).
//!
//! A connection counts under its own rule's group and environment, by name, whichever generation
//! it was mapped in. A group (or environment) that only connections of earlier generations still
//! use (deleted by a refresh) is listed after the others with status `Stale`, as z/OS keeps an
//! action while connections use it; its rules are those connections' rules and its `GroupID` the
//! newest generation among them. Connections without a rule (NO_POLICY) count nowhere.

use serde_json::{Value, json};

use super::field;
use crate::policy::RuleTable;
use crate::registry::{ConnSnapshot, ConnStatus};

/// Key column of the group block and of the environment block.
const GROUP_W: usize = 18;
const ENV_W: usize = 18;

/// Live connections by TLS state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub secure: usize,
    pub handshake: usize,
    pub not_secure: usize,
}

impl Counts {
    fn add(&mut self, status: ConnStatus) {
        self.total += 1;
        match status {
            ConnStatus::Secure => self.secure += 1,
            ConnStatus::Handshake => self.handshake += 1,
            ConnStatus::NotSecure => self.not_secure += 1,
        }
    }

    fn json(&self) -> Value {
        json!({
            "total": self.total,
            "secure": self.secure,
            "handshake": self.handshake,
            "not_secure": self.not_secure,
        })
    }
}

/// `Active` (an action of the running generation) or `Stale` (only earlier generations' connections
/// use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Stale,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Stale => "Stale",
        }
    }
}

/// One environment action of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub status: Status,
    pub rules: Vec<String>,
    pub conns: Counts,
}

/// One TTLSGroupAction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// The generation that defines it (8 hex digits in the text).
    pub group_id: u64,
    pub status: Status,
    pub rules: Vec<String>,
    pub conns: Counts,
    pub environments: Vec<Environment>,
}

/// The groups of `table` (generation `generation`) with the connections `conns` counted in.
pub fn groups(table: &RuleTable, generation: u64, conns: &[ConnSnapshot]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for r in table.rules() {
        let g = entry(&mut out, &r.group_action, Status::Active, generation);
        push_once(&mut g.rules, &r.name);
        if let Some(e) = &r.environment_action {
            push_once(&mut env_entry(g, e, Status::Active).rules, &r.name);
        }
    }
    let active = out.len();
    for c in conns {
        let Some(r) = &c.rule else { continue };
        let g = entry(&mut out, &r.group_action, Status::Stale, c.generation);
        if g.status == Status::Stale {
            g.group_id = g.group_id.max(c.generation);
            push_once(&mut g.rules, &r.name);
        }
        g.conns.add(c.conn_status);
        if let Some(e) = &r.environment_action {
            let env = env_entry(g, e, Status::Stale);
            if env.status == Status::Stale {
                push_once(&mut env.rules, &r.name);
            }
            env.conns.add(c.conn_status);
        }
    }
    out[active..].sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn push_once(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// The group named `name`, added (with `status`) if it is not listed yet.
fn entry<'g>(groups: &'g mut Vec<Group>, name: &str, status: Status, group_id: u64) -> &'g mut Group {
    let at = match groups.iter().position(|g| g.name == name) {
        Some(at) => at,
        None => {
            groups.push(Group {
                name: name.to_string(),
                group_id,
                status,
                rules: Vec::new(),
                conns: Counts::default(),
                environments: Vec::new(),
            });
            groups.len() - 1
        }
    };
    &mut groups[at]
}

fn env_entry<'g>(g: &'g mut Group, name: &str, status: Status) -> &'g mut Environment {
    let at = match g.environments.iter().position(|e| e.name == name) {
        Some(at) => at,
        None => {
            let env =
                Environment { name: name.to_string(), status, rules: Vec::new(), conns: Counts::default() };
            g.environments.push(env);
            g.environments.len() - 1
        }
    };
    &mut g.environments[at]
}

fn rules_text(rules: &[String]) -> String {
    if rules.is_empty() { "N/A".into() } else { rules.join(", ") }
}

/// The text report: a block per group, a blank line between blocks; `no TTLSGroupAction` when
/// there is none.
pub fn group_text(groups: &[Group]) -> String {
    if groups.is_empty() {
        return "no TTLSGroupAction\n".into();
    }
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        field(&mut out, 0, GROUP_W + 2, "TTLSGrpAction", &g.name);
        let line = |out: &mut String, k: &str, v: &str| field(out, 2, GROUP_W, k, v);
        line(&mut out, "GroupID", &format!("{:08X}", g.group_id));
        line(&mut out, "GroupStatus", g.status.word());
        line(&mut out, "Rules", &rules_text(&g.rules));
        counts_text(&mut out, 2, GROUP_W, "GroupConns", &g.conns);
        for e in &g.environments {
            line(&mut out, "TTLSEnvAction", &e.name);
            let line = |out: &mut String, k: &str, v: &str| field(out, 4, ENV_W, k, v);
            line(&mut out, "EnvStatus", e.status.word());
            line(&mut out, "Rules", &rules_text(&e.rules));
            counts_text(&mut out, 4, ENV_W, "EnvironmentConns", &e.conns);
        }
    }
    out
}

fn counts_text(out: &mut String, indent: usize, width: usize, total: &str, c: &Counts) {
    field(out, indent, width, total, &c.total.to_string());
    field(out, indent, width, "SecureConns", &c.secure.to_string());
    field(out, indent, width, "HandshakeConns", &c.handshake.to_string());
    field(out, indent, width, "NotSecureConns", &c.not_secure.to_string());
}

/// JSON: `{"generation": N, "groups": [...]}` (keys in docs/policy-reference.md#netstat-group-report).
pub fn group_json(generation: u64, groups: &[Group]) -> Value {
    let list: Vec<Value> = groups
        .iter()
        .map(|g| {
            let envs: Vec<Value> = g
                .environments
                .iter()
                .map(|e| {
                    json!({
                        "name": e.name,
                        "status": e.status.word(),
                        "rules": e.rules,
                        "conns": e.conns.json(),
                    })
                })
                .collect();
            json!({
                "name": g.name,
                "group_id": format!("{:08X}", g.group_id),
                "status": g.status.word(),
                "rules": g.rules,
                "conns": g.conns.json(),
                "environments": envs,
            })
        })
        .collect();
    json!({ "generation": generation, "groups": list })
}
