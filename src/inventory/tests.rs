//! The store's bounds and counts, the report's JSON read back as written, and verdicts against
//! policies loaded from text.

use std::net::IpAddr;

use super::hello::{ClientHello, TLS12, TLS13};
use super::report::Report;
use super::verdict::{NO_CERT, NO_GROUP, NO_SIGALG, NO_SUITE, NO_VERSION, Offer, judge};
use super::*;

fn hello(versions: &[u16], suites: &[u16], groups: &[u16]) -> ClientHello {
    ClientHello {
        legacy_version: TLS12,
        versions: Some(versions.to_vec()),
        cipher_suites: suites.to_vec(),
        groups: Some(groups.to_vec()),
        signature_algorithms: Some(vec![0x0403, 0x0804, 0x0401]),
        server_name: Some("localhost".into()),
        alpn: None,
        truncated: false,
    }
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("ip"))
}

#[test]
fn one_profile_per_distinct_hello_and_certificate_with_counts() {
    let inv = Inventory::new(Some(Limits::default()));
    let a = hello(&[TLS13], &[0x1301], &[29]);
    inv.record("r1", a.clone(), CertSent::NotRequested, ip("192.0.2.1"));
    inv.record("r1", a.clone(), CertSent::NotRequested, ip("192.0.2.2"));
    inv.record("r1", a.clone(), CertSent::Sent, ip("192.0.2.3"));
    inv.record("r0", hello(&[TLS12], &[0xC02F], &[23]), CertSent::Unknown, None);
    let report = inv.report(None);
    let names: Vec<&str> = report.rules.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(names, ["r0", "r1"], "rules by name");
    let r1 = &report.rules[1];
    assert_eq!(r1.profiles.len(), 2);
    assert_eq!((r1.profiles[0].connections, r1.profiles[0].profile.certificate), (2, CertSent::NotRequested));
    assert_eq!(r1.profiles[0].example_ip, ip("192.0.2.2"), "the latest client");
    assert_eq!((r1.profiles[1].connections, r1.profiles[1].profile.certificate), (1, CertSent::Sent));
    assert!(r1.profiles[0].first_seen <= r1.profiles[0].last_seen);
    assert_eq!(inv.report(Some("r0")).rules.len(), 1);
    assert!(inv.report(Some("nope")).rules.is_empty());
}

#[test]
fn profiles_and_rules_past_the_limits_are_counted_not_kept() {
    let inv = Inventory::new(Some(Limits { profiles_per_rule: 2, rules: 2 }));
    for suite in 0..5u16 {
        inv.record("r1", hello(&[TLS13], &[0x1300 + suite], &[29]), CertSent::Unknown, None);
    }
    // A profile already kept still counts when the rule is full.
    inv.record("r1", hello(&[TLS13], &[0x1300], &[29]), CertSent::Unknown, None);
    inv.record("r2", hello(&[TLS13], &[0x1301], &[29]), CertSent::Unknown, None);
    inv.record("r3", hello(&[TLS13], &[0x1301], &[29]), CertSent::Unknown, None);
    inv.record_unparsed("r3");
    inv.record_unparsed("r2");
    let report = inv.report(None);
    assert_eq!(report.rules.len(), 2);
    assert_eq!(report.rules_dropped, 2, "r3's handshake and its unparsed one");
    let r1 = &report.rules[0];
    assert_eq!((r1.profiles.len(), r1.profiles_dropped, r1.connections()), (2, 3, 3));
    assert_eq!(report.rules[1].unparsed, 1);
}

#[test]
fn an_inventory_that_is_off_keeps_nothing() {
    let inv = Inventory::new(None);
    assert!(!inv.enabled());
    inv.record("r1", hello(&[TLS13], &[0x1301], &[29]), CertSent::Unknown, None);
    let report = inv.report(None);
    assert!(report.rules.is_empty() && report.limits.is_none());
    assert!(report::text(&report).contains("ClientInventory Off"));
    assert!(!Inventory::new(Some(Limits { profiles_per_rule: 0, rules: 5 })).enabled());
}

