//! `pagent search FILE... [--rule NAME] [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{load_and_report, summary};
use crate::policy::LoadOptions;
use crate::search::{rule_text, search_json};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Policy files, loaded in order into one namespace.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Show only this rule.
    #[arg(long, value_name = "NAME")]
    rule: Option<String>,
    /// Print {"rules": [...]} as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: SearchArgs) -> ExitCode {
    let loaded = load_and_report(&a.files, LoadOptions::default());
    let Some(table) = &loaded.table else {
        eprintln!("{}", summary(&loaded));
        return ExitCode::from(1);
    };
    let rules: Vec<_> =
        table.rules().iter().filter(|r| a.rule.as_ref().is_none_or(|n| &r.name == n)).collect();
    if let Some(n) = &a.rule
        && rules.is_empty()
    {
        eprintln!("no TTLSRule named {n}");
        return ExitCode::from(1);
    }
    if a.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&search_json(rules.into_iter().map(|r| &**r)))
                .expect("JSON of plain values")
        );
    } else {
        let mut out = String::new();
        for r in rules {
            rule_text(&mut out, r);
            out.push('\n');
        }
        say_raw!("{out}");
    }
    eprintln!("{}", summary(&loaded));
    ExitCode::SUCCESS
}
