//! `pagent setup-intercept [-c CONFIG] [--local] [--routing]`: prints the nftables rules (for
//! `nft -f -`) that send intercepted connections to the configuration's transparent listeners, with
//! the ports of the policy it names (`--local`: Inbound listeners also take clients on this host);
//! with `--routing`, the policy routing Tproxy needs, as a shell script.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::start::DEFAULT_CONFIG;
use super::{load_and_report, summary};
use crate::intercept::{ScriptOptions, fingerprint, nft_script_with};
use crate::policy::LoadOptions;

#[derive(Debug, Args)]
pub struct InterceptArgs {
    /// The main configuration (its transparent listeners and policy files).
    #[arg(short = 'c', long = "config", value_name = "CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Print the policy routing commands Tproxy needs (a shell script) instead of the nft rules.
    #[arg(long)]
    routing: bool,
    /// Also intercept connections that clients on this host open to a local port of an Inbound
    /// listener (nft `output` hook; the agent's own connections are skipped by their mark).
    #[arg(long)]
    local: bool,
}

pub fn run(a: InterceptArgs) -> ExitCode {
    // Absolute, so the script's header names files that can be found from anywhere.
    let path = std::fs::canonicalize(&a.config).unwrap_or(a.config);
    let config = match crate::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            eprintln!("configuration invalid");
            return ExitCode::from(1);
        }
    };
    let loaded = load_and_report(
        &config.policy_files,
        LoadOptions {
            strict: config.strict,
            cert_user_map: config.cert_user_map.is_some(),
            ..LoadOptions::default()
        },
    );
    eprintln!("{}", summary(&loaded));
    let Some(table) = &loaded.table else { return ExitCode::from(1) };
    let print = fingerprint(loaded.sources.files().map(|(_, f)| f.text.as_str()));
    match nft_script_with(&config, table, print, ScriptOptions { local: a.local }) {
        Ok(script) if a.routing => {
            if script.routing.is_empty() {
                say!("# no Tproxy listener in {}: no policy routing needed", config.path.display());
            } else {
                say_raw!("{}", script.routing);
            }
            ExitCode::SUCCESS
        }
        Ok(script) => {
            say_raw!("{}", script.nft);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
