//! One statement, `Keyword [name] { items }`, read in steps: the name (and D31's ignored text after
//! it), the opening brace (reading on when it is missing but the body follows), then the items up
//! to the closing brace, noticing a block that was never closed before the next statement.

use super::super::ast::{Item, Spanned, Statement};
use super::super::catalog::Kind;
use super::super::diag::Diagnostic;
use super::super::lex::{TokKind, Token};
use super::super::values::bad_name;
use super::Parser;

/// The name of a statement, if written and valid.
type Name = Option<Spanned<String>>;

fn name_text(name: &Name) -> &str {
    name.as_ref().map_or("", |n| n.value.as_str())
}

impl<'a> Parser<'a, '_> {
    /// Parses `Keyword [name] { items }`; the current token is the keyword.
    pub(super) fn statement(&mut self, kind: Kind, nested: bool) -> Option<Statement> {
        let kw = self.toks[self.pos];
        let mark = self.diags.items.len();
        self.pos += 1;
        let (name, name_written) = self.statement_name(kind, kw);
        let open = self.open_brace(kind, kw, &name)?;
        if name.is_none() && !nested && !name_written {
            self.error(
                kw.span,
                format!("{kind} has no name"),
                format!("write `{kind} NAME` (1-32 characters) before the `{{`"),
            );
        }
        let items = self.block_items(kind, nested, open, &name);
        let items = self.check_repeats(kind, items);
        let broken = self.diags.items[mark..].iter().any(Diagnostic::is_error);
        Some(Statement { kind, keyword_span: kw.span, name, items, broken })
    }

    /// The name on the statement line after the keyword `kw`, and whether one was written at all
    /// (valid or not). D31: anything else before the brace on that line is ignored, with a warning.
    fn statement_name(&mut self, kind: Kind, kw: Token<'a>) -> (Name, bool) {
        let Some(t) = self.peek().filter(|t| t.line == kw.line && !t.is_brace()) else {
            return (None, false);
        };
        self.pos += 1;
        let mut name = None;
        match bad_name(t.text) {
            Some(n) => self.push_note(t.span, t.kind, n),
            None => name = Some(Spanned { value: t.text.to_string(), span: t.span }),
        }
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
        (name, true)
    }

    /// The `{` that opens the block. When it is missing: an error, and `None` unless the next line
    /// holds one of this statement's parameters; then the keyword stands in for the brace, so the
    /// rest of the block is read on rather than reported line by line.
    fn open_brace(&mut self, kind: Kind, kw: Token<'a>, name: &Name) -> Option<Token<'a>> {
        let next = self.peek();
        if let Some(t) = next.filter(|t| t.kind == TokKind::LBrace) {
            self.note_brace_layout(self.pos);
            self.pos += 1;
            return Some(t);
        }
        let at = next.map_or(kw.span, |t| t.span);
        self.error(
            at,
            format!("expected `{{` to open {kind} {}", name_text(name)),
            format!("put `{{` on the line after `{kind} NAME`, and `}}` after its parameters"),
        );
        let body_follows = next.is_some_and(|t| {
            t.kind == TokKind::Word
                && (kind.param(t.text).is_some()
                    || kind.children().iter().any(|(c, _)| c.keyword().eq_ignore_ascii_case(t.text)))
        });
        body_follows.then_some(kw)
    }

    /// The items of the block opened by `open`, up to its `}` (or the end of the file, or the start
    /// of the next top-level statement when the block is never closed).
    fn block_items(&mut self, kind: Kind, nested: bool, open: Token<'a>, name: &Name) -> Vec<Item> {
        let mut items = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                self.error(
                    open.span,
                    format!("end of file inside {kind} {}: this `{{` is never closed", name_text(name)),
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
                    if self.unclosed_before_next_statement(kind, nested, t, open, name) {
                        break;
                    }
                    if let Some(item) = self.item(kind, t) {
                        items.push(item);
                    }
                }
            }
        }
        items
    }

    /// A top-level statement keyword with a name and a `{`, at the start of a line inside a block
    /// that cannot hold it, means the block above was never closed.
    fn unclosed_before_next_statement(
        &mut self,
        kind: Kind,
        nested: bool,
        t: Token<'a>,
        open: Token<'a>,
        name: &Name,
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
            format!("{kind} {} is not closed before {next_kind} on line {}", name_text(name), t.line),
            format!("add `}}` before line {}", t.line),
        );
        true
    }
}
