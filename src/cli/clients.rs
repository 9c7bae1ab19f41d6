//! `pagent clients`: the running agent's client inventory (docs/clients.md) through the control
//! socket's `clients` op: per rule, the ClientHello profiles its server-role handshakes saw. With
//! `--against FILE`, each profile is judged against the candidate policy's rule of the same name
//! ([`super::clients_against`]). Exit 0 when every profile would pass (or nothing was judged), 3
//! when some would fail, 1 on errors (2 stays the usage error of every pagent command).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::agent_cmds::{AgentAddress, call_ok};
use super::clients_against::Candidate;
use crate::control::proto::Request;
use crate::inventory::report::{self, Report};
use crate::inventory::verdict::judge;

/// Exit status when some client would fail the candidate.
pub const SOME_WOULD_FAIL: u8 = 3;

#[derive(Debug, Args)]
pub struct ClientsArgs {
    #[command(flatten)]
    at: AgentAddress,
    /// Only the profiles of this rule.
    #[arg(long, value_name = "NAME")]
    rule: Option<String>,
    /// A candidate policy file (same syntax as the configured ones; keyrings resolved with -c's
    /// KeyringMap): say for each profile whether that client would pass the candidate's rule of the
    /// same name, and why not. Exit 3 when some would fail.
    #[arg(long, value_name = "FILE")]
    against: Option<PathBuf>,
    /// JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: ClientsArgs) -> ExitCode {
    let mut req = Request::new("clients");
    req.rule = a.rule.clone();
    let reply = match call_ok(&a.at, req) {
        Ok(reply) => reply,
        Err(code) => return code,
    };
    let mut report = match Report::from_json(&reply["report"]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the agent's clients report cannot be read: {e}");
            return ExitCode::from(1);
        }
    };
    let failing = match &a.against {
        None => 0,
        Some(file) => {
            let config = match a.at.config_path().map(crate::config::load).transpose() {
                Ok(c) => c,
                Err(e) => {
                    eprint!("{e}");
                    return ExitCode::from(1);
                }
            };
            let Some(mut candidate) = Candidate::load(file, config.as_ref()) else {
                return ExitCode::from(1);
            };
            judge_all(&mut report, &mut candidate)
        }
    };
    if a.json {
        let mut v = report.to_json();
        if let Some(file) = &a.against {
            v["against"] = json!(file.display().to_string());
            v["failing"] = json!(failing);
        }
        say!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        say_raw!("{}", report::text(&report));
        if let Some(file) = &a.against {
            let judged: usize = report.rules.iter().map(|r| r.profiles.len()).sum();
            say!("against {}: {failing} of {judged} profiles would fail", file.display());
        }
    }
    if failing > 0 { ExitCode::from(SOME_WOULD_FAIL) } else { ExitCode::SUCCESS }
}

/// Sets every profile's verdict; returns how many would fail.
fn judge_all(report: &mut Report, candidate: &mut Candidate) -> usize {
    let mut failing = 0;
    for rule in &mut report.rules {
        let offer = candidate.offer(&rule.rule);
        for p in &mut rule.profiles {
            let reasons = match &offer {
                Ok(offer) => judge(offer, &p.profile),
                Err(no_rule) => vec![no_rule.clone()],
            };
            failing += usize::from(!reasons.is_empty());
            p.verdict = Some(reasons);
        }
    }
    failing
}
