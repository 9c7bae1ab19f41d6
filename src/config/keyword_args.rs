//! Readers for the arguments of a main-configuration keyword: one value, a path (relative to the
//! configuration file), a number in range. Each reports its own diagnostic.

use std::path::{Path, PathBuf};

use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::lex::Token;

pub(super) fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

pub(super) fn one_arg<'a>(kw: Token<'a>, args: &[Token<'a>], diags: &mut Diagnostics) -> Option<Token<'a>> {
    match args.first() {
        Some(t) => Some(*t),
        None => {
            diags.push(Diagnostic::error(
                kw.span,
                format!("{} needs a value", kw.text),
                format!("write `{} VALUE`", kw.text),
            ));
            None
        }
    }
}

pub(super) fn path_arg(
    kw: Token<'_>,
    args: &[Token<'_>],
    base: &Path,
    diags: &mut Diagnostics,
) -> Option<PathBuf> {
    let t = one_arg(kw, args, diags)?;
    if t.text.starts_with("//") {
        diags.push(Diagnostic::error(
            t.span,
            format!("`{}` is a z/OS data set name", t.text),
            "copy the member to a Linux file and name its path",
        ));
        return None;
    }
    Some(resolve_path(base, t.text))
}

pub(super) fn number(
    kw: Token<'_>,
    args: &[Token<'_>],
    min: u64,
    max: u64,
    diags: &mut Diagnostics,
) -> Option<u64> {
    let t = one_arg(kw, args, diags)?;
    match t.text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            diags.push(Diagnostic::error(
                t.span,
                format!("{} needs a number from {min} to {max}, not `{}`", kw.text, t.text),
                format!("write `{} N`", kw.text),
            ));
            None
        }
    }
}
