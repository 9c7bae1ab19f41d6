//! The lexer: policy text to tokens (words, quoted strings, braces), each with its span and line.
//!
//! Built from small nom parsers. Layout rules of docs/policy-reference.md#lexical-syntax: `#`
//! starts a comment where a token could start; CR, tabs and a UTF-8 byte-order mark are blanks; `{`
//! and `}` are tokens of their own even when glued to a word; `"…"` quotes one value. An 8-digit
//! token at column 73 is an FB-80 sequence number (D31): dropped here with a warning.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{is_not, take_till, take_while1},
    character::complete::char,
    combinator::{map, recognize},
    sequence::{delimited, preceded},
};

use super::diag::{Diagnostic, Diagnostics};
use super::source::{FileId, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Word,
    /// A double-quoted value; `text` excludes the quotes.
    Quoted,
    LBrace,
    RBrace,
}

/// One token. `text` borrows the source; `span` covers the token as written (quotes included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokKind,
    pub text: &'a str,
    pub span: Span,
    /// 1-based line number.
    pub line: u32,
}

impl Token<'_> {
    pub fn is_brace(&self) -> bool {
        matches!(self.kind, TokKind::LBrace | TokKind::RBrace)
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\u{feff}' || c == '\u{0b}' || c == '\u{0c}'
}

fn is_word_char(c: char) -> bool {
    !is_blank(c) && c != '\n' && c != '{' && c != '}' && c != '"'
}

enum Raw<'a> {
    Blank,
    Comment,
    Tok(TokKind, &'a str),
    /// An opening quote with no closing quote on the line.
    OpenQuote(&'a str),
}

fn quoted(input: &str) -> IResult<&str, Raw<'_>> {
    alt((
        map(delimited(char('"'), recognize(nom::combinator::opt(is_not("\"\n"))), char('"')), |s| {
            Raw::Tok(TokKind::Quoted, s)
        }),
        map(preceded(char('"'), take_till(|c| c == '\n')), Raw::OpenQuote),
    ))
    .parse(input)
}

/// One token (or a run of blanks, or a comment). Dispatches on the first character, so the common
/// case (a word) costs one nom parser, not a trial of every alternative.
fn raw_token(input: &str) -> IResult<&str, Raw<'_>> {
    match input.chars().next() {
        Some(c) if is_blank(c) => map(take_while1(is_blank), |_| Raw::Blank).parse(input),
        Some('#') => map(preceded(char('#'), take_till(|c| c == '\n')), |_| Raw::Comment).parse(input),
        Some('{') => map(char('{'), |_| Raw::Tok(TokKind::LBrace, "{")).parse(input),
        Some('}') => map(char('}'), |_| Raw::Tok(TokKind::RBrace, "}")).parse(input),
        Some('"') => quoted(input),
        _ => map(take_while1(is_word_char), |s| Raw::Tok(TokKind::Word, s)).parse(input),
    }
}

/// Splits one file into tokens. Problems (an unclosed quote) go to `diags`; lexing never fails.
pub fn tokenize<'a>(file: FileId, text: &'a str, diags: &mut Diagnostics) -> Vec<Token<'a>> {
    let mut tokens = Vec::with_capacity(text.len() / 12);
    let mut line_tokens: Vec<Token<'a>> = Vec::new();
    for (line_idx, (line_start, line)) in lines(text).enumerate() {
        let line_no = line_idx as u32 + 1;
        let mut rest = line;
        line_tokens.clear();
        while !rest.is_empty() {
            let offset = line_start + (line.len() - rest.len());
            let Ok((next, raw)) = raw_token(rest) else {
                // Unreachable in practice (every char is blank, brace, quote or word), but never loop.
                break;
            };
            let consumed = rest.len() - next.len();
            match raw {
                Raw::Blank | Raw::Comment => {}
                Raw::Tok(kind, s) => line_tokens.push(Token {
                    kind,
                    text: s,
                    span: Span::new(file, offset, offset + consumed),
                    line: line_no,
                }),
                Raw::OpenQuote(s) => {
                    let span = Span::new(file, offset, offset + consumed);
                    diags.push(Diagnostic::error(
                        span,
                        "quoted value has no closing `\"`",
                        "close the quote on the same line",
                    ));
                    line_tokens.push(Token { kind: TokKind::Quoted, text: s, span, line: line_no });
                }
            }
            rest = next;
        }
        if let Some(last) = line_tokens.last()
            && is_sequence_number(last, line_start, line)
        {
            let t = line_tokens.pop().expect("just looked at it");
            let d = Diagnostic::portability(
                t.span,
                format!("sequence number `{}` in columns 73-80 ignored", t.text),
                "transfer the file from z/OS without sequence numbers (e.g. ISPF `NUMBER OFF`, or a binary/text transfer of the unnumbered member)",
            )
            .grouped("sequence-numbers");
            diags.push(d);
        }
        tokens.extend_from_slice(&line_tokens);
    }
    tokens
}

fn is_sequence_number(tok: &Token<'_>, line_start: usize, line: &str) -> bool {
    if tok.kind != TokKind::Word || tok.text.len() != 8 || !tok.text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let col = line[..tok.span.start as usize - line_start].chars().count() + 1;
    col == 73
}

/// Lines with their starting byte offsets, without the `\n`.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    text.split('\n').map(move |l| {
        let s = start;
        start += l.len() + 1;
        (s, l)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokKind, String, u32)> {
        let mut d = Diagnostics::default();
        tokenize(FileId(0), text, &mut d).into_iter().map(|t| (t.kind, t.text.to_string(), t.line)).collect()
    }

    #[test]
    fn words_braces_comments_quotes() {
        use TokKind::*;
        let toks = kinds("\u{feff}TTLSRule\tr~1{ # c\r\n  Keyring \"a b\" #x\n}\n");
        assert_eq!(
            toks,
            vec![
                (Word, "TTLSRule".into(), 1),
                (Word, "r~1".into(), 1),
                (LBrace, "{".into(), 1),
                (Word, "Keyring".into(), 2),
                (Quoted, "a b".into(), 2),
                (RBrace, "}".into(), 3),
            ]
        );
    }

    #[test]
    fn hash_inside_a_word_is_part_of_it() {
        assert_eq!(kinds("Keyring TCPIP/RING#1 # comment")[1].1, "TCPIP/RING#1");
    }

    #[test]
    fn sequence_numbers_at_column_73_are_dropped_with_a_warning() {
        let line = format!("{:<72}{}", "  Priority 10", "00010000");
        let mut d = Diagnostics::default();
        let toks = tokenize(FileId(0), &line, &mut d);
        assert_eq!(toks.len(), 2);
        assert_eq!(d.items.len(), 1);
        assert!(d.items[0].portability);
    }

    #[test]
    fn unclosed_quote_is_an_error() {
        let mut d = Diagnostics::default();
        let toks = tokenize(FileId(0), "Keyring \"abc\n", &mut d);
        assert_eq!(toks.len(), 2);
        assert!(d.has_errors());
    }
}
