//! The NOFLUSH carry (D9): what a generation keeps of the texts it was built from, for the next
//! load to read before the files. Only the latest definition of each object counts (D4: later
//! wins), so a carried text is cut down to the statements no later text defines again, and dropped
//! when none is left. The next load then sees the same namespace, and the carry grows only with
//! objects deleted from the files, never with the number of refreshes.

use std::collections::HashSet;
use std::path::PathBuf;

use super::catalog::Kind;
use super::diag::Diagnostics;
use super::source::FileId;
use super::syntax::parse_file;

/// A text with its path (where it was read from).
pub type Text = (PathBuf, String);

/// `carried` (oldest first) reduced to the definitions that neither a later carried text nor
/// `current` (the texts read from the files) define again. In a text that keeps something, each
/// statement defined again later is cut out but its line breaks stay, so what remains keeps its
/// line numbers in diagnostics. The texts must be a policy that loaded (no errors).
pub fn reduce(carried: &[Text], current: &[Text]) -> Vec<Text> {
    let mut later: HashSet<(Kind, String)> = HashSet::new();
    for (_, text) in current {
        later.extend(statements(text).into_iter().filter_map(|s| s.key));
    }
    let mut kept = Vec::new();
    for (path, text) in carried.iter().rev() {
        let stmts = statements(text);
        // Latest first, so a name defined twice in one text keeps its last definition.
        let mut live = vec![false; stmts.len()];
        for (i, s) in stmts.iter().enumerate().rev() {
            live[i] = s.key.as_ref().is_none_or(|k| !later.contains(k));
            later.extend(s.key.clone());
        }
        if live.iter().any(|&l| l) {
            kept.push((path.clone(), cut(text, &stmts, &live)));
        }
    }
    kept.reverse();
    kept
}

/// One top-level statement: its object, and its bytes up to the next statement.
struct Extent {
    key: Option<(Kind, String)>,
    start: usize,
    end: usize,
}

fn statements(text: &str) -> Vec<Extent> {
    let mut scratch = Diagnostics::default();
    let parsed = parse_file(FileId(0), text, &mut scratch);
    let starts: Vec<usize> = parsed.iter().map(|s| s.keyword_span.start as usize).collect();
    parsed
        .into_iter()
        .enumerate()
        .map(|(i, s)| Extent {
            key: s.name.map(|n| (s.kind, n.value)),
            start: starts[i],
            end: starts.get(i + 1).copied().unwrap_or(text.len()),
        })
        .collect()
}

/// `text` with the statements not `live` replaced by their line breaks.
fn cut(text: &str, stmts: &[Extent], live: &[bool]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, &keep) in stmts.iter().zip(live) {
        if keep {
            continue;
        }
        out.push_str(&text[at..s.start]);
        out.extend(text[s.start..s.end].chars().filter(|&c| c == '\n'));
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, port: u16) -> String {
        format!(
            "TTLSRule {name}\n{{\n  LocalPortRange {port}\n  Direction Inbound\n  TTLSGroupActionRef g\n}}\n"
        )
    }

    fn text(s: &str) -> Text {
        (PathBuf::from("p.pol"), s.to_string())
    }

    #[test]
    fn keeps_only_latest_definitions_and_their_line_numbers() {
        let group = "# the group\nTTLSGroupAction g\n{\n  TTLSEnabled Off\n}\n";
        let v1 = format!("{group}{}{}", rule("A", 1), rule("B", 2));
        let v2 = format!("{group}{}", rule("A", 3));
        let v3 = format!("{group}{}{}", rule("A", 4), rule("A", 5));
        let kept = reduce(&[text(&v1), text(&v2)], &[text(&v3)]);
        assert_eq!(kept.len(), 1, "{kept:?}");
        let (_, t) = &kept[0];
        assert_eq!(t.lines().count(), v1.lines().count());
        let b_line = |s: &str| s.lines().position(|l| l == "TTLSRule B");
        assert_eq!(b_line(t), b_line(&v1));
        assert!(t.starts_with("# the group\n"), "{t}");
        assert!(!t.contains("TTLSRule A") && !t.contains("TTLSGroupAction g\n"), "{t}");
        // Nothing deleted: nothing carried.
        assert!(reduce(&[text(&v2)], &[text(&v3)]).is_empty());
    }

    #[test]
    fn a_name_twice_in_one_carried_text_keeps_its_last_definition() {
        let v1 = format!("{}{}", rule("B", 1), rule("B", 2));
        let kept = reduce(&[text(&v1)], &[text(&rule("A", 3))]);
        assert_eq!(kept.len(), 1);
        assert!(!kept[0].1.contains("LocalPortRange 1\n") && kept[0].1.contains("LocalPortRange 2\n"));
    }
}
