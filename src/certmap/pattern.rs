//! One map line's pattern, read from its text and compared with a certificate's [`CertNames`]: a
//! subject DN pattern (RFC 4514 text with `*`), `san:dns:NAME` or `san:email:ADDR`.
//!
//! A DN pattern is read as RFC 4514 reads a DN: RDNs split at unescaped `,`, attributes at
//! unescaped `+`, `TYPE=VALUE` at the first `=`; spaces around them are dropped (a value's own
//! leading or trailing space is written `\ `). The type is a name of
//! [`super::names::ATTRIBUTE_NAMES`] in any case, or a dotted OID. In a value `\` escapes one of
//! `, + " \ < > ; # = *` and space, or writes a byte as two hex digits (`\2C`); an unescaped `*`
//! matches any run of the DN (commas included); a value starting with an unescaped `#` is the hex
//! form of a value that is no string. A segment that is only `*` matches any run too. Values are
//! compared exactly, after escapes are decoded.
//!
//! In a SAN pattern `*` matches any run (dots and `@` included) and `\*` is a literal `*`; DNS
//! names compare ASCII case-insensitively, e-mail addresses exactly except for the domain.

use std::ops::Range;

use super::names::{CertNames, Token, canonical_type};

/// One piece of a pattern: a unit that must be there, or a run of any units (none included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Piece<T> {
    One(T),
    Star,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    Subject(Vec<Piece<Token>>),
    SanDns(Vec<Piece<char>>),
    SanEmail(Vec<Piece<char>>),
}

/// Why a pattern cannot be read: where in the pattern's text, what, and what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub at: Range<usize>,
    pub message: String,
    pub hint: String,
}

fn fail<T>(at: Range<usize>, message: impl Into<String>, hint: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError { at, message: message.into(), hint: hint.into() })
}

const SAN_HINT: &str = "write san:dns:NAME or san:email:ADDR";
const TYPE_HINT: &str =
    "write CN, L, ST, O, OU, C, STREET, DC, UID, emailAddress or serialNumber (any case), or a dotted OID";

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        match text.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("san:") => san(text),
            _ => subject(text),
        }
    }

    pub fn matches(&self, names: &CertNames) -> bool {
        let chars = |s: &String| s.chars().collect::<Vec<char>>();
        match self {
            Pattern::Subject(p) => glob(p, &names.subject_tokens),
            Pattern::SanDns(p) => names.dns.iter().any(|d| glob(p, &chars(d))),
            Pattern::SanEmail(p) => names.email.iter().any(|e| glob(p, &chars(e))),
        }
    }
}

/// Whether `pattern` matches all of `text`: one pass, going back only to the last `*`.
pub fn glob<T: PartialEq>(pattern: &[Piece<T>], text: &[T]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Star) => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(Piece::One(u)) if *u == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((sp, st)) => {
                    last_star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|x| *x == Piece::Star)
}

/// `san:KIND:VALUE`.
fn san(text: &str) -> Result<Pattern, PatternError> {
    let rest = &text[4..];
    let Some((kind, value)) = rest.split_once(':') else {
        return fail(0..text.len(), format!("`{text}` names no subjectAltName kind"), SAN_HINT);
    };
    let at = 4 + kind.len() + 1;
    if value.is_empty() {
        return fail(0..text.len(), "the subjectAltName pattern is empty", SAN_HINT);
    }
    if let Some((i, c)) = value.char_indices().find(|(_, c)| c.is_whitespace() || c.is_control()) {
        let end = at + i + c.len_utf8();
        return fail(at + i..end, "a subjectAltName pattern holds no spaces or control characters", SAN_HINT);
    }
    let mut pieces = Vec::new();
    let mut it = value.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' if it.peek() == Some(&'*') => pieces.push(Piece::One(it.next().unwrap_or('*'))),
            '*' => pieces.push(Piece::Star),
            c => pieces.push(Piece::One(c)),
        }
    }
    match kind.to_ascii_lowercase().as_str() {
        "dns" => Ok(Pattern::SanDns(pieces.into_iter().map(|p| lower(p, true)).collect())),
        "email" => {
            let domain_from =
                pieces.iter().rposition(|p| *p == Piece::One('@')).map_or(usize::MAX, |i| i + 1);
            Ok(Pattern::SanEmail(
                pieces.into_iter().enumerate().map(|(i, p)| lower(p, i >= domain_from)).collect(),
            ))
        }
        _ => fail(4..4 + kind.len(), format!("`{kind}` is not a subjectAltName kind attls maps"), SAN_HINT),
    }
}

fn lower(p: Piece<char>, fold: bool) -> Piece<char> {
    match p {
        Piece::One(c) if fold => Piece::One(c.to_ascii_lowercase()),
        p => p,
    }
}

/// A subject DN pattern.
fn subject(text: &str) -> Result<Pattern, PatternError> {
    let mut pieces = Vec::new();
    for (range, separator) in segments(text)? {
        if let Some(sep) = separator {
            pieces.push(Piece::One(sep));
        }
        let range = trimmed(text, range.clone()).ok_or_else(|| PatternError {
            at: range.start.saturating_sub(1)..range.end.max(range.start),
            message: "an empty RDN or attribute".into(),
            hint: "remove the extra `,` or `+`, or write `*` for any run of RDNs".into(),
        })?;
        let seg = &text[range.clone()];
        if seg.chars().all(|c| c == '*') {
            pieces.push(Piece::Star);
            continue;
        }
        attribute(text, range, &mut pieces)?;
    }
    Ok(Pattern::Subject(pieces))
}

/// A segment of a DN pattern: its range, and the separator before it (none for the first).
type Segment = (Range<usize>, Option<Token>);

