//! Resolution: statements of every file into one namespace (D4: the last definition wins), references
//! followed and type-checked, and each rule's effective settings computed in the precedence of
//! docs/policy-reference.md#levels-and-precedence — connection action over environment action over
//! group action over the documented default (D5, D15, D30). The result is the immutable
//! [`RuleTable`].
//!
//! `rules` turns each TTLSRule into its conditions, `settings` merges the action [`levels`] (with
//! the report lists of `written_lists`), `checks` holds the whole-rule checks (usable TLS,
//! keyrings, D1 priority ties), `forgeable` the warning about rules selected by a Jobname alone.

mod checks;
mod forgeable;
mod levels;
mod rules;
mod settings;
mod written_lists;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::ast::{Item, ParamItem, Statement, Value};
use super::catalog::{ALL_KINDS, Kind, ValueType};
use super::diag::{Diagnostic, Diagnostics, nearest};
use super::source::{FileId, SourceMap, Span};
use super::table::{RuleTable, Settings};

pub use settings::DEFAULT_CIPHERS;

/// Options of one resolution.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions {
    /// Whether to look at keyring paths and warn (a bare `pagent check` opens no keyring, D10).
    pub warn_keyrings: bool,
    /// A `CertUserMap` applies SAFCheck (D37): no warning that it is enforced as Required.
    pub cert_user_map: bool,
}

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
    let mut rule_stmts: Vec<&Statement> =
        r.ns.iter().filter(|((k, _), _)| *k == Kind::Rule).map(|(_, s)| *s).collect();
    rule_stmts.sort_unstable_by_key(|s| s.display_name());
    let rules: Vec<_> = rule_stmts.into_iter().filter_map(|s| r.rule(s)).collect();
    r.check_every_statement();
    let table = RuleTable::new(rules);
    r.overlap_warnings(&table);
    (!r.diags.has_errors()).then_some(table)
}

/// Key of one (group, environment, connection) combination, whose settings are computed once.
type ComboKey<'s> = (&'s str, Option<&'s str>, Option<&'s str>);

