//! Reading a map file: a regular file (a FIFO or a directory is refused before it is opened),
//! bounded in size, lines and line length, UTF-8; each line checked, every error reported (up to
//! [`MAX_ERRORS`]) in the D11 shape.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use super::pattern::Pattern;
use super::{CertUserMap, MapError, MapLine};
use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::source::{FileId, SourceMap, Span};

/// A larger file is not read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A file with more lines (comments and blank lines included) is refused.
pub const MAX_LINES: usize = 20_000;
/// A longer line is an error.
pub const MAX_LINE_BYTES: usize = 4096;
/// The longest user name (Linux's `useradd` default).
pub const MAX_USER_CHARS: usize = 32;
/// After this many errors the rest of the file is not checked.
const MAX_ERRORS: usize = 50;

const LINE_HINT: &str =
    "write `PATTERN USER`, e.g. `CN=alice,OU=ops,O=Example alice` or `san:dns:*.ops.example.com opsbot`";

pub(super) fn load(path: &Path) -> Result<(CertUserMap, String), MapError> {
    match read(path) {
        Ok(text) => parse(path, &text),
        Err(Unreadable::Io(message, hint)) => {
            let mut sources = SourceMap::default();
            let id = sources.add(path, String::new());
            Err(refused(path, &sources, vec![Diagnostic::error(Span::new(id, 0, 0), message, hint)]))
        }
        Err(Unreadable::NotUtf8(bytes, at)) => {
            let mut sources = SourceMap::default();
            let id = sources.add(path, String::from_utf8_lossy(&bytes).into_owned());
            let d = Diagnostic::error(
                Span::new(id, at, at),
                "the CertUserMap is not UTF-8 text",
                "save it as UTF-8",
            );
            Err(refused(path, &sources, vec![d]))
        }
    }
}

enum Unreadable {
    /// Message and hint.
    Io(String, String),
    /// The bytes, and the offset of the first that is not UTF-8.
    NotUtf8(Vec<u8>, usize),
}

fn read(path: &Path) -> Result<String, Unreadable> {
    let cannot = |e: std::io::Error| {
        let hint = "check the CertUserMap path in the main configuration and the file's permissions";
        Unreadable::Io(format!("cannot read the CertUserMap: {e}"), hint.into())
    };
    let not_a_file = || {
        let hint = "point CertUserMap at a text file of `PATTERN USER` lines";
        Unreadable::Io("the CertUserMap is not a regular file".into(), hint.into())
    };
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(not_a_file());
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(not_a_file());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let message = format!("the CertUserMap is larger than {MAX_FILE_BYTES} bytes");
        return Err(Unreadable::Io(message, "map groups of certificates with `*` patterns".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Unreadable::NotUtf8(e.into_bytes(), at)
    })
}

/// The map of `text`, with its warnings rendered; or every error.
pub(super) fn parse(path: &Path, text: &str) -> Result<(CertUserMap, String), MapError> {
    let mut sources = SourceMap::default();
    let id = sources.add(path, text.to_string());
    let mut diags = Diagnostics::default();
    let lines = read_lines(id, text, &mut diags);
    if lines.is_empty() && !diags.has_errors() {
        diags.push(Diagnostic::warning(
            Span::new(id, 0, 0),
            "the CertUserMap maps no certificate",
            "SAFCheck, SafCert and VerifyUser refuse every client while it is empty: add `PATTERN USER` lines",
        ));
    }
    if diags.has_errors() {
        return Err(refused(path, &sources, diags.items));
    }
    diags.finish(false);
    Ok((CertUserMap { path: path.to_path_buf(), lines }, diags.render(&sources)))
}

fn refused(path: &Path, sources: &SourceMap, items: Vec<Diagnostic>) -> MapError {
    let mut diags = Diagnostics { items };
    diags.finish(false);
    let errors = diags.error_count();
    let summary = format!("CertUserMap {} invalid: {errors} error(s)", path.display());
    MapError(format!("{}{summary}\n", diags.render(sources)))
}

