//! Fuzz target `config`: any bytes as the main configuration (`pagent.conf`), through
//! `attls::config::load_str`, the text entry point of `config::load`.
//!
//! Asserts: no panic; a refused configuration has at least one error and renders every diagnostic
//! in the D11 shape naming the file; an accepted one keeps the promises of the configuration
//! reference: at least one policy file, every path made absolute against the configuration's
//! directory, listener names unique, each listener with a backend or transparent, helper protocols
//! on inbound listeners only, and passive port ranges low to high.

#![no_main]

use std::path::Path;

use attls::config::{Config, Protocol, load_str};
use attls::policy::table::ConnDirection;
use attls_fuzz::assert_d11;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/fuzz/etc/pagent.conf";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match load_str(Path::new(PATH), &text) {
        Ok(config) => check_config(&config),
        Err(e) => {
            assert!(e.diagnostics.has_errors(), "refused without an error");
            let rendered = e.to_string();
            assert_d11(&rendered, PATH, e.diagnostics.items.len());
        }
    }
});

fn check_config(c: &Config) {
    assert_eq!(c.path, Path::new(PATH));
    assert!(!c.policy_files.is_empty(), "accepted without a TTLSConfig");
    let mut paths: Vec<&Path> = c.policy_files.iter().map(|p| p.as_path()).collect();
    paths.extend(c.keyring_map.iter().map(|(_, p)| p.as_path()));
    paths.extend(c.dev_keyring.as_deref());
    paths.push(&c.control_socket);
    for p in paths {
        assert!(p.is_absolute(), "relative path {} not resolved", p.display());
    }
    for (i, l) in c.listeners.iter().enumerate() {
        assert!(!l.name.is_empty());
        assert!(c.listeners[..i].iter().all(|o| o.name != l.name), "two listeners named {}", l.name);
        assert!(l.has_backend() || l.transparent.is_some(), "listener {} has no backend", l.name);
        let helpers =
            l.protocol != Protocol::Raw || l.protocol_ports.iter().any(|(_, p)| *p != Protocol::Raw);
        assert!(
            !(l.direction == ConnDirection::Outbound && helpers),
            "outbound listener {} with a helper",
            l.name
        );
        if let Some((lo, hi)) = l.ftp.passive_ports {
            assert!(lo <= hi, "PassivePorts {lo}-{hi}");
        }
        assert!(!l.jobname.is_empty() && !l.userid.is_empty());
    }
}
