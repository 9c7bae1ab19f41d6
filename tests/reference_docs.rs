//! The reference documents keep up with the code: `docs/policy-reference.md` mentions every keyword
//! of the policy catalog, and `docs/decisions.md` has a `## Dn …` heading for every decision that
//! the source cites.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use attls::policy::catalog::ALL_KINDS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every keyword the catalog knows: each statement keyword, its parameters and the `…Ref` keyword
/// of each block it may hold inline.
fn catalog_keywords() -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for kind in ALL_KINDS {
        out.insert(kind.keyword());
        out.extend(kind.params().iter().map(|p| p.name));
        out.extend(kind.children().iter().map(|(_, ref_keyword)| *ref_keyword));
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `word` occurs in `text` as a whole word, case-sensitively. A `.` between word characters
/// joins them (`TLSv1.2` is one word, so it does not mention `TLSv1`), while a `.` that ends a
/// sentence does not.
fn mentions(text: &str, word: &str) -> bool {
    let b = text.as_bytes();
    text.match_indices(word).any(|(start, _)| {
        let end = start + word.len();
        let joined_before = start > 0
            && (is_word_byte(b[start - 1])
                || (b[start - 1] == b'.' && start > 1 && is_word_byte(b[start - 2])));
        let joined_after = end < b.len()
            && (is_word_byte(b[end]) || (b[end] == b'.' && b.get(end + 1).is_some_and(|&c| is_word_byte(c))));
        !joined_before && !joined_after
    })
}

#[test]
fn mentions_matches_whole_words_only() {
    assert!(mentions("the `TLSv1` switch", "TLSv1"));
    assert!(mentions("ends with TLSv1.", "TLSv1"));
    assert!(!mentions("only TLSv1.2 here", "TLSv1"));
    assert!(!mentions("TTLSGskAdvancedParmsRef", "TTLSGskAdvancedParms"));
    assert!(!mentions("trace", "Trace"));
    assert!(mentions("Port", "Port"));
}

#[test]
fn policy_reference_mentions_every_catalog_keyword() {
    let path = root().join("docs/policy-reference.md");
    let doc = read(&path);
    let keywords = catalog_keywords();
    assert!(keywords.len() > 100, "the catalog looks empty: {keywords:?}");
    let missing: Vec<&str> = keywords.iter().copied().filter(|k| !mentions(&doc, k)).collect();
    assert!(
        missing.is_empty(),
        "{} does not mention {} catalog keyword(s): {}",
        path.display(),
        missing.len(),
        missing.join(", ")
    );
}

/// Decision numbers cited in `text`: `D` and digits as a whole word (`D7`), or followed by one
/// lower-case letter (`D24a`, a part of D24).
fn cited_decisions(text: &str) -> BTreeSet<u32> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices('D') {
        if i > 0 && is_word_byte(b[i - 1]) {
            continue;
        }
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            continue;
        }
        let mut end = i + 1 + digits;
        if b.get(end).is_some_and(u8::is_ascii_lowercase) {
            end += 1;
        }
        if b.get(end).is_some_and(|&c| is_word_byte(c)) {
            continue;
        }
        if let Ok(n) = text[i + 1..i + 1 + digits].parse() {
            out.insert(n);
        }
    }
    out
}

/// The comments of a Rust source file: what follows `//` on each line (doc comments included).
fn comments(source: &str) -> String {
    source.lines().filter_map(|l| l.find("//").map(|i| &l[i + 2..])).collect::<Vec<_>>().join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The numbers of the `## Dn …` headings of decisions.md.
fn decision_headings(doc: &str) -> BTreeSet<u32> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("## D"))
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = rest[digits.len()..].chars().next();
            (!digits.is_empty() && after.is_none_or(|c| c == ' ')).then(|| digits.parse().ok()).flatten()
        })
        .collect()
}

#[test]
fn decision_headings_are_found() {
    let doc = "## D1 — One\n### D2 — not a level-2 heading\n## D24 — Parts\n## Dx\n## D3x\n";
    assert_eq!(decision_headings(doc), BTreeSet::from([1, 24]));
    assert_eq!(cited_decisions("(D4, D13) D24a D7: xD9 D10xy D11_ 0xD1"), BTreeSet::from([4, 7, 13, 24]));
}

#[test]
fn decisions_has_a_heading_for_every_decision_the_source_cites() {
    let path = root().join("docs/decisions.md");
    let headings = decision_headings(&read(&path));
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no Rust files under src/");
    let mut missing: Vec<String> = Vec::new();
    for file in &files {
        let cited = cited_decisions(&comments(&read(file)));
        for n in cited.difference(&headings) {
            let rel = file.strip_prefix(root()).unwrap_or(file);
            missing.push(format!("D{n} (cited in {})", rel.display()));
        }
    }
    assert!(missing.is_empty(), "{} has no `## Dn` heading for: {}", path.display(), missing.join(", "));
}
