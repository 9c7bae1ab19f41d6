use crate::policy::table::{ClientAuthType, Role, Settings};
use crate::policy::{LoadOptions, Loaded, load_str};

fn load(text: &str) -> Loaded {
    load_str("r.pol", text, LoadOptions::default())
}

fn settings(text: &str, rule: &str) -> Settings {
    let l = load(text);
    let t = l.table.unwrap_or_else(|| panic!("{}", l.diagnostics.render(&l.sources)));
    (*t.get(rule).expect("rule").settings).clone()
}

fn errors(text: &str) -> String {
    let l = load(text);
    assert!(l.table.is_none(), "should fail");
    l.diagnostics.render(&l.sources)
}

const RULE: &str = "TTLSRule r\n{\n  LocalPortRange 443\n  Direction Inbound\n  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n  TTLSConnectionActionRef c\n}\n";
const GROUP: &str = "TTLSGroupAction g\n{\n  TTLSEnabled On\n  Trace 4\n}\n";

fn env(body: &str) -> String {
    format!(
        "TTLSEnvironmentAction e\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring /k\n  }}\n{body}}}\n"
    )
}
fn conn(body: &str) -> String {
    format!("TTLSConnectionAction c\n{{\n{body}}}\n")
}

#[test]
fn defaults_are_attls_defaults() {
    let s = settings(&format!("{RULE}{GROUP}{}{}", env(""), conn("")), "r");
    assert!(s.ttls_enabled);
    assert_eq!(s.trace, 4);
    assert_eq!(s.handshake_role, Some(Role::Server));
    assert_eq!(s.client_auth_type, ClientAuthType::Required);
    assert_eq!(s.protocols.names(), vec!["TLSv1.2", "TLSv1.3"]);
    assert_eq!(s.ciphers, super::DEFAULT_CIPHERS.to_vec());
    assert_eq!(s.ciphers_rustls, s.ciphers);
    assert_eq!(s.groups, None);
    assert_eq!((s.handshake_timeout, s.reset_cipher_timer), (10, 0));
    assert!(!s.application_controlled && !s.secondary_map);
    assert_eq!(s.session.session_timeout, 86_400);
}

#[test]
fn connection_level_beats_environment_beats_group() {
    let e = env(
        "  Trace 8\n  TTLSEnvironmentAdvancedParms\n  {\n    HandshakeTimeout 15\n    TLSv1.2 Off\n    ClientAuthType PassThru\n  }\n",
    );
    let c = conn(
        "  HandshakeRole ServerWithClientAuth\n  TTLSConnectionAdvancedParms\n  {\n    HandshakeTimeout 3\n  }\n",
    );
    let s = settings(&format!("{RULE}{GROUP}{e}{c}"), "r");
    assert_eq!(s.trace, 8);
    assert_eq!(s.handshake_timeout, 3);
    assert_eq!(s.handshake_role, Some(Role::ServerWithClientAuth));
    assert_eq!(s.protocols.names(), vec!["TLSv1.3"]);
    assert_eq!(s.client_auth_type, ClientAuthType::PassThru);
    // TLS 1.2 is Off, so only the TLS 1.3 suites of the default list are offered.
    assert_eq!(s.ciphers_rustls, vec![0x1302, 0x1301, 0x1303]);
}

#[test]
fn connection_cipher_parms_replace_the_environment_list_whole() {
    let e = env("  TTLSCipherParms\n  {\n    V3CipherSuites4Char C02F\n  }\n");
    let c = conn(
        "  TTLSCipherParms\n  {\n    V3CipherSuites 35\n    V3CipherSuites4Char 1302C030\n    V3CipherSuites 2F\n  }\n",
    );
    let s = settings(&format!("{RULE}{GROUP}{e}{c}"), "r");
    assert_eq!(s.ciphers, vec![0x0035, 0x1302, 0xC030, 0x002F]);
    assert_eq!(s.ciphers_rustls, vec![0x1302, 0xC030]);
}