/// Every usable line; errors and warnings go to `diags`.
fn read_lines(id: FileId, text: &str, diags: &mut Diagnostics) -> Vec<MapLine> {
    let mut out: Vec<MapLine> = Vec::new();
    let mut first_of: HashMap<Pattern, (usize, Span)> = HashMap::new();
    let mut errors = 0;
    let mut start = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = start;
        start += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let whole = Span::new(id, line_start, line_start + line.len());
        let stop = if i >= MAX_LINES {
            Some((
                format!("the CertUserMap has more than {MAX_LINES} lines"),
                "map groups of certificates with `*` patterns",
            ))
        } else if errors >= MAX_ERRORS {
            Some((
                format!("more than {MAX_ERRORS} errors: the rest of the file is not checked"),
                "fix the errors above first",
            ))
        } else {
            None
        };
        if let Some((message, hint)) = stop {
            diags.push(Diagnostic::error(whole, message, hint));
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            diags.push(Diagnostic::error(
                whole,
                format!("a line longer than {MAX_LINE_BYTES} bytes"),
                LINE_HINT,
            ));
            errors += 1;
            continue;
        }
        let content = without_comment(line);
        if content.trim().is_empty() {
            continue;
        }
        let lead = content.len() - content.trim_start().len();
        match map_line(content.trim(), i + 1) {
            Ok(l) => {
                let span = Span::new(id, line_start + lead, line_start + lead + content.trim().len());
                if let Some((first, first_span)) = first_of.get(&l.pattern) {
                    let message = format!("never used: line {first} has the same pattern and comes first");
                    let d = Diagnostic::warning(span, message, "remove this line, or change its pattern");
                    diags.push(d.with_also(*first_span, "the first line"));
                } else {
                    first_of.insert(l.pattern.clone(), (l.line, span));
                }
                out.push(l);
            }
            Err((at, message, hint)) => {
                let at = Span::new(id, line_start + lead + at.start, line_start + lead + at.end);
                diags.push(Diagnostic::error(at, message, hint));
                errors += 1;
            }
        }
    }
    out
}

/// The line without its comment: from a `#` at its start or after an unescaped blank.
fn without_comment(line: &str) -> &str {
    let (mut escaped, mut after_blank) = (false, true);
    for (i, c) in line.bytes().enumerate() {
        if escaped {
            (escaped, after_blank) = (false, false);
            continue;
        }
        match c {
            b'\\' => (escaped, after_blank) = (true, false),
            b'#' if after_blank => return &line[..i],
            b' ' | b'\t' => after_blank = true,
            _ => after_blank = false,
        }
    }
    line
}

type LineError = (Range<usize>, String, String);

/// `PATTERN USER` (trimmed), line `number`; an error's range is within `body`.
fn map_line(body: &str, number: usize) -> Result<MapLine, LineError> {
    let Some(split) = body.rfind([' ', '\t']) else {
        return Err((0..body.len(), "a line needs a pattern and a user".into(), LINE_HINT.into()));
    };
    let user = &body[split + 1..];
    if let Some(problem) = user_problem(user) {
        let hint = format!(
            "a user name starts with a letter or `_` and holds letters, digits, `_`, `.` or `-` (a final `$` too), at most {MAX_USER_CHARS} characters; it need not exist on this host"
        );
        return Err((split + 1..body.len(), format!("`{user}` is not a Linux user name: {problem}"), hint));
    }
    let pattern_text = trim_end_unescaped(&body[..split]);
    let pattern = Pattern::parse(pattern_text).map_err(|e| (e.at, e.message, e.hint))?;
    Ok(MapLine { line: number, pattern, user: user.to_string() })
}

/// `s` without blanks at its end, but for one written `\ `.
fn trim_end_unescaped(s: &str) -> &str {
    let mut end = s.len();
    while end > 0 && matches!(s.as_bytes()[end - 1], b' ' | b'\t') {
        let backslashes = s[..end - 1].bytes().rev().take_while(|&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &s[..end]
}

/// What is wrong with a user name, if anything.
pub(super) fn user_problem(user: &str) -> Option<&'static str> {
    let body = user.strip_suffix('$').unwrap_or(user);
    let mut chars = body.chars();
    if user.chars().count() > MAX_USER_CHARS {
        Some("too long")
    } else if !chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
        Some("it must start with a letter or `_`")
    } else if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        Some("it holds a character other than a letter, digit, `_`, `.` or `-`")
    } else {
        None
    }
}