#[test]
fn the_json_reads_back_as_it_was_written() {
    let inv = Inventory::default();
    let mut odd = hello(&[0x7F1C, TLS13], &[0x1301, 0x00FF], &[0x11EC, 29]);
    odd.alpn = Some(vec!["h2".into()]);
    odd.server_name = None;
    odd.truncated = true;
    inv.record("r1", odd, CertSent::NotSent, ip("::ffff:192.0.2.9"));
    let legacy =
        ClientHello { legacy_version: 0x0301, cipher_suites: vec![0x002F], ..ClientHello::default() };
    inv.record("r1", legacy, CertSent::NotRequested, ip("2001:db8::1"));
    let report = inv.report(None);
    let json = report.to_json();
    let p = &json["rules"][0]["profiles"][0];
    assert_eq!(p["version"], "TLSv1.3");
    assert_eq!(p["versions"], serde_json::json!(["7F1C", "TLSv1.3"]));
    assert_eq!(p["groups"], serde_json::json!(["4588", "0029"]));
    assert_eq!(p["cipher_suites"], serde_json::json!(["1301", "00FF"]));
    assert_eq!(p["example_ip"], "192.0.2.9", "IPv4-mapped shown as IPv4");
    assert_eq!(p["certificate"], "not sent");
    assert_eq!(json["rules"][0]["profiles"][1]["version"], "TLSv1");
    assert_eq!(json["rules"][0]["profiles"][1]["groups"], serde_json::Value::Null);
    let mut back = Report::from_json(&json).expect("reads back");
    back.rules[0].profiles[0].example_ip = report.rules[0].profiles[0].example_ip;
    assert_eq!(back, report);
}

/// The settings of rule `r` in a policy whose environment action holds `env`.
fn settings(env: &str) -> crate::policy::Settings {
    let text = format!(
        "TTLSRule r\n{{\n LocalPortRange 443\n Direction Inbound\n TTLSGroupActionRef g\n TTLSEnvironmentActionRef e\n}}\n\
         TTLSGroupAction g\n{{\n TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction e\n{{\n TTLSKeyringParms\n {{\n Keyring /nonexistent\n }}\n{env}\n}}\n"
    );
    let loaded = crate::policy::load_str("candidate.pol", &text, crate::policy::LoadOptions::default());
    let table = loaded.table.unwrap_or_else(|| panic!("{}", loaded.diagnostics.render(&loaded.sources)));
    table.get("r").expect("rule r").settings.as_ref().clone()
}

fn profile(h: ClientHello, certificate: CertSent) -> Profile {
    Profile { hello: h, certificate }
}

