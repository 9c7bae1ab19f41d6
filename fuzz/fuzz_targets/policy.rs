//! Fuzz target `policy`: any bytes as a policy file (read as the loader reads one: UTF-8, invalid
//! sequences replaced).
//!
//! Asserts: no panic; every diagnostic renders in the D11 shape naming the file; a table results
//! exactly when there is no error; `--strict` fails exactly when the plain load fails or warned
//! about portability, and otherwise gives the same table; a table rendered back as policy text
//! (`attls::policy::render`) loads without error into a table whose rules do the same (the
//! round-trip property of tests/properties.rs, on the fuzzer's inputs).

#![no_main]

use std::sync::Arc;

use attls::policy::render::render;
use attls::policy::{LoadOptions, Loaded, Rule, RuleTable, Severity, load_str};
use attls_fuzz::assert_d11;
use libfuzzer_sys::fuzz_target;

const NAME: &str = "fuzz.pol";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let plain = load_str(NAME, &text, LoadOptions::default());
    check_diagnostics(&plain, NAME);
    let strict = load_str(NAME, &text, LoadOptions { strict: true, ..LoadOptions::default() });
    check_diagnostics(&strict, NAME);
    let portability =
        plain.diagnostics.items.iter().any(|d| d.portability && d.severity == Severity::Warning);
    assert_eq!(
        strict.diagnostics.has_errors(),
        plain.diagnostics.has_errors() || portability,
        "--strict turns portability warnings, and only them, into errors"
    );
    if let (Some(a), Some(b)) = (&plain.table, &strict.table) {
        assert_eq!(a.rules(), b.rules(), "--strict changed the table");
    }
    let Some(table) = plain.table else { return };
    let rendered = render(&table);
    let again = load_str("rendered.pol", &rendered, LoadOptions::default());
    let Some(again_table) = &again.table else {
        panic!(
            "the rendering of a valid policy does not load:\n{}\n{rendered}",
            again.diagnostics.render(&again.sources)
        );
    };
    assert_eq!(semantic(&table), semantic(again_table), "render then load changed the rules:\n{rendered}");
});

/// Diagnostics render, one D11 head line each, and a table comes exactly without errors.
fn check_diagnostics(loaded: &Loaded, name: &str) {
    let rendered = loaded.diagnostics.render(&loaded.sources);
    assert_d11(&rendered, name, loaded.diagnostics.items.len());
    assert_eq!(loaded.table.is_some(), !loaded.diagnostics.has_errors(), "{rendered}");
    let counts = loaded.counts();
    assert!(counts.errors + counts.warnings <= loaded.diagnostics.items.len());
    if let Some(t) = &loaded.table {
        assert_eq!(counts.rules, t.len());
        for rule in t.rules() {
            assert!(
                t.get(&rule.name).is_some_and(|r| Arc::ptr_eq(r, rule)),
                "rule {} not found by name",
                rule.name
            );
        }
    }
}

/// The rules without where their settings were written (the rendering writes every setting out,
/// so compare what the rules do, not how they were spelled).
fn semantic(table: &RuleTable) -> Vec<Rule> {
    table
        .rules()
        .iter()
        .map(|r| {
            let mut r = (**r).clone();
            let mut s = (*r.settings).clone();
            s.written = Default::default();
            s.keyring_span = None;
            r.settings = Arc::new(s);
            r
        })
        .collect()
}
