//! Who may import whom, read from the sources' `use` paths (`crate::`, `super::`): the engine imports
//! neither the agent, the protocol helpers, the CLI nor the metrics; the protocol helpers use only
//! what the engine re-exports at its root; the registry imports no engine; the policy core nothing
//! outside itself; and no import circle among `src/` files is longer than two files (a module and
//! its parent). The picture is in `docs/design.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, by module path (`engine::pipeline`; `engine` for its `mod.rs`).
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = crate::support::root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src").with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
            parts.pop();
        }
        let text = std::fs::read_to_string(&f).expect("source readable");
        out.insert(parts.join("::"), text);
    }
    out
}

/// The module paths a file's `use` items name (`crate::a::b`, `super::c`), made absolute.
fn imports(module: &str, text: &str) -> BTreeSet<Vec<String>> {
    let here: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
    let mut found = BTreeSet::new();
    // Test modules come last in a file; their `use super::…` names the file itself, not its parent.
    let code = text.lines().map(str::trim_start).take_while(|l| !l.starts_with("#[cfg(test)]"));
    for line in code {
        let Some(rest) = line.strip_prefix("use ").or_else(|| line.strip_prefix("pub use ")) else {
            continue;
        };
        let rest = rest.split(['{', ';', ' ']).next().unwrap_or_default();
        let mut segments = rest.split("::").filter(|s| !s.is_empty());
        let mut path: Vec<String> = match segments.next() {
            Some("crate") => Vec::new(),
            // The parent module (of `a::b`, in `a/b.rs` or `a/b/mod.rs`: `a`).
            Some("super") => here[..here.len().saturating_sub(1)].to_vec(),
            Some("self") => here.clone(),
            _ => continue,
        };
        for s in segments {
            if s == "super" {
                path.pop();
            } else if s.starts_with(|c: char| c.is_ascii_lowercase()) {
                path.push(s.to_string());
            } else {
                break;
            }
        }
        found.insert(path);
    }
    found
}

/// The longest prefix of `path` that is a module with a file.
fn resolve(path: &[String], mods: &BTreeMap<String, String>) -> Option<String> {
    (0..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| mods.contains_key(m))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let mut g = BTreeMap::new();
    for (m, text) in &mods {
        let deps: BTreeSet<String> = imports(m, text)
            .iter()
            .filter_map(|p| resolve(p, &mods))
            .filter(|d| d != m && !d.is_empty())
            .collect();
        g.insert(m.clone(), deps);
    }
    g
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or_default()
}

#[test]
fn layers_import_only_downwards() {
    let g = graph();
    let mut bad = Vec::new();
    for (m, deps) in &g {
        for d in deps {
            let forbidden = match top(m) {
                "engine" => matches!(top(d), "agent" | "ftp" | "tn3270" | "cli" | "metrics"),
                "registry" => top(d) == "engine",
                // The helpers use the engine's re-exported API only, none of its insides.
                "ftp" | "tn3270" => d.starts_with("engine::"),
                "policy" => top(d) != "policy",
                _ => false,
            };
            if forbidden {
                bad.push(format!("{m} imports {d}"));
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

/// Tarjan's strongly connected components.
fn components(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            s.out.push(comp);
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_import_circle_is_longer_than_two_files() {
    let g = graph();
    let long: Vec<String> =
        components(&g).into_iter().filter(|c| c.len() > 2).map(|c| c.join(" -> ")).collect();
    assert!(long.is_empty(), "import circles of more than two files:\n{}", long.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    // A guard against a checker that reads nothing and so always passes.
    let g = graph();
    let pipeline = g.get("engine::pipeline").expect("engine::pipeline exists");
    assert!(pipeline.contains("engine::mapping") && pipeline.contains("policy"), "{pipeline:?}");
    assert!(g.get("ftp::transfer").is_some_and(|d| d.contains("ftp::data")), "{:?}", g.get("ftp::transfer"));
}
