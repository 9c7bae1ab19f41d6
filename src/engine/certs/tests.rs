use super::*;
use crate::policy::table::ServerCerts;

fn keyring(dir: &std::path::Path) -> Keyring {
    crate::keyring::write_test_pki(dir, &[("one", "localhost", false), ("two", "two.example", false)])
        .unwrap();
    std::fs::remove_file(dir.join("ca.pem")).unwrap();
    crate::keyring::load(dir, None).unwrap()
}

fn settings(certs: ServerCerts) -> Settings {
    let text = "TTLSRule r\n{\n  LocalPortRange 443\n  Direction Inbound\n  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n}\n\
                TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n\
                TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {\n    Keyring /k\n  }\n}\n";
    let loaded = crate::policy::load_str("t.pol", text, crate::policy::LoadOptions::default());
    let table = loaded.table.expect("valid policy");
    let mut s = (*table.rules()[0].settings).clone();
    s.server_certs = certs;
    s
}

#[test]
fn labels_and_sni_lists_are_checked_when_built() {
    let dir = std::env::temp_dir().join(format!("attls-certs-{}", std::process::id()));
    let ring = keyring(&dir);
    let provider = crate::policy::rustls_caps::provider();
    let ok = |c: ServerCerts| ServerCertChooser::new(&settings(c), &ring, provider);
    let labels = |n: usize| (0..n).map(|i| if i % 2 == 0 { "one" } else { "two" }.to_string()).collect();
    let chooser = ok(ServerCerts { labels: labels(2), ..Default::default() }).unwrap();
    assert_eq!(chooser.default.len(), 2);
    assert!(matches!(
        ok(ServerCerts { labels: labels(9), ..Default::default() }),
        Err(TlsSetupError::ServerLabels(9))
    ));
    let list =
        |e: &str| ServerCerts { labels: labels(1), sni_list: vec![e.to_string()], ..Default::default() };
    assert!(matches!(ok(list("a.example")), Err(TlsSetupError::SniList(_))));
    assert!(matches!(ok(list("/two")), Err(TlsSetupError::SniList(_))));
    assert!(matches!(ok(list("a.example/nothing")), Err(TlsSetupError::Keyring(_))));
    let chooser = ok(list(" A.Example / two ")).unwrap();
    assert_eq!(chooser.by_name[0].0, "a.example");
    assert_eq!(chooser.by_name[0].1.label, "two");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_pool_follows_the_sni_modes() {
    let dir = std::env::temp_dir().join(format!("attls-certs-pool-{}", std::process::id()));
    let ring = keyring(&dir);
    let provider = crate::policy::rustls_caps::provider();
    let certs = |sni, sni_match| ServerCerts {
        labels: vec!["one".into()],
        sni,
        sni_match,
        sni_list: vec!["two.example/two".into()],
    };
    let pool_labels = |c: &ServerCertChooser, name: Option<&str>| {
        c.pool(name).map(|p| p.iter().map(|c| c.label.clone()).collect::<Vec<_>>())
    };
    let off = ServerCertChooser::new(&settings(certs(SniMode::Off, SniMode::Off)), &ring, provider).unwrap();
    assert_eq!(pool_labels(&off, Some("two.example")), Some(vec!["one".to_string()]), "Off ignores the name");
    let opt =
        ServerCertChooser::new(&settings(certs(SniMode::Optional, SniMode::Off)), &ring, provider).unwrap();
    assert_eq!(pool_labels(&opt, Some("TWO.example")), Some(vec!["two".to_string()]));
    assert_eq!(pool_labels(&opt, Some("x.example")), Some(vec!["one".to_string()]));
    assert_eq!(pool_labels(&opt, None), Some(vec!["one".to_string()]));
    let req = ServerCertChooser::new(&settings(certs(SniMode::Required, SniMode::Required)), &ring, provider)
        .unwrap();
    assert_eq!(pool_labels(&req, None), None);
    assert_eq!(pool_labels(&req, Some("x.example")), None);
    assert_eq!(pool_labels(&req, Some("two.example")), Some(vec!["two".to_string()]));
    std::fs::remove_dir_all(&dir).unwrap();
}