#[test]
fn groups_keep_what_rustls_can_do() {
    let e = env(
        "  TTLSSignatureParms\n  {\n    ServerKeyShareGroups 002500290023\n    ClientKeyShareGroups 0024\n  }\n",
    );
    let s = settings(&format!("{RULE}{GROUP}{e}{}", conn("")), "r");
    assert_eq!(s.groups, Some(vec![25, 29, 23]));
    assert_eq!(s.groups_rustls, Some(vec![29, 23]));
    let e = env("  TTLSSignatureParms\n  {\n    ServerKeyShareGroups 0019\n  }\n");
    assert!(errors(&format!("{RULE}{GROUP}{e}{}", conn(""))).contains("no key-share group of TTLSRule r"));
}

#[test]
fn tls_off_needs_no_environment() {
    let text = "TTLSRule lo\n{\n  LocalAddr 127.0.0.0/8\n  Direction Both\n  Priority 1000\n  TTLSGroupActionRef off\n}\nTTLSGroupAction off\n{\n  TTLSEnabled Off\n}\n";
    let s = settings(text, "lo");
    assert!(!s.ttls_enabled);
    assert_eq!(s.status().word(), "NOT_ENABLED");
}

#[test]
fn handshake_role_is_required_in_the_environment_even_with_a_connection_role() {
    let e = "TTLSEnvironmentAction e\n{\n  TTLSKeyringParms\n  {\n    Keyring /k\n  }\n}\n";
    let out = errors(&format!("{RULE}{GROUP}{e}{}", conn("  HandshakeRole Server\n")));
    assert!(out.contains("error: TTLSEnvironmentAction e has no HandshakeRole"), "{out}");
}

#[test]
fn only_old_protocols_is_an_error_at_the_switch() {
    let e = env("  TTLSEnvironmentAdvancedParms\n  {\n    TLSv1 On\n    TLSv1.2 Off\n    TLSv1.3 Off\n  }\n");
    let out = errors(&format!("{RULE}{GROUP}{e}{}", conn("")));
    assert!(out.contains("neither TLSv1.2 nor TLSv1.3 is On"), "{out}");
    assert!(out.contains("warning: TLSv1 On: rustls cannot do this"), "{out}");
}

#[test]
fn references_are_typed_and_inline_names_unreachable() {
    let text = format!(
        "{RULE}{GROUP}{}{}TTLSEnvironmentAction e2\n{{\n  HandshakeRole Server\n  TTLSKeyringParms k1\n  {{\n    Keyring /k\n  }}\n}}\nTTLSEnvironmentAction e3\n{{\n  HandshakeRole Server\n  TTLSKeyringParmsRef k1\n}}\nTTLSRule r3\n{{\n  LocalPortRange 1\n  Direction Inbound\n  TTLSGroupActionRef e\n  TTLSEnvironmentActionRef e3\n}}\n",
        env(""),
        conn("")
    );
    let out = errors(&text);
    assert!(out.contains("TTLSGroupActionRef e refers to no TTLSGroupAction"), "{out}");
    assert!(
        out.contains("hint: e is an TTLSEnvironmentAction")
            || out.contains("hint: e is a TTLSEnvironmentAction"),
        "{out}"
    );
    assert!(out.contains("k1 is the name of an inline block"), "{out}");
}

#[test]
fn duplicates_last_wins_with_a_warning_in_one_file() {
    let text = format!(
        "{RULE}{GROUP}TTLSGroupAction g\n{{\n  TTLSEnabled On\n  Trace 6\n}}\n{}{}",
        env(""),
        conn("")
    );
    let l = load(&text);
    let t = l.table.expect("loads");
    assert_eq!(t.get("r").unwrap().settings.trace, 6);
    let out = l.diagnostics.render(&l.sources);
    assert!(
        out.contains("warning: TTLSGroupAction g is defined twice in this file; the last definition wins"),
        "{out}"
    );
}
