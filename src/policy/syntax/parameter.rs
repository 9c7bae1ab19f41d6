//! One line inside a block: an inline block, or a parameter with its value typed by
//! [`parse_value`](super::super::values::parse_value); value notes and portability notes become
//! diagnostics here.

use super::super::ast::{Item, ParamItem, Value};
use super::super::catalog::{Kind, Param, ValueType};
use super::super::diag::{Diagnostic, nearest};
use super::super::lex::{TokKind, Token};
use super::super::portability::support_note;
use super::super::source::Span;
use super::super::values::{Note, parse_value};
use super::Parser;

impl<'a> Parser<'a, '_> {
    /// One parameter line or one inline block.
    pub(super) fn item(&mut self, kind: Kind, t: Token<'a>) -> Option<Item> {
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
        if first == self.pos {
            self.no_value(def, key);
            return None;
        }
        let (raw, value_span, value_kind) = self.value_text(def, key, first);
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

    /// A parameter with nothing after it on its line: a block it does not take (error, skipped), or
    /// no value at all (counts as not written).
    fn no_value(&mut self, def: &'static Param, key: Token<'a>) {
        if self.peek().is_some_and(|b| b.kind == TokKind::LBrace && b.line == key.line) {
            self.error(
                key.span,
                format!("{} does not take a block", def.name),
                format!("write `{} value` on one line", def.name),
            );
            self.skip_block();
            return;
        }
        self.diags.push(
            Diagnostic::portability(
                key.span,
                format!("{} has no value and counts as not written", def.name),
                format!("write a value after {}, or remove the line", def.name),
            )
            .grouped("no-value"),
        );
    }

    /// The value written in tokens `first..self.pos`, with its span and token kind: the whole rest of
    /// the line for a text parameter, else the first token (the rest ignored, with a warning).
    fn value_text(&mut self, def: &'static Param, key: Token<'a>, first: usize) -> (String, Span, TokKind) {
        let values = &self.toks[first..self.pos];
        if def.ty == ValueType::Text {
            let last = values[values.len() - 1];
            let span = Span::new(key.span.file, values[0].span.start as usize, last.span.end as usize);
            return if values.len() == 1 {
                (values[0].text.to_string(), span, values[0].kind)
            } else {
                (self.text[span.start as usize..span.end as usize].to_string(), span, TokKind::Word)
            };
        }
        let (head, end) = (values[0], values[values.len() - 1].span.end as usize);
        if let Some(extra) = values.get(1) {
            self.diags.push(
                Diagnostic::portability(
                    Span::new(key.span.file, extra.span.start as usize, end),
                    format!("text after the value of {} is ignored", def.name),
                    "remove it, or make it a comment with #",
                )
                .grouped(format!("extra-tokens-{}", def.name)),
            );
        }
        (head.text.to_string(), head.span, head.kind)
    }

    /// Turns a value note (offsets inside the value) into a diagnostic at the right column.
    pub(super) fn push_note(&mut self, value_span: Span, kind: TokKind, n: Note) {
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
}