/// Splits at unescaped `,` and `+`.
fn segments(text: &str) -> Result<Vec<Segment>, PatternError> {
    let mut out = Vec::new();
    let (mut start, mut before) = (0, None);
    let mut it = text.char_indices();
    while let Some((i, c)) = it.next() {
        let sep = match c {
            '\\' => {
                if it.next().is_none() {
                    return fail(
                        i..i + 1,
                        "the pattern ends with a lone `\\`",
                        "write `\\\\` for a backslash",
                    );
                }
                continue;
            }
            ',' => Token::RdnSeparator,
            '+' => Token::AttributeSeparator,
            _ => continue,
        };
        out.push((start..i, before));
        (start, before) = (i + 1, Some(sep));
    }
    out.push((start..text.len(), before));
    Ok(out)
}

/// The range without blanks at either end (a blank right after a `\` stays); `None` when empty.
fn trimmed(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let seg = &text[range.clone()];
    let start = range.start + (seg.len() - seg.trim_start_matches([' ', '\t']).len());
    let mut end = range.end;
    while end > start && matches!(text.as_bytes()[end - 1], b' ' | b'\t') {
        let backslashes = text[start..end - 1].bytes().rev().take_while(|&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    (end > start).then_some(start..end)
}

/// `TYPE=VALUE` at `range` of `text`, appended to `out`.
fn attribute(text: &str, range: Range<usize>, out: &mut Vec<Piece<Token>>) -> Result<(), PatternError> {
    let seg = &text[range.clone()];
    let Some(eq) = seg.find('=') else {
        let hint = "write e.g. `CN=alice`; a `,` or `+` inside a value is written `\\,` or `\\+`";
        return fail(range, format!("`{seg}` is not TYPE=VALUE"), hint);
    };
    let ty = seg[..eq].trim_end();
    let ty_at = range.start..range.start + ty.len();
    if ty.contains('*') {
        let hint = "a `*` matches whole runs of the DN: write `*,OU=ops` rather than `*OU=ops`";
        return fail(ty_at, "a `*` cannot stand in an attribute type", hint);
    }
    let Some(name) = canonical_type(ty) else {
        return fail(ty_at, format!("`{ty}` is not an attribute type attls renders"), TYPE_HINT);
    };
    out.extend(name.chars().map(|c| Piece::One(Token::Char(c))));
    out.push(Piece::One(Token::Equals));
    let value = seg[eq + 1..].trim_start_matches([' ', '\t']);
    let value_at = range.end - value.len();
    match value.strip_prefix('#') {
        Some(hex) => hex_value(hex, value_at, out),
        None => value_pieces(value, value_at, out),
    }
}

/// The hex form `#…` (its digits, compared case-insensitively; `*` allowed).
fn hex_value(hex: &str, at: usize, out: &mut Vec<Piece<Token>>) -> Result<(), PatternError> {
    out.push(Piece::One(Token::Hex));
    for (i, c) in hex.char_indices() {
        match c {
            '*' => out.push(Piece::Star),
            c if c.is_ascii_hexdigit() => out.push(Piece::One(Token::Char(c.to_ascii_lowercase()))),
            c => {
                let at = at + 1 + i..at + 1 + i + c.len_utf8();
                let hint =
                    "a value starting with `#` is hex (a value that is no string); write `\\#` for a `#`";
                return fail(at, format!("`{c}` is not a hex digit"), hint);
            }
        }
    }
    Ok(())
}

/// Characters a `\` may escape in a value.
const ESCAPABLE: &str = ",+\"\\<>;#= *";

/// A value's characters, escapes decoded, `*` as [`Piece::Star`].
fn value_pieces(value: &str, at: usize, out: &mut Vec<Piece<Token>>) -> Result<(), PatternError> {
    let mut bytes: Vec<u8> = Vec::new();
    let mut bytes_at = at;
    let mut it = value.char_indices();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            flush(&mut bytes, bytes_at..at + i, out)?;
            out.push(if c == '*' { Piece::Star } else { Piece::One(Token::Char(c)) });
            continue;
        }
        let next = it.next().map_or('\\', |(_, n)| n);
        if next.is_ascii_hexdigit() {
            let Some(low) = it.next().map(|(_, l)| l).filter(char::is_ascii_hexdigit) else {
                return fail(
                    at + i..at + i + 2,
                    "`\\` and one hex digit",
                    "write a byte as two hex digits: `\\2C`",
                );
            };
            if bytes.is_empty() {
                bytes_at = at + i;
            }
            bytes.push(hex_digit(next) << 4 | hex_digit(low));
            continue;
        }
        flush(&mut bytes, bytes_at..at + i, out)?;
        if !ESCAPABLE.contains(next) {
            let hint = "escape only , + \" \\ < > ; # = * and space, or write a byte as `\\XX`";
            return fail(at + i..at + i + 1 + next.len_utf8(), format!("`\\{next}` is not an escape"), hint);
        }
        out.push(Piece::One(Token::Char(next)));
    }
    flush(&mut bytes, bytes_at..at + value.len(), out)
}

fn hex_digit(c: char) -> u8 {
    c.to_digit(16).unwrap_or(0) as u8
}

/// Bytes written as `\XX`, decoded as UTF-8 into `out`.
fn flush(bytes: &mut Vec<u8>, at: Range<usize>, out: &mut Vec<Piece<Token>>) -> Result<(), PatternError> {
    if bytes.is_empty() {
        return Ok(());
    }
    match String::from_utf8(std::mem::take(bytes)) {
        Ok(s) => {
            out.extend(s.chars().map(|c| Piece::One(Token::Char(c))));
            Ok(())
        }
        Err(_) => fail(
            at,
            "the bytes escaped here are not UTF-8",
            "write the value's UTF-8 bytes, e.g. `\\C3\\A9` for é",
        ),
    }
}
