//! A refresh's dry run: what installing a candidate generation would change, against the running
//! one, without installing it. The rules added, removed and changed ([`crate::policy::diff`]), and
//! how many live connections would be mapped to another rule (or to none) if they were new: each
//! is mapped again, as [`super::mapping`] maps a new one, by the candidate table from what its
//! registry entry records (direction, addresses, Jobname, Userid, whether the owner is known). A
//! connection of an unknown owner that the candidate would refuse (rules condition on the owner,
//! D35) counts as mapped to none; a secondary connection (SecondaryMap, D8) is mapped again with its
//! primary's new rule when the primary is still live.

use std::collections::HashMap;

use super::generation::Generation;
use crate::policy::diff::{PolicyDiff, diff};
use crate::policy::matcher::{Primary, map_with_primary};
use crate::policy::{Connection, MapType, Rule, RuleTable};
use crate::registry::{ConnId, ConnSnapshot};

/// What a refresh would change.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// The running generation compared against.
    pub running: u64,
    pub diff: PolicyDiff,
    /// Live connections that would be mapped to another rule, or to none, if they were new.
    pub remapped: usize,
    /// The candidate's warnings, rendered as `pagent check` prints them.
    pub warnings: String,
}

impl DryRun {
    /// The report: the diff's lines ([`PolicyDiff::text`]), then
    /// `live connections mapping elsewhere: N`.
    pub fn text(&self) -> String {
        format!("{}live connections mapping elsewhere: {}\n", self.diff.text(), self.remapped)
    }
}

/// Compares `candidate` with `running` for the connections `live`.
pub fn compare(running: &Generation, candidate: &Generation, live: &[ConnSnapshot]) -> DryRun {
    DryRun {
        running: running.id,
        diff: diff(&running.table, &candidate.table),
        remapped: remapped(live, &candidate.table),
        warnings: candidate.warnings.clone(),
    }
}

/// How many of `live` `table` would map to another rule than the one they hold (by name), or to
/// none.
pub fn remapped(live: &[ConnSnapshot], table: &RuleTable) -> usize {
    let by_id: HashMap<ConnId, &ConnSnapshot> = live.iter().map(|c| (c.id, c)).collect();
    live.iter()
        .filter(|c| {
            let now = c.rule.as_deref().map(|r| r.name.as_str());
            let then = remap(c, table, &by_id).map(|r| r.name.as_str());
            now != then
        })
        .count()
}

/// The rule `table` gives `c` if it were new (`None`: no rule, or refused).
fn remap<'t>(
    c: &ConnSnapshot,
    table: &'t RuleTable,
    live: &HashMap<ConnId, &ConnSnapshot>,
) -> Option<&'t Rule> {
    let own = own_rule(c, table);
    let primary = c.primary.filter(|_| c.map_type == Some(MapType::Secondary)).and_then(|id| live.get(&id));
    let Some(p) = primary else { return own };
    let primary =
        own_rule(p, table).map(|rule| Primary { rule, local_ip: p.local.ip(), remote_ip: p.remote.ip() });
    map_with_primary(own, primary, c.local.ip(), c.remote.ip()).0
}

/// The table's own rule for `c`'s addresses and owner.
fn own_rule<'t>(c: &ConnSnapshot, table: &'t RuleTable) -> Option<&'t Rule> {
    if !c.owner_known && table.conditions_on_owner(c.direction) {
        return None;
    }
    let conn = Connection {
        direction: c.direction,
        local: c.local,
        remote: c.remote,
        jobname: c.owner_known.then_some(c.jobname.as_str()),
        userid: c.owner_known.then_some(c.userid.as_str()),
    };
    table.lookup(&conn).map(|r| &**r)
}

#[cfg(test)]
mod tests;
