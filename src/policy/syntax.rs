//! The statement grammar: tokens to [`Statement`]s, with error recovery so that one run reports every
//! error it can find (D11). Handles inline blocks (named or not), `…Ref` parameters, braces on
//! their own lines or on the statement line (D18), repeated parameters (D4) and the quirks of D31.

use super::ast::{Item, ParamItem, Spanned, Statement, Value};
use super::catalog::{ALL_KINDS, Kind, Param, ValueType};
use super::diag::{Diagnostic, Diagnostics, nearest};
use super::lex::{TokKind, Token, tokenize};
use super::source::{FileId, Span};
use super::support::support_note;
use super::values::{Note, bad_name, parse_value};

/// Parses one file into its top-level statements; every problem goes to `diags`.
pub fn parse_file(file: FileId, text: &str, diags: &mut Diagnostics) -> Vec<Statement> {
    let tokens = tokenize(file, text, diags);
    let mut p = Parser { toks: tokens, pos: 0, text, diags, same_line_brace: None };
    let mut out = Vec::new();
    while p.pos < p.toks.len() {
        if let Some(stmt) = p.top_level() {
            out.push(stmt);
        }
    }
    if let Some(span) = p.same_line_brace {
        p.diags.push(
            Diagnostic::portability(
                span,
                "brace on the statement line or a one-line block",
                "z/OS documents `{` and `}` on lines of their own; attls accepts this layout",
            )
            .grouped("brace-layout"),
        );
    }
    out
}