struct Resolver<'s, 'd> {
    ns: HashMap<(Kind, &'s str), &'s Statement>,
    /// Names of inline blocks, for the D17 hint.
    inline: HashMap<&'s str, Kind>,
    sources: &'s SourceMap,
    opts: ResolveOptions,
    diags: &'d mut Diagnostics,
    /// Diagnostics already emitted (an action shared by many rules is reported once).
    seen: HashSet<(Span, String)>,
    combos: HashMap<ComboKey<'s>, Option<Arc<Settings>>>,
}

pub(super) fn on_off(p: Option<&ParamItem>, default: bool) -> bool {
    match p.map(|p| &p.value) {
        Some(Value::OnOff(b)) => *b,
        _ => default,
    }
}
pub(super) fn int(p: Option<&ParamItem>, default: u32) -> u32 {
    match p.map(|p| &p.value) {
        Some(Value::Int(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        _ => default,
    }
}
pub(super) fn word(p: Option<&ParamItem>) -> Option<&'static str> {
    match p.map(|p| &p.value) {
        Some(Value::Enum(w)) => Some(w),
        _ => None,
    }
}
pub(super) fn text(p: Option<&ParamItem>) -> Option<String> {
    match p.map(|p| &p.value) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

/// "a" or "an" before a statement keyword.
fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

impl<'s> Resolver<'s, '_> {
    fn emit(&mut self, d: Diagnostic) {
        if self.seen.insert((d.span, d.message.clone())) {
            self.diags.push(d);
        }
    }

    /// Reports something required that a statement lacks, unless the statement already had an
    /// error (then the lack is a consequence, not news).
    fn missing(&mut self, stmt: &Statement, message: String, hint: &str) {
        if !stmt.broken {
            self.emit(Diagnostic::error(stmt.span(), message, hint));
        }
    }

    fn build_namespace(&mut self, files: &'s [(FileId, Vec<Statement>)]) {
        for (_, stmts) in files {
            for stmt in stmts {
                collect_inline(stmt, &mut self.inline);
                let Some(name) = &stmt.name else { continue };
                let Some(prev) = self.ns.insert((stmt.kind, name.value.as_str()), stmt) else { continue };
                let message = if prev.span().file == name.span.file {
                    format!(
                        "{} {} is defined twice in this file; the last definition wins",
                        stmt.kind, name.value
                    )
                } else {
                    format!("{} {} overrides the definition in an earlier file", stmt.kind, name.value)
                };
                let d = if prev.span().file == name.span.file {
                    Diagnostic::portability(name.span, message, "remove or rename one of them")
                } else {
                    Diagnostic::info(name.span, message, "later files override earlier ones (D4, D13)")
                };
                self.emit(d.with_also(prev.span(), "the earlier definition is"));
            }
        }
    }

    /// Follows a `…Ref` to a top-level statement of the right kind, or reports why it cannot.
    fn target(&mut self, p: &ParamItem) -> Option<&'s Statement> {
        let (ValueType::Ref(kind), Value::Ref(name)) = (p.def.ty, &p.value) else { return None };
        if let Some(s) = self.ns.get(&(kind, name.as_str())) {
            return Some(s);
        }
        let other = ALL_KINDS.into_iter().find(|k| self.ns.contains_key(&(*k, name.as_str())));
        let hint = if let Some(k) = other {
            format!(
                "{name} is {} {k}; {} must name {} {kind}",
                article(k.keyword()),
                p.def.name,
                article(kind.keyword())
            )
        } else if self.inline.get(name.as_str()) == Some(&kind) {
            format!(
                "{name} is the name of an inline block, which references cannot reach; move it to the top level as `{kind} {name}`"
            )
        } else {
            let mut names: Vec<&str> = self.ns.keys().filter(|(k, _)| *k == kind).map(|(_, n)| *n).collect();
            names.sort_unstable();
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

    /// The block filling `child`'s slot in `stmt`: inline, or through its `…Ref`. `Err` when the slot
    /// is written but its reference does not resolve (already reported).
    fn slot(&mut self, stmt: Option<&'s Statement>, child: Kind) -> Result<Option<&'s Statement>, ()> {
        let Some(stmt) = stmt else { return Ok(None) };
        let Some(ref_kw) = stmt.kind.children().iter().find(|(c, _)| *c == child).map(|(_, r)| *r) else {
            return Ok(None);
        };
        for item in &stmt.items {
            match item {
                Item::Block(b) if b.kind == child => return Ok(Some(b)),
                Item::Param(p) if p.def.name == ref_kw => return self.target(p).map(Some).ok_or(()),
                _ => {}
            }
        }
        Ok(None)
    }
}

impl<'s> Resolver<'s, '_> {
    /// Statements no rule uses are checked too, so one run reports every error (D11): references
    /// resolve, actions hold their required keywords, address and port objects are complete.
    fn check_every_statement(&mut self) {
        let mut stmts: Vec<&'s Statement> = self.ns.values().copied().collect();
        stmts.sort_by_key(|s| (s.span().file, s.span().start));
        for s in stmts {
            self.check_refs(s);
            match s.kind {
                Kind::GroupAction => {
                    self.required_group(s);
                }
                Kind::EnvironmentAction => {
                    if let Ok(keyring) = self.slot(Some(s), Kind::KeyringParms) {
                        self.required_env(s, keyring);
                    }
                }
                Kind::IpAddr | Kind::IpAddrSet | Kind::IpAddrGroup => {
                    self.addr_entries(s, &mut Vec::new());
                }
                Kind::PortRange | Kind::PortGroup => {
                    self.port_entries(s, &mut Vec::new());
                }
                _ => {}
            }
        }
    }

    fn check_refs(&mut self, stmt: &'s Statement) {
        for item in &stmt.items {
            match item {
                Item::Param(p) if matches!(p.def.ty, ValueType::Ref(_)) => {
                    self.target(p);
                }
                Item::Block(b) => self.check_refs(b),
                Item::Param(_) => {}
            }
        }
    }
}

fn collect_inline<'s>(stmt: &'s Statement, out: &mut HashMap<&'s str, Kind>) {
    for b in stmt.blocks() {
        if let Some(n) = &b.name {
            out.insert(n.value.as_str(), b.kind);
        }
        collect_inline(b, out);
    }
}

#[cfg(test)]
mod tests;
