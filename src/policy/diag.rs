//! Diagnostics: errors and warnings with a source span, rendered in the D11 shape
//! (`FILE:LINE:COL: error|warning: message`, the source line, a caret, a hint).
//!
//! Portability warnings (statuses L, Z, P, W of docs/policy-reference.md#status-legend, in-file
//! duplicates of D4 and the quirks of D31) are marked so that `--strict` can turn them into errors,
//! and are grouped per keyword and file.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::source::{SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// Worth knowing, not a problem (e.g. a later file overriding an object, D4).
    Info,
}

/// One finding about the policy text.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    pub hint: String,
    /// A difference from what the file asks for on z/OS: `--strict` makes it an error.
    pub portability: bool,
    /// Warnings with the same key in one file are reported once, with a count.
    pub group: Option<String>,
    /// Extra places worth showing (e.g. the earlier definition of a duplicate).
    pub also: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            hint: hint.into(),
            portability: false,
            group: None,
            also: Vec::new(),
        }
    }
    pub fn warning(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(span, message, hint) }
    }
    pub fn info(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Info, ..Diagnostic::error(span, message, hint) }
    }
    /// A portability warning (error under `--strict`).
    pub fn portability(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic { portability: true, ..Diagnostic::warning(span, message, hint) }
    }
    pub fn grouped(mut self, key: impl Into<String>) -> Self {
        self.group = Some(key.into());
        self
    }
    pub fn with_also(mut self, span: Span, label: impl Into<String>) -> Self {
        self.also.push((span, label.into()));
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All findings of one load, in the order they were found.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }
    pub fn warning_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Warning).count()
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Sorts by file and position, merges grouped warnings, and applies `--strict`.
    pub fn finish(&mut self, strict: bool) {
        if strict {
            for d in &mut self.items {
                if d.portability && d.severity == Severity::Warning {
                    d.severity = Severity::Error;
                    d.hint = if d.hint.is_empty() {
                        "--strict makes portability warnings errors".into()
                    } else {
                        format!("{} (--strict makes portability warnings errors)", d.hint)
                    };
                }
            }
        }
        self.items.sort_by_key(|d| (d.span.file, d.span.start));
        let mut first: HashMap<(u32, String), usize> = HashMap::new();
        let mut counts: Vec<usize> = vec![0; self.items.len()];
        let mut keep = vec![true; self.items.len()];
        for (i, d) in self.items.iter().enumerate() {
            if let (Some(key), Severity::Warning) = (&d.group, d.severity) {
                match first.get(&(d.span.file.0, key.clone())) {
                    Some(&j) => {
                        counts[j] += 1;
                        keep[i] = false;
                    }
                    None => {
                        first.insert((d.span.file.0, key.clone()), i);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(self.items.len());
        for (i, mut d) in std::mem::take(&mut self.items).into_iter().enumerate() {
            if !keep[i] {
                continue;
            }
            if counts[i] > 0 {
                let n = counts[i];
                let _ = write!(d.message, " (and {n} more in this file)");
            }
            out.push(d);
        }
        self.items = out;
    }

    /// Every diagnostic in the D11 shape, then nothing else (the caller prints counts).
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        for d in &self.items {
            render_one(&mut out, d, sources);
        }
        out
    }
}

fn render_one(out: &mut String, d: &Diagnostic, sources: &SourceMap) {
    let file = sources.file(d.span.file);
    let (line, col) = file.line_col(d.span.start as usize);
    let word = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let _ = writeln!(out, "{}:{line}:{col}: {word}: {}", file.path.display(), d.message);
    render_excerpt(out, sources, d.span);
    for (span, label) in &d.also {
        let f = sources.file(span.file);
        let (l, c) = f.line_col(span.start as usize);
        let _ = writeln!(out, "   note: {label} at {}:{l}:{c}", f.path.display());
    }
    if !d.hint.is_empty() {
        let _ = writeln!(out, "   hint: {}", d.hint);
    }
}

fn render_excerpt(out: &mut String, sources: &SourceMap, span: Span) {
    let file = sources.file(span.file);
    let (line, col) = file.line_col(span.start as usize);
    let text: String = file.line_text(line).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let line_len = text.chars().count();
    let span_chars = file.slice(span).chars().take_while(|&c| c != '\n' && c != '\r').count();
    let width = span_chars.clamp(1, (line_len + 1).saturating_sub(col).max(1));
    let gutter = line.to_string().len().max(4) + 1;
    let _ = writeln!(out, "{line:>gutter$} | {}", text.trim_end());
    let _ = writeln!(out, "{:>gutter$} | {}{}", "", " ".repeat(col - 1), "^".repeat(width));
}

/// The closest candidate to `word` (ASCII case-insensitive edit distance), if it is close enough to
/// be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    // Ties go to a candidate that only adds characters (a letter or dot left out is the usual typo:
    // `TLSv13` means TLSv1.3, not TLSv1).
    let mut best: Option<(usize, bool, &str)> = None;
    for c in candidates {
        let lc = c.to_ascii_lowercase();
        let d = edit_distance(&w, &lc);
        let adds_only = is_subsequence(&w, &lc);
        if best.is_none_or(|(bd, ba, _)| d < bd || (d == bd && adds_only && !ba)) {
            best = Some((d, adds_only, c));
        }
    }
    let best = best.map(|(d, _, c)| (d, c));
    let limit = (w.chars().count() / 3).max(2);
    best.filter(|&(d, _)| d <= limit).map(|(_, c)| c)
}

fn is_subsequence(short: &str, long: &str) -> bool {
    let mut it = long.chars();
    short.chars().all(|c| it.any(|l| l == c))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_d11_shape() {
        let mut sources = SourceMap::default();
        let text = "TTLSRule r\n{\n  LocalPortRange      70000\n}\n".to_string();
        let id = sources.add("policies/ftp.pol", text.clone());
        let start = text.find("70000").unwrap();
        let mut diags = Diagnostics::default();
        diags.push(Diagnostic::error(
            Span::new(id, start, start + 5),
            "port 70000 is out of range 0-65535",
            "write one port (0-65535) or a range n-m",
        ));
        diags.finish(false);
        let out = diags.render(&sources);
        assert_eq!(
            out,
            "policies/ftp.pol:3:23: error: port 70000 is out of range 0-65535\n\
             \x20   3 |   LocalPortRange      70000\n\
             \x20     |                       ^^^^^\n\
             \x20  hint: write one port (0-65535) or a range n-m\n"
        );
    }

    #[test]
    fn groups_warnings_per_key_and_file_and_strict_upgrades_portability() {
        let mut sources = SourceMap::default();
        let id = sources.add("a.pol", "x\ny\nz\n".into());
        let mut diags = Diagnostics::default();
        for at in [0, 2, 4] {
            diags.push(Diagnostic::portability(Span::new(id, at, at + 1), "SSLv3 On", "").grouped("SSLv3"));
        }
        diags.push(Diagnostic::warning(Span::new(id, 2, 3), "plain", ""));
        let mut strict = diags.clone();
        diags.finish(false);
        assert_eq!(diags.items.len(), 2);
        assert_eq!(diags.items[0].message, "SSLv3 On (and 2 more in this file)");
        assert!(!diags.has_errors());
        strict.finish(true);
        assert_eq!(strict.error_count(), 3);
        assert_eq!(strict.warning_count(), 1);
    }

    #[test]
    fn nearest_finds_typos_only() {
        let names = ["TTLSRule", "TTLSGroupAction", "IpAddr"];
        assert_eq!(nearest("TLSRule", names), Some("TTLSRule"));
        assert_eq!(nearest("ttlsgroupaktion", names), Some("TTLSGroupAction"));
        assert_eq!(nearest("Completely", names), None);
        assert_eq!(nearest("TLSv13", ["TLSv1", "TLSv1.3"]), Some("TLSv1.3"));
    }
}
