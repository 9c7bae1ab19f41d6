//! The AT-TLS policy language: files in, an immutable [`RuleTable`] (or every diagnostic) out.
//!
//! Stages, each in its own module: [`lex`] (tokens) → [`syntax`] (statements, typed values via
//! [`values`], checked against the [`catalog`]) → [`resolve`] (namespace, references, effective
//! settings) → [`table`] (sorted rules) with [`matcher`] for lookups; a file without a statement is an
//! error. [`carry`] reduces what NOFLUSH keeps for the next load. [`diag`] renders errors and
//! warnings in the D11 shape; [`render`] writes a table back as policy text; [`effective`] lists a
//! rule's effective settings with their levels and defaults, for every report; [`diff`] compares two
//! tables rule by rule (a refresh's dry run).

pub mod ast;
pub mod carry;
pub mod catalog;
pub mod ciphers;
pub mod diag;
pub mod diff;
pub mod effective;
pub mod lex;
pub mod matcher;
pub mod portability;
pub mod render;
pub mod resolve;
pub mod rustls_caps;
pub mod source;
pub mod syntax;
pub mod table;
pub mod values;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use matcher::{Connection, MapType, Primary, map_with_primary};
pub use resolve::ResolveOptions;
pub use source::{FileId, SourceMap, Span};
pub use table::{ConnDirection, PolicyStatus, Rule, RuleTable, Settings};

/// How to load a policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// `--strict` / `Strict On`: portability warnings become errors (D28).
    pub strict: bool,
    /// Warn about keyrings that a bare check cannot open (D10).
    pub warn_keyrings: bool,
    /// The first this many files are carried over from the previous generation (NOFLUSH, D9):
    /// their objects count, but their warnings were reported when they were loaded.
    pub carried: usize,
    /// The main configuration has a `CertUserMap`: `ClientAuthType SAFCheck` is applied as on z/OS
    /// (D37), not warned as Required (D28).
    pub cert_user_map: bool,
}

/// The outcome of a load: the sources (for rendering diagnostics), every diagnostic, and the table
/// when there was no error.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    pub table: Option<RuleTable>,
}

impl Loaded {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            errors: self.diagnostics.error_count(),
            warnings: self.diagnostics.warning_count(),
            ..Counts::default()
        };
        if let Some(t) = &self.table {
            c.rules = t.len();
            let mut actions = std::collections::HashSet::new();
            for r in t.rules() {
                actions.insert(("g", r.group_action.as_str()));
                if let Some(e) = &r.environment_action {
                    actions.insert(("e", e.as_str()));
                }
                if let Some(c) = &r.connection_action {
                    actions.insert(("c", c.as_str()));
                }
            }
            c.actions = actions.len();
        }
        c
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rules: usize,
    pub actions: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// Reads and loads policy files in order (one namespace, later definitions win: D4, D13). A file
/// that cannot be read is an error diagnostic like any other.
pub fn load_files(paths: &[PathBuf], opts: LoadOptions) -> Loaded {
    load_with_carry(&[], paths, opts)
}

/// As [`load_files`], with the texts of an earlier generation read first (NOFLUSH, D9): an object
/// deleted from the files stays as it was, one written again replaces it (D4, later wins).
pub fn load_with_carry(carried: &[(PathBuf, String)], paths: &[PathBuf], opts: LoadOptions) -> Loaded {
    let mut sources = SourceMap::default();
    for (path, text) in carried {
        sources.add(path.clone(), text.clone());
    }
    let opts = LoadOptions { carried: carried.len(), ..opts };
    let mut diagnostics = Diagnostics::default();
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                sources.add(path.clone(), text);
            }
            Err(e) => {
                let id = sources.add(path.clone(), String::new());
                diagnostics.push(Diagnostic::error(
                    Span::new(id, 0, 0),
                    format!("cannot read policy file: {e}"),
                    "check the path and its permissions",
                ));
            }
        }
    }
    load_checked(sources, opts, diagnostics)
}

/// Loads one policy given as text (tests, benches, `render` round trips).
pub fn load_str(name: impl AsRef<Path>, text: &str, opts: LoadOptions) -> Loaded {
    let mut sources = SourceMap::default();
    sources.add(name.as_ref(), text.to_string());
    load_sources(sources, opts)
}

/// Parses and resolves every file of `sources`.
pub fn load_sources(sources: SourceMap, opts: LoadOptions) -> Loaded {
    load_checked(sources, opts, Diagnostics::default())
}

/// [`load_sources`] after the diagnostics of reading the files (`diagnostics`).
fn load_checked(sources: SourceMap, opts: LoadOptions, mut diagnostics: Diagnostics) -> Loaded {
    let parsed: Vec<_> =
        sources.files().map(|(id, f)| (id, syntax::parse_file(id, &f.text, &mut diagnostics))).collect();
    for (id, statements) in &parsed {
        if statements.is_empty() && (id.0 as usize) >= opts.carried {
            if let Some(d) = no_statements(*id, &sources.file(*id).text, &diagnostics) {
                diagnostics.push(d);
            }
        }
    }
    let table = resolve::resolve(
        &parsed,
        &sources,
        ResolveOptions { warn_keyrings: opts.warn_keyrings, cert_user_map: opts.cert_user_map },
        &mut diagnostics,
    );
    if opts.carried > 0 {
        // Carried files were reported when they were loaded; a new definition overriding a carried
        // one is the point of NOFLUSH, not news.
        let carried = |s: &Span| (s.file.0 as usize) < opts.carried;
        diagnostics.items.retain(|d| {
            d.is_error()
                || !(carried(&d.span)
                    || (d.severity == Severity::Info && d.also.iter().any(|(s, _)| carried(s))))
        });
    }
    diagnostics.finish(opts.strict);
    let table = if diagnostics.has_errors() { None } else { table };
    Loaded { sources, diagnostics, table }
}

/// The error for a file without a statement (empty, or only comments and blanks), unless the file
/// already has an error (it could not be read, or what it holds is not a statement). A file
/// truncated or caught half-written must not install a policy without its rules: every connection
/// they covered would be relayed in clear.
fn no_statements(id: FileId, text: &str, diagnostics: &Diagnostics) -> Option<Diagnostic> {
    if diagnostics.items.iter().any(|d| d.is_error() && d.span.file == id) {
        return None;
    }
    let message = if text.chars().all(|c| c.is_whitespace() || c == '\u{feff}') {
        "the policy file is empty"
    } else {
        "the policy file has no statements, only comments and blank lines"
    };
    Some(Diagnostic::error(
        Span::new(id, 0, 0),
        message,
        "a file emptied or caught half-written is refused so that it never drops rules; save the whole \
         file (write a new one, rename it over), or remove it from the configuration",
    ))
}