#[test]
fn verdicts_follow_the_candidates_effective_settings() {
    let tls12_client = profile(hello(&[TLS12], &[0xC02F, 0x00FF], &[29, 23]), CertSent::NotRequested);
    let tls13_client = profile(hello(&[TLS13], &[0x1302], &[29]), CertSent::Sent);
    let permissive = Offer::of(&settings(" HandshakeRole Server"));
    assert!(judge(&permissive, &tls12_client).is_empty());
    assert!(judge(&permissive, &tls13_client).is_empty());

    let only13 = Offer::of(&settings(
        " HandshakeRole Server\n TTLSEnvironmentAdvancedParms\n {\n TLSv1.2 Off\n TLSv1.3 On\n }",
    ));
    assert_eq!(judge(&only13, &tls12_client), [NO_VERSION]);
    assert!(judge(&only13, &tls13_client).is_empty());

    let suites = Offer::of(&settings(
        " HandshakeRole Server\n TTLSCipherParms\n {\n V3CipherSuites4Char 1301C030\n }",
    ));
    assert_eq!(judge(&suites, &tls12_client), [NO_SUITE]);
    assert_eq!(judge(&suites, &tls13_client), [NO_SUITE]);

    let groups = Offer::of(&settings(
        " HandshakeRole Server\n TTLSSignatureParms\n {\n ServerKeyShareGroups 0024\n }",
    ));
    assert_eq!(judge(&groups, &tls13_client), [NO_GROUP]);

    let required = Offer::of(&settings(
        " HandshakeRole ServerWithClientAuth\n TTLSEnvironmentAdvancedParms\n {\n ClientAuthType Required\n }",
    ));
    assert_eq!(judge(&required, &tls12_client), [NO_CERT]);
    assert!(judge(&required, &tls13_client).is_empty());
    let passthru = Offer::of(&settings(
        " HandshakeRole ServerWithClientAuth\n TTLSEnvironmentAdvancedParms\n {\n ClientAuthType PassThru\n }",
    ));
    assert!(judge(&passthru, &tls12_client).is_empty());

    let mut no_sigalgs = tls13_client.clone();
    no_sigalgs.hello.signature_algorithms = None;
    assert_eq!(judge(&permissive, &no_sigalgs), [NO_SIGALG]);
    let client_role = Offer::of(&settings(" HandshakeRole Client"));
    assert_eq!(judge(&client_role, &tls13_client), ["HandshakeRole Client takes no TLS client"]);
}

#[test]
fn a_legacy_client_without_supported_versions_gets_tls12_only() {
    let mut h = hello(&[], &[0xC02F], &[23]);
    h.versions = None;
    let p = profile(h, CertSent::NotRequested);
    assert!(judge(&Offer::of(&settings(" HandshakeRole Server")), &p).is_empty());
    let only13 = Offer::of(&settings(
        " HandshakeRole Server\n TTLSEnvironmentAdvancedParms\n {\n TLSv1.2 Off\n TLSv1.3 On\n }",
    ));
    assert_eq!(judge(&only13, &p), [NO_VERSION]);
}

#[test]
fn known_server_keys_decide_tls12_suites_and_signature_algorithms() {
    let dir = std::env::temp_dir().join(format!("attls-verdict-keys-{}", std::process::id()));
    crate::keyring::write_test_pki(&dir, &[("server", "localhost", false)]).expect("test PKI");
    let ring = crate::keyring::load(&dir, None).expect("keyring");
    let id = ring.identity(Some("server")).expect("server identity");
    let key = rustls_caps_key(id);
    let mut offer = Offer::of(&settings(" HandshakeRole Server"));
    offer.keys = Some(vec![key.clone()]);
    let algorithm = key.algorithm();
    // The test PKI's key: a TLS 1.2 suite of the other kind cannot be served.
    let (served, unserved) =
        if algorithm == rustls::SignatureAlgorithm::RSA { (0xC02F, 0xC02B) } else { (0xC02B, 0xC02F) };
    let ok = profile(hello(&[TLS12], &[served], &[23]), CertSent::NotRequested);
    assert!(judge(&offer, &ok).is_empty(), "{:?}", judge(&offer, &ok));
    let wrong_kind = profile(hello(&[TLS12], &[unserved], &[23]), CertSent::NotRequested);
    assert_eq!(judge(&offer, &wrong_kind), [NO_SUITE]);
    let mut unsignable = profile(hello(&[TLS13], &[0x1301], &[29]), CertSent::NotRequested);
    unsignable.hello.signature_algorithms = Some(vec![0x0201, 0x0401, 0x0807]);
    assert_eq!(judge(&offer, &unsignable), [NO_SIGALG], "PKCS#1 and SHA-1 are not TLS 1.3's");
    let _ = std::fs::remove_dir_all(&dir);
}

fn rustls_caps_key(id: &crate::keyring::Identity) -> std::sync::Arc<dyn rustls::sign::SigningKey> {
    crate::policy::rustls_caps::provider()
        .key_provider
        .load_private_key(id.key.clone_key())
        .expect("key loads")
}
