//! `pagent check FILE... [--strict] [--match DIRECTION LOCAL REMOTE [--job J] [--user U]
//! [--primary DIRECTION LOCAL REMOTE]] [--json]`; `pagent check -c CONFIG` alone checks the policy
//! files the configuration names, as the agent (and the systemd unit's ExecStartPre) would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Map, Value, json};

use super::{USAGE, load_and_report, summary};
use crate::engine::sessions::SessionPool;
use crate::policy::{ConnDirection, Connection, LoadOptions, MapType, Primary, RuleTable, map_with_primary};
use crate::search::{rule_json, settings_text};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files, loaded in order into one namespace (none with -c: the configuration's own,
    /// CommonTTLSConfig then each TTLSConfig).
    #[arg(required_unless_present = "config", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Portability warnings (z/OS-only, not applied, rustls limits, duplicates, quirks) become errors.
    #[arg(long)]
    strict: bool,
    /// Also check what the agent with this main configuration would: open every keyring an enabled
    /// rule uses (KeyringMap names, Strict On), check certificate expiry, and reject a Client-role
    /// rule an inbound FTP or TN3270 listener can meet.
    #[arg(short = 'c', long = "config", value_name = "CONFIG")]
    config: Option<PathBuf>,
    /// Show the rule a connection maps to: inbound|outbound LOCAL REMOTE (e.g. 10.1.1.2:21 [2001:db8::9]:40000).
    #[arg(long = "match", num_args = 3, value_names = ["DIRECTION", "LOCAL", "REMOTE"])]
    match_: Option<Vec<String>>,
    /// Job name of the connection (without it, only rules with no Jobname or `*` match).
    #[arg(long, value_name = "NAME", requires = "match_")]
    job: Option<String>,
    /// User ID of the connection (without it, only rules with no Userid or `*` match).
    #[arg(long, value_name = "NAME", requires = "match_")]
    user: Option<String>,
    /// An open primary connection of the same listener and job (SecondaryMap test).
    #[arg(long, num_args = 3, value_names = ["DIRECTION", "LOCAL", "REMOTE"], requires = "match_")]
    primary: Option<Vec<String>>,
    /// Print the --match result as one JSON object.
    #[arg(long, requires = "match_")]
    json: bool,
}

struct Probe {
    direction: ConnDirection,
    local: SocketAddr,
    remote: SocketAddr,
}

fn probe(v: &[String]) -> Result<Probe, String> {
    let direction = match v[0].to_ascii_lowercase().as_str() {
        "inbound" => ConnDirection::Inbound,
        "outbound" => ConnDirection::Outbound,
        other => return Err(format!("direction `{other}` must be inbound or outbound")),
    };
    let addr =
        |s: &str| s.parse::<SocketAddr>().map_err(|_| format!("`{s}` is not IP:PORT (IPv6 as [addr]:port)"));
    Ok(Probe { direction, local: addr(&v[1])?, remote: addr(&v[2])? })
}

