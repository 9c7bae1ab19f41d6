//! The main configuration's tokens grouped by line, read one line at a time, with the block
//! skipping that error recovery needs.

use crate::policy::lex::{TokKind, Token};

pub(crate) struct Lines<'a> {
    /// Tokens grouped by line.
    lines: Vec<Vec<Token<'a>>>,
    pos: usize,
}

impl<'a> Lines<'a> {
    /// Groups `tokens` by the line they start on.
    pub(crate) fn new(tokens: Vec<Token<'a>>) -> Self {
        let mut lines: Vec<Vec<Token<'a>>> = Vec::new();
        for t in tokens {
            match lines.last_mut() {
                Some(l) if l[0].line == t.line => l.push(t),
                _ => lines.push(vec![t]),
            }
        }
        Lines { lines, pos: 0 }
    }

    pub(crate) fn next(&mut self) -> Option<Vec<Token<'a>>> {
        let l = self.lines.get(self.pos).cloned();
        self.pos += 1;
        l
    }

    pub(crate) fn peek_is_brace(&self) -> bool {
        self.lines.get(self.pos).is_some_and(|l| l[0].kind == TokKind::LBrace)
    }

    /// Skips to the line after the next `}`.
    pub(crate) fn skip_block(&mut self) {
        while let Some(l) = self.next() {
            if l.iter().any(|t| t.kind == TokKind::RBrace) {
                return;
            }
        }
    }
}
