//! What changes between two rule tables, rule by rule (the `pagent refresh --dry-run` report,
//! docs/control-protocol.md#refresh_dry_run). Rules are matched by name: a name only in the new
//! table is added, one only in the old table removed, and one in both is changed when any of its
//! settings differs. A setting is a condition of the rule (`Priority`, `Direction`, `LocalAddr`,
//! `LocalPort`, `RemoteAddr`, `RemotePort`, `Jobname`, `Userid`), the action it names
//! (`TTLSGroupActionRef`, `TTLSEnvironmentActionRef`, `TTLSConnectionActionRef`), an effective
//! setting under its [`effective`](super::effective) name (the names of `pagent search` and the
//! netstat detail), or any other written parameter by its keyword. Values are in policy spelling; a
//! setting with several values (`HostReferenceIdDNS`) has them joined by `, `; `None` is unset.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::effective;
use super::table::{AddrCond, PortCond, Rule, RuleTable};

/// Every difference between two tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyDiff {
    /// Rules only in the new table, in its evaluation order.
    pub added: Vec<String>,
    /// Rules only in the old table, in its evaluation order.
    pub removed: Vec<String>,
    /// Rules in both whose settings differ, in the new table's evaluation order.
    pub changed: Vec<RuleChange>,
}

/// One rule whose settings differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleChange {
    pub rule: String,
    /// Each setting that differs, in the order described in the module documentation.
    pub settings: Vec<SettingChange>,
}

/// One setting's old and new value (`None`: unset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl PolicyDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `+ NAME`, `- NAME` and `~ NAME` lines, each changed rule followed by its
    /// `    Setting: old -> new` lines (`-` for unset); `no changes` when there are none.
    pub fn text(&self) -> String {
        if self.is_empty() {
            return "no changes\n".into();
        }
        let mut out = String::new();
        for name in &self.added {
            let _ = writeln!(out, "+ {name}");
        }
        for name in &self.removed {
            let _ = writeln!(out, "- {name}");
        }
        for change in &self.changed {
            let _ = writeln!(out, "~ {}", change.rule);
            for s in &change.settings {
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                let _ = writeln!(out, "    {}: {} -> {}", s.name, shown(&s.old), shown(&s.new));
            }
        }
        out
    }
}

/// The differences from `old` to `new`.
pub fn diff(old: &RuleTable, new: &RuleTable) -> PolicyDiff {
    let added = new.rules().iter().filter(|r| old.get(&r.name).is_none()).map(|r| r.name.clone()).collect();
    let removed = old.rules().iter().filter(|r| new.get(&r.name).is_none()).map(|r| r.name.clone()).collect();
    let changed = new
        .rules()
        .iter()
        .filter_map(|n| {
            let o = old.get(&n.name)?;
            let settings = rule_changes(o, n);
            (!settings.is_empty()).then(|| RuleChange { rule: n.name.clone(), settings })
        })
        .collect();
    PolicyDiff { added, removed, changed }
}

/// Every setting of one rule that differs between `old` and `new`.
pub fn rule_changes(old: &Rule, new: &Rule) -> Vec<SettingChange> {
    let (old, new) = (settings_of(old), settings_of(new));
    let mut out = Vec::new();
    // Names in `new`'s order, then names only `old` has.
    let names = new.iter().map(|(n, _)| n).chain(old.iter().map(|(n, _)| n).filter(|n| !has(&new, n)));
    for name in names {
        let (o, n) = (value(&old, name), value(&new, name));
        if o != n {
            out.push(SettingChange { name: name.clone(), old: o, new: n });
        }
    }
    out
}

type Named = Vec<(String, Option<String>)>;

fn has(list: &Named, name: &str) -> bool {
    list.iter().any(|(n, _)| n == name)
}

fn value(list: &Named, name: &str) -> Option<String> {
    list.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone())
}

/// A rule's settings by name, in the documented order.
fn settings_of(r: &Rule) -> Named {
    let mut out: Named = vec![
        ("Priority".into(), r.priority.map(|p| p.to_string())),
        ("Direction".into(), Some(r.direction.word().into())),
        ("LocalAddr".into(), Some(addr_text(&r.local_addr))),
        ("LocalPort".into(), Some(port_text(&r.local_port))),
        ("RemoteAddr".into(), Some(addr_text(&r.remote_addr))),
        ("RemotePort".into(), Some(port_text(&r.remote_port))),
        ("Jobname".into(), r.jobname.clone()),
        ("Userid".into(), r.userid.clone()),
        ("TTLSGroupActionRef".into(), Some(r.group_action.clone())),
        ("TTLSEnvironmentActionRef".into(), r.environment_action.clone()),
        ("TTLSConnectionActionRef".into(), r.connection_action.clone()),
    ];
    // A list setting has one entry per value: joined under its one name.
    let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let view = effective::effective(r);
    for e in &view {
        match (lists.get_mut(e.name), &e.value) {
            (Some(values), Some(v)) => values.push(v.clone()),
            (Some(_), None) => {}
            (None, v) => {
                lists.insert(e.name, v.iter().cloned().collect());
                out.push((e.name.to_string(), None));
            }
        }
    }
    for (name, v) in out.iter_mut() {
        if let Some(values) = lists.get(name.as_str()).filter(|v| !v.is_empty()) {
            *v = Some(values.join(", "));
        }
    }
    out.extend(r.settings.other.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
    out
}

/// `All`, `label (a, b)`, or the list (as the netstat detail writes a condition).
fn addr_text(c: &AddrCond) -> String {
    labelled(&c.label, c.entries.iter().map(|e| e.to_string()).collect())
}

fn port_text(c: &PortCond) -> String {
    labelled(&c.label, c.entries.iter().map(|e| e.to_string()).collect())
}

fn labelled(label: &Option<String>, entries: Vec<String>) -> String {
    let list = if entries.is_empty() { "All".to_string() } else { entries.join(", ") };
    match label {
        Some(l) => format!("{l} ({list})"),
        None => list,
    }
}

#[cfg(test)]
mod tests;