pub fn run(a: CheckArgs) -> ExitCode {
    let probes = a
        .match_
        .as_deref()
        .map(probe)
        .transpose()
        .and_then(|m| Ok((m, a.primary.as_deref().map(probe).transpose()?)));
    let (probe, primary) = match probes {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let config = match a.config.as_deref().map(crate::config::load_with_warnings).transpose() {
        Ok(c) => c.map(|(config, warnings)| {
            eprint!("{}", warnings.concat());
            config
        }),
        Err(e) => {
            eprint!("{e}");
            eprintln!("configuration invalid");
            return ExitCode::from(1);
        }
    };
    let strict = a.strict || config.as_ref().is_some_and(|c| c.strict);
    let files = match &config {
        Some(c) if a.files.is_empty() => &c.policy_files,
        _ => &a.files,
    };
    let loaded = load_and_report(
        files,
        LoadOptions {
            strict,
            warn_keyrings: config.is_none(),
            cert_user_map: config.as_ref().is_some_and(|c| c.cert_user_map.is_some()),
            ..LoadOptions::default()
        },
    );
    eprintln!("{}", summary(&loaded));
    let Some(table) = &loaded.table else { return ExitCode::from(1) };
    if let Some(config) = &config {
        let conflicts = super::check_listeners::role_conflicts(table, config);
        for c in &conflicts {
            eprintln!("{c}");
        }
        let keyrings_ok = keyrings_open(table, config, &loaded.sources);
        let certificates_ok = crate::expiry::report::check(table, config, &loaded.sources);
        let map_ok = cert_user_map_usable(config);
        if !keyrings_ok || !certificates_ok || !map_ok || !conflicts.is_empty() {
            return ExitCode::from(1);
        }
    }
    if let Some(p) = probe {
        let out = match_report(table, &p, primary.as_ref(), a.job.as_deref(), a.user.as_deref(), a.json);
        say_raw!("{out}");
    }
    ExitCode::SUCCESS
}

/// D10: with a main configuration every keyring an enabled rule uses must open (the development
/// keyring excepted while it does not exist yet: the agent generates it at start). Warns where client
/// authentication trusts a CA that also issued the server's chain (`engine::client_trust`).
fn keyrings_open(
    table: &RuleTable,
    config: &crate::config::Config,
    sources: &crate::policy::SourceMap,
) -> bool {
    use crate::engine::client_trust;
    use crate::engine::tls::{Keyrings, build};
    let mut keyrings = Keyrings::new(&config.keyring_map, None);
    let mut ok = true;
    let mut seen = std::collections::HashSet::new();
    let mut reported = std::collections::HashSet::new();
    for rule in table.rules() {
        let s = &rule.settings;
        if !s.ttls_enabled || !seen.insert(std::sync::Arc::as_ptr(s) as usize) {
            continue;
        }
        if let (Some(ring), Some(dev)) = (&s.keyring, &config.dev_keyring)
            && keyrings.resolve(ring, s.keyring_dir.as_deref()).is_ok_and(|p| &p == dev && !p.exists())
        {
            eprintln!(
                "note: TTLSRule {}: the development keyring {} is generated when the agent starts",
                rule.name,
                dev.display()
            );
            continue;
        }
        if let Err(e) = build(s, &mut keyrings, &mut SessionPool::default()) {
            let d = crate::engine::tls::keyring_diagnostic(&rule.name, s, &e, sources);
            if reported.insert(d.clone()) {
                eprint!("{d}");
            }
            ok = false;
            continue;
        }
        let cas = client_trust::server_issuers_trusted_for_clients(s, &mut keyrings);
        if !cas.is_empty() {
            let w = client_trust::overlap_warning(&rule.name, s, &cas, sources);
            if reported.insert(w.clone()) {
                eprint!("{w}");
            }
        }
    }
    if ok {
        eprintln!("keyrings: every keyring of an enabled rule opens");
    } else {
        eprintln!("policy not usable with {}: a keyring cannot be opened", config.path.display());
    }
    ticket_keys_usable(table, config) && ok
}

/// The main configuration's `TicketKeyFile` must be usable (the agent would not start without
/// it); `GSK_SYSPLEX_SIDCACHE On` without one shares nothing.
fn ticket_keys_usable(table: &RuleTable, config: &crate::config::Config) -> bool {
    use crate::engine::sessions;
    if let Some(w) = sessions::sysplex_warning(table, config.ticket_key_file.as_deref()) {
        eprint!("{w}");
    }
    let Some(path) = &config.ticket_key_file else { return true };
    match sessions::key_file::read(path) {
        Ok(keys) => {
            eprintln!("ticket keys: {} key(s) in {}", keys.len(), path.display());
            true
        }
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// The main configuration's `CertUserMap` must be usable (the agent would not start without it):
/// its errors (or warnings) in the D11 shape, else how many lines it has.
fn cert_user_map_usable(config: &crate::config::Config) -> bool {
    let Some(path) = &config.cert_user_map else { return true };
    match crate::certmap::CertUserMap::load(path) {
        Ok((map, warnings)) => {
            eprint!("{warnings}");
            eprintln!("CertUserMap: {} line(s) in {}", map.len(), path.display());
            true
        }
        Err(e) => {
            eprint!("{e}");
            false
        }
    }
}

fn match_report(
    table: &RuleTable,
    p: &Probe,
    primary: Option<&Probe>,
    job: Option<&str>,
    user: Option<&str>,
    json: bool,
) -> String {
    let conn = |p: &Probe| Connection {
        direction: p.direction,
        local: p.local,
        remote: p.remote,
        jobname: job,
        userid: user,
    };
    let own = table.lookup(&conn(p));
    let primary_rule = primary.and_then(|pp| {
        table.lookup(&conn(pp)).map(|rule| Primary {
            rule,
            local_ip: pp.local.ip(),
            remote_ip: pp.remote.ip(),
        })
    });
    let (rule, map) = map_with_primary(own.map(|r| &**r), primary_rule, p.local.ip(), p.remote.ip());
    let status = rule.map_or("NO_POLICY", |r| r.settings.status().word());
    let maptype = map.map_or("none", MapType::word);
    if json {
        let settings = rule.map_or(Value::Null, |r| {
            let mut m: Map<String, Value> = match rule_json(r) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            m.remove("name");
            Value::Object(m)
        });
        let v = json!({ "rule": rule.map(|r| r.name.as_str()), "status": status, "maptype": maptype, "settings": settings });
        return format!("{}\n", serde_json::to_string_pretty(&v).expect("JSON of plain values"));
    }
    let mut out =
        format!("rule: {}\nstatus: {status}\nmaptype: {maptype}\n", rule.map_or("none", |r| r.name.as_str()));
    if let Some(r) = rule {
        if map == Some(MapType::Secondary) {
            out.push_str("secondary_of: the --primary connection\n");
        }
        out.push_str("settings:\n");
        settings_text(&mut out, &r.settings, "  ");
    }
    out
}