struct Parser<'a, 'd> {
    toks: Vec<Token<'a>>,
    pos: usize,
    text: &'a str,
    diags: &'d mut Diagnostics,
    /// First place where a brace shares a line with other tokens (one warning per file, D18).
    same_line_brace: Option<Span>,
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<Token<'a>> {
        self.toks.get(self.pos).copied()
    }

    fn is_first_on_line(&self, i: usize) -> bool {
        i == 0 || self.toks[i - 1].line != self.toks[i].line
    }

    fn error(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message, hint));
    }

    /// Skips the rest of the current line (stopping before a brace).
    fn skip_line(&mut self, line: u32) {
        while let Some(t) = self.peek() {
            if t.line != line || t.is_brace() {
                break;
            }
            self.pos += 1;
        }
    }

    /// Skips a balanced `{ … }` block starting at the current `{`.
    fn skip_block(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t.kind {
                TokKind::LBrace => depth += 1,
                TokKind::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// The index just past the balanced block whose `{` is at `open`.
    fn balanced_end(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(open) {
            match t.kind {
                TokKind::LBrace => depth += 1,
                TokKind::RBrace => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
        self.toks.len()
    }

    fn note_brace_layout(&mut self, brace: usize) {
        let t = self.toks[brace];
        let shares = |j: Option<usize>| j.and_then(|j| self.toks.get(j)).is_some_and(|o| o.line == t.line);
        if self.same_line_brace.is_none() && (shares(brace.checked_sub(1)) || shares(Some(brace + 1))) {
            self.same_line_brace = Some(t.span);
        }
    }

    fn top_level(&mut self) -> Option<Statement> {
        let t = self.peek()?;
        match t.kind {
            TokKind::RBrace => {
                self.pos += 1;
                self.error(t.span, "`}` closes nothing", "remove it, or look for a missing `{` above");
                None
            }
            TokKind::LBrace => {
                self.error(
                    t.span,
                    "`{` without a statement before it",
                    "write `StatementType name` before the `{`",
                );
                self.skip_block();
                None
            }
            TokKind::Word | TokKind::Quoted => {
                if self.semicolon_line(t) {
                    return None;
                }
                if let Some(kind) = Kind::from_keyword(t.text) {
                    return self.statement(kind, false);
                }
                self.unknown_statement(t);
                None
            }
        }
    }

    /// D12: a line starting with `;` is an error (`;` is a comment in other z/OS files, not here).
    fn semicolon_line(&mut self, t: Token<'a>) -> bool {
        if !(t.text.starts_with(';') && self.is_first_on_line(self.pos)) {
            return false;
        }
        self.error(t.span, "`;` does not start a comment in a policy file", "use # for comments");
        self.pos += 1;
        self.skip_line(t.line);
        true
    }

    fn unknown_statement(&mut self, t: Token<'a>) {
        let homes = Kind::homes_of(t.text);
        let (message, hint) = if let Some(home) = homes.first() {
            (format!("parameter {} outside of a statement", t.text), format!("put it inside a {home} block"))
        } else {
            let kws = ALL_KINDS.iter().map(|k| k.keyword());
            let hint = match nearest(t.text, kws) {
                Some(n) => format!("did you mean {n}?"),
                None => {
                    "statements are TTLSRule, TTLSGroupAction, TTLSEnvironmentAction, TTLSConnectionAction, \
                         the TTLS…Parms statements, IpAddr, IpAddrSet, IpAddrGroup, PortRange and PortGroup"
                        .into()
                }
            };
            (format!("unknown statement `{}`", t.text), hint)
        };
        self.error(t.span, message, hint);
        self.pos += 1;
        self.skip_line(t.line);
        if self.peek().is_some_and(|n| n.kind == TokKind::LBrace) {
            self.skip_block();
        }
    }

    /// Parses `Keyword [name] { items }`; the current token is the keyword.
    fn statement(&mut self, kind: Kind, nested: bool) -> Option<Statement> {
        let kw = self.toks[self.pos];
        let mark = self.diags.items.len();
        self.pos += 1;
        let mut name = None;
        let mut name_written = false;
        if let Some(t) = self.peek()
            && t.line == kw.line
            && !t.is_brace()
        {
            self.pos += 1;
            name_written = true;
            match bad_name(t.text) {
                Some(n) => self.push_note(t.span, t.kind, n),
                None => name = Some(Spanned { value: t.text.to_string(), span: t.span }),
            }
            // D31: anything else before the brace on the statement line is ignored.
            if let Some(extra) = self.peek().filter(|e| e.line == kw.line && !e.is_brace()) {
                self.pos += 1;
                self.skip_line(kw.line);
                self.diags.push(
                    Diagnostic::portability(
                        extra.span,
                        format!("text after the name of {kind} {} is ignored", t.text),
                        "remove it",
                    )
                    .grouped("extra-tokens-after-name"),
                );
            }
        }
        let open = match self.peek() {
            Some(t) if t.kind == TokKind::LBrace => {
                self.note_brace_layout(self.pos);
                self.pos += 1;
                t
            }
            next => {
                let at = next.map_or(kw.span, |t| t.span);
                self.error(
                    at,
                    format!(
                        "expected `{{` to open {kind} {}",
                        name.as_ref().map_or("", |n| n.value.as_str())
                    ),
                    format!("put `{{` on the line after `{kind} NAME`, and `}}` after its parameters"),
                );
                // If the next line holds one of this statement's parameters, read on as if the `{`
                // were there, so the rest of the block is not reported line by line.
                let body_follows = next.is_some_and(|t| {
                    t.kind == TokKind::Word
                        && (kind.param(t.text).is_some()
                            || kind.children().iter().any(|(c, _)| c.keyword().eq_ignore_ascii_case(t.text)))
                });
                if !body_follows {
                    return None;
                }
                kw
            }
        };
        if name.is_none() && !nested && !name_written {
            self.error(
                kw.span,
                format!("{kind} has no name"),
                format!("write `{kind} NAME` (1-32 characters) before the `{{`"),
            );
        }
        let mut items = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                self.error(
                    open.span,
                    format!(
                        "end of file inside {kind} {}: this `{{` is never closed",
                        name.as_ref().map_or("", |n| n.value.as_str())
                    ),
                    "add `}` to close the block",
                );
                break;
            };
            match t.kind {
                TokKind::RBrace => {
                    self.note_brace_layout(self.pos);
                    self.pos += 1;
                    break;
                }
                TokKind::LBrace => {
                    self.error(
                        t.span,
                        "`{` without a statement before it",
                        "write `StatementType [name]` before the `{`",
                    );
                    self.skip_block();
                }
                TokKind::Word | TokKind::Quoted => {
                    if self.semicolon_line(t) {
                        continue;
                    }
                    if self.unclosed_before_next_statement(kind, nested, t, open, &name) {
                        break;
                    }
                    if let Some(item) = self.item(kind, t) {
                        items.push(item);
                    }
                }
            }
        }
        let items = self.check_repeats(kind, items);
        let broken = self.diags.items[mark..].iter().any(Diagnostic::is_error);
        Some(Statement { kind, keyword_span: kw.span, name, items, broken })
    }

    /// A top-level statement keyword with a name and a `{`, at the start of a line inside a block
    /// that cannot hold it, means the block above was never closed.
    fn unclosed_before_next_statement(
        &mut self,
        kind: Kind,
        nested: bool,
        t: Token<'a>,
        open: Token<'a>,
        name: &Option<Spanned<String>>,
    ) -> bool {
        let Some(next_kind) = Kind::from_keyword(t.text) else { return false };
        if kind.children().iter().any(|(c, _)| *c == next_kind) || !self.is_first_on_line(self.pos) {
            return false;
        }
        let named_block = matches!(
            (self.toks.get(self.pos + 1), self.toks.get(self.pos + 2)),
            (Some(n), Some(b)) if !n.is_brace() && n.line == t.line && b.kind == TokKind::LBrace
        );
        if !named_block || (nested && kind != Kind::Rule && !next_kind.is_action() && next_kind != Kind::Rule)
        {
            return false;
        }
        // If the block after it is followed by our own `}` or by one of our parameters, it is an
        // inline statement in the wrong place, not the start of the next top-level statement.
        let after = self.balanced_end(self.pos + 2);
        let continues_here = self.toks.get(after).is_some_and(|n| {
            n.kind == TokKind::RBrace || (n.kind == TokKind::Word && kind.param(n.text).is_some())
        });
        if continues_here {
            return false;
        }
        self.error(
            open.span,
            format!(
                "{kind} {} is not closed before {next_kind} on line {}",
                name.as_ref().map_or("", |n| n.value.as_str()),
                t.line
            ),
            format!("add `}}` before line {}", t.line),
        );
        true
    }

    /// One parameter line or one inline block.
    fn item(&mut self, kind: Kind, t: Token<'a>) -> Option<Item> {
        if let Some(child) = Kind::from_keyword(t.text) {
            if kind.children().iter().any(|(c, _)| *c == child) {
                return self.statement(child, true).map(Item::Block);
            }
            let hint = if kind == Kind::Rule && child.is_action() {
                format!(
                    "actions are references only: define `{child} NAME` at the top level and write `{child}Ref NAME` here"
                )
            } else {
                format!("define `{child} NAME` at the top level")
            };
            self.error(t.span, format!("{child} cannot be written inside {kind}"), hint);
            self.pos += 1;
            self.skip_line(t.line);
            if self.peek().is_some_and(|b| b.kind == TokKind::LBrace) {
                self.skip_block();
            }
            return None;
        }
        let Some(def) = kind.param(t.text) else {
            self.unknown_parameter(kind, t);
            self.pos += 1;
            self.skip_line(t.line);
            return None;
        };
        self.pos += 1;
        self.parameter(kind, def, t)
    }

    fn unknown_parameter(&mut self, kind: Kind, t: Token<'a>) {
        let homes: Vec<String> = Kind::homes_of(t.text).iter().map(|k| k.keyword().to_string()).collect();
        let (message, hint) = if !homes.is_empty() {
            (format!("{} does not belong in {kind}", t.text), format!("it belongs in {}", homes.join(" or ")))
        } else {
            let names =
                kind.params().iter().map(|p| p.name).chain(kind.children().iter().map(|(c, _)| c.keyword()));
            let hint = match nearest(t.text, names) {
                Some(n) => format!("did you mean {n}?"),
                None => format!("see docs/policy-reference.md#statements for the parameters of {kind}"),
            };
            (format!("unknown parameter `{}` in {kind}", t.text), hint)
        };
        self.error(t.span, message, hint);
    }

    fn parameter(&mut self, kind: Kind, def: &'static Param, key: Token<'a>) -> Option<Item> {
        let first = self.pos;
        while self.peek().is_some_and(|v| v.line == key.line && !v.is_brace()) {
            self.pos += 1;
        }
        let values = &self.toks[first..self.pos];
        if values.is_empty() {
            if self.peek().is_some_and(|b| b.kind == TokKind::LBrace && b.line == key.line) {
                self.error(
                    key.span,
                    format!("{} does not take a block", def.name),
                    format!("write `{} value` on one line", def.name),
                );
                self.skip_block();
                return None;
            }
            self.diags.push(
                Diagnostic::portability(
                    key.span,
                    format!("{} has no value and counts as not written", def.name),
                    format!("write a value after {}, or remove the line", def.name),
                )
                .grouped("no-value"),
            );
            return None;
        }
        let (raw, value_span, value_kind) = if def.ty == ValueType::Text {
            let last = values[values.len() - 1];
            let span = Span::new(key.span.file, values[0].span.start as usize, last.span.end as usize);
            if values.len() == 1 {
                (values[0].text.to_string(), span, values[0].kind)
            } else {
                (self.text[span.start as usize..span.end as usize].to_string(), span, TokKind::Word)
            }
        } else {
            if let Some(extra) = values.get(1) {
                self.diags.push(
                    Diagnostic::portability(
                        Span::new(
                            key.span.file,
                            extra.span.start as usize,
                            values[values.len() - 1].span.end as usize,
                        ),
                        format!("text after the value of {} is ignored", def.name),
                        "remove it, or make it a comment with #",
                    )
                    .grouped(format!("extra-tokens-{}", def.name)),
                );
            }
            (values[0].text.to_string(), values[0].span, values[0].kind)
        };
        let mut notes = Vec::new();
        let value = parse_value(def, &raw, &mut notes);
        for n in notes {
            self.push_note(value_span, value_kind, n);
        }
        if let Some(v) = &value {
            let is_off = matches!(v, Value::OnOff(false) | Value::Enum("Off"));
            if let Some((message, hint)) = support_note(def, &raw, is_off, kind) {
                let d = Diagnostic::portability(
                    Span::new(key.span.file, key.span.start as usize, value_span.end as usize),
                    message,
                    hint,
                );
                self.diags.push(d.grouped(def.name));
            }
        }
        Some(Item::Param(ParamItem {
            def,
            key_span: key.span,
            value: value.unwrap_or(Value::Invalid),
            value_span,
            raw,
        }))
    }

    /// Turns a value note (offsets inside the value) into a diagnostic at the right column.
    fn push_note(&mut self, value_span: Span, kind: TokKind, n: Note) {
        let base = value_span.start as usize + usize::from(kind == TokKind::Quoted);
        let span = Span::new(value_span.file, base + n.start, base + n.end);
        let mut d = if n.error {
            Diagnostic::error(span, n.message, n.hint)
        } else {
            Diagnostic::warning(span, n.message, n.hint)
        };
        d.portability = n.portability;
        d.group = n.group;
        self.diags.push(d);
    }

    /// D4: a single-valued parameter (or slot) written twice keeps the last, warned; a second `Port`
    /// in a PortRange or `Prefix`/`Range` in an IpAddrSet is an error.
    fn check_repeats(&mut self, kind: Kind, items: Vec<Item>) -> Vec<Item> {
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

#[cfg(test)]
mod tests;
