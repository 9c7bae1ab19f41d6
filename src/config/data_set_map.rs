//! z/OS data set names in the main configuration: `DataSetMap //'HLQ.NAME(MEMBER)' PATH` maps a
//! data set (a PDS member or a sequential data set) to a Linux file, as `KeyringMap` maps key ring
//! names, so a PAGTCONF copied from z/OS keeps its `TTLSConfig //'…'` lines. A `TTLSConfig` or
//! `CommonTTLSConfig` naming a data set is resolved once the whole file has been read, so a
//! `DataSetMap` may come before or after it.
//!
//! Names compare without case (z/OS data set names are upper case) and with their quotes:
//! `//'USER1.ATTLS(POL)'` is fully qualified, `//ATTLS(POL)` is relative to a TSO prefix attls
//! does not know, so the two are different names.

use std::path::{Path, PathBuf};

use super::keyword_args::resolve_path;
use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::lex::Token;
use crate::policy::source::Span;

/// A policy file as `TTLSConfig` or `CommonTTLSConfig` wrote it.
#[derive(Debug, Clone)]
pub(super) enum PolicyRef {
    /// A Linux path, resolved against the configuration file's directory.
    File(PathBuf),
    /// A z/OS data set name: `DataSetMap` decides the file.
    DataSet { written: String, span: Span },
}

/// One `DataSetMap` line.
#[derive(Debug, Clone)]
pub(super) struct DataSetMapping {
    /// The name as written (for messages).
    pub written: String,
    pub path: PathBuf,
    pub span: Span,
}

/// Whether `text` is written as a z/OS data set name (`//'…'` or `//…`).
pub(super) fn is_data_set_name(text: &str) -> bool {
    text.starts_with("//")
}

/// The name two spellings of one data set share: without `//`, in upper case, quotes kept.
fn key_of(written: &str) -> String {
    written.trim_start_matches('/').to_ascii_uppercase()
}

/// The policy file a `TTLSConfig`/`CommonTTLSConfig` argument names.
pub(super) fn policy_ref(token: Token<'_>, base: &Path) -> PolicyRef {
    if is_data_set_name(token.text) {
        PolicyRef::DataSet { written: token.text.to_string(), span: token.span }
    } else {
        PolicyRef::File(resolve_path(base, token.text))
    }
}

/// `DataSetMap //'HLQ.NAME(MEMBER)' PATH`: added to `map`, refusing a second mapping of one name.
pub(super) fn data_set_map(
    map: &mut Vec<DataSetMapping>,
    base: &Path,
    kw: Token<'_>,
    args: &[Token<'_>],
    diags: &mut Diagnostics,
) {
    let example = "write `DataSetMap //'USER1.TCPPARMS(ATTLS)' policies/attls.pol`";
    let [name, path, rest @ ..] = args else {
        diags.push(Diagnostic::error(kw.span, "DataSetMap needs a data set name and a path", example));
        return;
    };
    if let Some(extra) = rest.first() {
        diags.push(Diagnostic::error(
            extra.span,
            "DataSetMap takes a data set name and a path only",
            example,
        ));
        return;
    }
    if !is_data_set_name(name.text) || name.text.len() <= 2 {
        let message = format!("`{}` is not a z/OS data set name", name.text);
        diags.push(Diagnostic::error(name.span, message, "write it as z/OS does: //'HLQ.NAME(MEMBER)'"));
        return;
    }
    if is_data_set_name(path.text) {
        let message = format!("`{}` is a data set name, not a Linux path", path.text);
        diags.push(Diagnostic::error(path.span, message, "name the Linux file the member was copied to"));
        return;
    }
    let key = key_of(name.text);
    if let Some(first) = map.iter().find(|m| key_of(&m.written) == key) {
        diags.push(
            Diagnostic::error(
                name.span,
                format!("{} is mapped twice", name.text),
                "keep one DataSetMap line per data set",
            )
            .with_also(first.span, "the first DataSetMap is"),
        );
        return;
    }
    map.push(DataSetMapping {
        written: name.text.to_string(),
        path: resolve_path(base, path.text),
        span: kw.span,
    });
}

/// The file a policy reference names; an unmapped data set is an error whose hint is the line to add.
pub(super) fn resolve(r: &PolicyRef, map: &[DataSetMapping], diags: &mut Diagnostics) -> Option<PathBuf> {
    let (written, span) = match r {
        PolicyRef::File(p) => return Some(p.clone()),
        PolicyRef::DataSet { written, span } => (written, *span),
    };
    let key = key_of(written);
    if let Some(m) = map.iter().find(|m| key_of(&m.written) == key) {
        return Some(m.path.clone());
    }
    diags.push(Diagnostic::error(
        span,
        format!("`{written}` is a z/OS data set name with no DataSetMap"),
        format!(
            "copy the data set to a Linux file and add `DataSetMap {written} {}` (a path relative to this file)",
            suggested_file(&key)
        ),
    ));
    None
}

/// A file name for a data set: its member (else its last qualifier) in lower case, `.pol` added.
fn suggested_file(key: &str) -> String {
    let name = key.trim_matches('\'');
    let member = match (name.find('('), name.rfind(')')) {
        (Some(open), Some(close)) if open < close => &name[open + 1..close],
        _ => name.rsplit('.').next().unwrap_or(name),
    };
    let stem: String = member
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '#' | '@' | '$' | '-' | '_'))
        .collect();
    let stem = if stem.is_empty() { "policy".to_string() } else { stem.to_ascii_lowercase() };
    format!("{stem}.pol")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_files_come_from_the_member_or_the_last_qualifier() {
        assert_eq!(suggested_file("'USER1.TCPCS.TCPPARMS(ATTLS)'"), "attls.pol");
        assert_eq!(suggested_file("'USER1.ATTLS.POLICY'"), "policy.pol");
        assert_eq!(suggested_file("'A.B(C'"), "bc.pol");
        assert_eq!(suggested_file("''"), "policy.pol");
    }

    #[test]
    fn keys_ignore_case_and_keep_quotes() {
        assert_eq!(key_of("//'user1.tcpparms(attls)'"), key_of("//'USER1.TCPPARMS(ATTLS)'"));
        assert_ne!(key_of("//TCPPARMS(ATTLS)"), key_of("//'TCPPARMS(ATTLS)'"));
    }
}
