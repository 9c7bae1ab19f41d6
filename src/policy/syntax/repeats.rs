//! D4, repeated parameters in one block: a single-valued parameter (or slot) written twice keeps
//! the last, with a warning; a second `Port` in a PortRange or `Prefix`/`Range` in an IpAddrSet is
//! an error.

use super::super::ast::Item;
use super::super::catalog::Kind;
use super::super::diag::Diagnostic;
use super::super::source::Span;
use super::Parser;

impl Parser<'_, '_> {
    /// D4: a single-valued parameter (or slot) written twice keeps the last, warned; a second `Port`
    /// in a PortRange or `Prefix`/`Range` in an IpAddrSet is an error.
    pub(super) fn check_repeats(&mut self, kind: Kind, items: Vec<Item>) -> Vec<Item> {
        // Blocks hold a handful of items: a linear scan beats hashing.
        let mut last: Vec<(&'static str, (usize, Span))> = Vec::with_capacity(items.len());
        let mut drop = vec![false; items.len()];
        for (i, item) in items.iter().enumerate() {
            let (slot, span, what) = match item {
                Item::Param(p) if p.def.multi => continue,
                Item::Param(p) => (p.def.slot.unwrap_or(p.def.name), p.key_span, p.def.name),
                Item::Block(_) if kind.children_are_members() => continue,
                Item::Block(b) => (b.kind.keyword(), b.keyword_span, b.kind.keyword()),
            };
            let prior = match last.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, at)) => Some(std::mem::replace(at, (i, span))),
                None => {
                    last.push((slot, (i, span)));
                    None
                }
            };
            if let Some((j, prev)) = prior {
                drop[j] = true;
                if matches!(kind, Kind::PortRange | Kind::IpAddrSet) {
                    let (hint, msg) = if kind == Kind::PortRange {
                        (
                            "a PortRange holds one Port; use a PortGroup of PortRanges for several",
                            "a second Port in one PortRange",
                        )
                    } else {
                        (
                            "an IpAddrSet holds one Prefix or Range; use an IpAddrGroup for several",
                            "a second Prefix or Range in one IpAddrSet",
                        )
                    };
                    self.diags.push(Diagnostic::error(span, msg, hint).with_also(prev, "the first one is"));
                } else {
                    let msg = if self.slot_name(&items[j]) == what {
                        format!("{what} is written twice in one {kind}; the last one wins")
                    } else {
                        format!(
                            "{what} and {} both set {slot} in one {kind}; the last one wins",
                            self.slot_name(&items[j])
                        )
                    };
                    self.diags.push(
                        Diagnostic::portability(span, msg, "remove one of them")
                            .with_also(prev, "the earlier one is"),
                    );
                }
            }
        }
        items.into_iter().zip(drop).filter(|(_, d)| !d).map(|(i, _)| i).collect()
    }

    fn slot_name(&self, item: &Item) -> &'static str {
        match item {
            Item::Param(p) => p.def.name,
            Item::Block(b) => b.kind.keyword(),
        }
    }
}
