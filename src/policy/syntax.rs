//! The statement grammar: tokens to [`Statement`]s, with error recovery so that one run reports every
//! error it can find (D11). Handles inline blocks (named or not), `…Ref` parameters, braces on
//! their own lines or on the statement line (D18), repeated parameters (D4) and the quirks of D31.
//!
//! This file holds the parser's cursor and the top level; [`statement`] reads `Keyword [name] {…}`,
//! [`parameter`] one line inside a block, [`repeats`] the D4 check of repeated parameters.

mod parameter;
mod repeats;
mod statement;

use super::ast::Statement;
use super::catalog::{ALL_KINDS, Kind};
use super::diag::{Diagnostic, Diagnostics, nearest};
use super::lex::{TokKind, Token, tokenize};
use super::source::{FileId, Span};

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
}

#[cfg(test)]
mod tests;
