//! The log message IDs keep up with the code and the documentation: `docs/messages.md` lists every
//! ID of the table in `src/messages.rs` and no other; every ID of the table is logged somewhere;
//! every `info!`, `warn!` and `error!` line under `src/` names its ID (`msgid = …`), and the ID's
//! severity letter matches the level it is logged at.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use attls::messages::ALL;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's code: comment lines and test modules (from `#[cfg(test)]` on) left out.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The IDs (`ATL` + four digits + I, W or E) written in `text`.
fn ids_in(text: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    text.match_indices("ATL")
        .filter_map(|(i, _)| {
            let id = text.get(i..i + 8)?;
            let ok = id[3..7].bytes().all(|c| c.is_ascii_digit()) && matches!(b[i + 7], b'I' | b'W' | b'E');
            let alone = b.get(i + 8).is_none_or(|c| !c.is_ascii_alphanumeric());
            (ok && alone).then(|| id.to_string())
        })
        .collect()
}

/// The arguments of the macro call whose `(` is at `open`: up to the matching `)`, outside string
/// and character literals.
fn call_args(code: &str, open: usize) -> &str {
    let b = code.as_bytes();
    let (mut depth, mut i, mut in_str) = (0usize, open, false);
    while i < b.len() {
        match (b[i], in_str) {
            (b'\\', true) => i += 1,
            (b'"', _) => in_str = !in_str,
            (b'\'', false) if b.get(i + 2) == Some(&b'\'') => i += 2,
            (b'(', false) => depth += 1,
            (b')', false) => {
                depth -= 1;
                if depth == 0 {
                    return &code[open + 1..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    &code[open + 1..]
}

/// Every `info!`/`warn!`/`error!` call in `src/`: (file, macro, arguments).
fn log_calls() -> Vec<(String, &'static str, String)> {
    let mut files = Vec::new();
    sources(&crate::support::root().join("src"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let code = code(&f);
        for level in ["info", "warn", "error"] {
            let needle = format!("{level}!(");
            for (at, _) in code.match_indices(&needle) {
                let before = code[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let args = call_args(&code, at + needle.len() - 1).to_string();
                out.push((f.display().to_string(), level, args));
            }
        }
    }
    out
}

/// The constant a call names after `msgid = ` (`msg::OPEN` → `OPEN`).
fn msgid_const(args: &str) -> Option<&str> {
    let rest = &args[args.find("msgid = ")? + "msgid = ".len()..];
    let path = rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).next()?;
    path.rsplit("::").next()
}

#[test]
fn the_messages_doc_lists_every_id_of_the_table_and_no_other() {
    let doc_path = crate::support::root().join("docs/messages.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/messages.md");
    let documented = ids_in(&doc);
    let table: BTreeSet<String> = ALL.iter().map(|(_, id)| id.to_string()).collect();
    assert!(table.len() > 50, "the table looks empty: {table:?}");
    let missing: Vec<_> = table.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&table).collect();
    assert!(missing.is_empty(), "{} does not list {missing:?}", doc_path.display());
    assert!(unknown.is_empty(), "{} lists IDs the code does not have: {unknown:?}", doc_path.display());
    // Each ID has its own row, with the ID in the first column.
    for id in &table {
        assert!(doc.contains(&format!("\n| {id} |")), "docs/messages.md has no row for {id}");
    }
}

#[test]
fn every_log_line_names_an_id_of_its_level_and_every_id_is_logged() {
    let calls = log_calls();
    assert!(calls.len() > 60, "found only {} log calls", calls.len());
    let mut used = BTreeSet::new();
    let mut bad = Vec::new();
    for (file, level, args) in &calls {
        let Some(name) = msgid_const(args) else {
            bad.push(format!("{file}: {level}!({}) has no msgid", args.trim()));
            continue;
        };
        let Some((_, id)) = ALL.iter().find(|(n, _)| *n == name) else {
            bad.push(format!("{file}: {level}! names {name}, not in src/messages.rs"));
            continue;
        };
        let want = match *level {
            "info" => 'I',
            "warn" => 'W',
            _ => 'E',
        };
        if !id.ends_with(want) {
            bad.push(format!("{file}: {level}! logs {id} ({name}), whose letter is not {want}"));
        }
        used.insert(name);
    }
    assert!(bad.is_empty(), "log lines without a fitting ID:\n{}", bad.join("\n"));
    // The count of dropped syslog lines is sent by the syslog layer itself, not through a macro.
    let unused: Vec<_> =
        ALL.iter().map(|(n, _)| *n).filter(|n| !used.contains(n) && *n != "SYSLOG_DROPPED").collect();
    assert!(unused.is_empty(), "IDs in src/messages.rs that nothing logs: {unused:?}");
}

#[test]
fn the_scanner_finds_calls_and_ids() {
    let code = "warn!(msgid = msg::OPEN, \"a (b) \\\" c\", x = ')'); info!(\"no id\")";
    assert_eq!(call_args(code, 5), "msgid = msg::OPEN, \"a (b) \\\" c\", x = ')'");
    assert_eq!(msgid_const(call_args(code, 5)), Some("OPEN"));
    assert_eq!(msgid_const("\"no id\""), None);
    assert_eq!(
        ids_in("ATL1281I, ATL12811 ATL0001Ix `ATL0002W`"),
        BTreeSet::from(["ATL1281I".into(), "ATL0002W".into()])
    );
}
