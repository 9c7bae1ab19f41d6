//! The agent-wide policy views of the control protocol besides `refresh` and `netstat`
//! (docs/control-protocol.md): `refresh_dry_run`, what a refresh would change now, installing
//! nothing; and `netstat_group`, the live connections by TTLSGroupAction of the running generation.
//! Both reply `"text"` (the report `pagent` prints) and `"report"` (JSON), as `netstat` does.

use serde_json::{Map, Value, json};

use super::Handle;
use super::proto::ok;
use crate::engine::dry_run::DryRun;
use crate::engine::generation::LoadError;
use crate::netstat::group::{group_json, group_text, groups};

/// `refresh_dry_run`: `ok:true` whether or not the files are valid; `report.valid` says which.
/// `diagnostics` is what `pagent check` would print to stderr: every warning of a valid policy, or
/// every error (and warning) of an invalid one with its summary line.
pub async fn refresh_dry_run(agent: &Handle) -> Value {
    let result = agent.reload.dry_run().await;
    let (text, diagnostics, report) = match &result {
        Ok(run) => (run.text(), run.warnings.clone(), valid_report(run)),
        Err(e) => (String::new(), e.to_string(), invalid_report(e, agent.reload.current().id)),
    };
    let mut m = Map::new();
    m.insert("text".into(), json!(text));
    m.insert("diagnostics".into(), json!(diagnostics));
    m.insert("report".into(), report);
    ok(m)
}

fn valid_report(run: &DryRun) -> Value {
    json!({
        "valid": true,
        "errors": [],
        "warnings": blocks(&run.warnings, "warning"),
        "generation": run.running,
        "added": run.diff.added,
        "removed": run.diff.removed,
        "changed": run.diff.changed,
        "remapped": run.remapped,
    })
}

fn invalid_report(e: &LoadError, running: u64) -> Value {
    let rendered = e.to_string();
    let errors = match e {
        LoadError::Invalid(_) => blocks(&rendered, "error"),
        LoadError::Internal(_) => vec![rendered.clone()],
    };
    json!({
        "valid": false,
        "errors": errors,
        "warnings": blocks(&rendered, "warning"),
        "generation": running,
        "added": [],
        "removed": [],
        "changed": [],
        "remapped": 0,
    })
}

/// The rendered diagnostics of severity `word` (`error`, `warning`), each as `pagent check` prints
/// it: a first line `FILE:LINE:COL: error: …` (or `error: …` for one without a place) and the
/// indented lines under it. Summary lines (`policy invalid: …`) are left out.
fn blocks(rendered: &str, word: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut keep = false;
    for line in rendered.lines() {
        if line.starts_with(char::is_whitespace) {
            if keep && let Some(last) = out.last_mut() {
                last.push_str(line);
                last.push('\n');
            }
            continue;
        }
        keep = line.starts_with(&format!("{word}: ")) || line.contains(&format!(": {word}: "));
        if keep {
            out.push(format!("{line}\n"));
        }
    }
    out
}

/// `netstat_group`: the groups of the running generation with every live connection counted.
pub fn netstat_group(agent: &Handle) -> Value {
    let generation = agent.reload.current();
    let conns = agent.registry.snapshot();
    let list = groups(&generation.table, generation.id, &conns);
    let mut m = Map::new();
    m.insert("text".into(), json!(group_text(&list)));
    m.insert("report".into(), group_json(generation.id, &list));
    ok(m)
}

#[cfg(test)]
mod tests {
    use super::blocks;

    #[test]
    fn rendered_diagnostics_split_into_errors_and_warnings_without_the_summary() {
        let rendered = "a.pol:3:5: error: unknown keyword `Foo`\n    3 | Foo\n      | ^^^\n   hint: did you mean …\n\
                        a.pol:9:1: warning: priority tie\n    9 | x\n\
                        error: TTLSRule r: no keyring\n\
                        policy invalid: 2 errors, 1 warning\n";
        assert_eq!(
            blocks(rendered, "error"),
            [
                "a.pol:3:5: error: unknown keyword `Foo`\n    3 | Foo\n      | ^^^\n   hint: did you mean …\n",
                "error: TTLSRule r: no keyring\n"
            ]
        );
        assert_eq!(blocks(rendered, "warning"), ["a.pol:9:1: warning: priority tie\n    9 | x\n"]);
        assert!(blocks("policy invalid: 0 errors, 0 warnings\n", "error").is_empty());
    }
}
