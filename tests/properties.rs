//! Property tests: arbitrary input never panics the loader, and rendering a loaded table then
//! loading the rendering gives the same table.

use attls::policy::render::render;
use attls::policy::{LoadOptions, load_str};
use proptest::prelude::*;

/// Words that make the parser take its interesting paths.
const WORDS: &[&str] = &[
    "TTLSRule",
    "TTLSGroupAction",
    "TTLSEnvironmentAction",
    "TTLSConnectionAction",
    "TTLSKeyringParms",
    "TTLSEnvironmentAdvancedParms",
    "TTLSCipherParms",
    "IpAddrGroup",
    "IpAddrSet",
    "IpAddr",
    "PortRange",
    "PortGroup",
    "LocalPortRange",
    "LocalAddr",
    "RemoteAddrGroupRef",
    "Direction",
    "Inbound",
    "Priority",
    "TTLSGroupActionRef",
    "TTLSEnvironmentActionRef",
    "TTLSEnabled",
    "On",
    "Off",
    "HandshakeRole",
    "Server",
    "Keyring",
    "V3CipherSuites",
    "V3CipherSuites4Char",
    "C02F1302",
    "352F",
    "Port",
    "Prefix",
    "Range",
    "Addr",
    "10.1.1.1",
    "::1",
    "10.0.0.0/8",
    "1-2",
    "70000",
    "g",
    "e",
    "r",
    "{",
    "}",
    "#",
    ";",
    "\"",
    "\n",
    "\r\n",
    "\t",
    " ",
    "*",
    "FTPD*",
    "00000010",
    "\u{feff}",
    "é",
    "[port]",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..120).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        let loaded = load_str("fuzz.pol", &text, LoadOptions::default());
        let _ = loaded.diagnostics.render(&loaded.sources);
    }

    #[test]
    fn keyword_soup_never_panics(text in soup()) {
        let loaded = load_str("soup.pol", &text, LoadOptions { strict: true, warn_keyrings: true, ..LoadOptions::default() });
        let rendered = loaded.diagnostics.render(&loaded.sources);
        // Every diagnostic starts with the D11 first line.
        for line in rendered.lines().filter(|l| !l.starts_with(' ')) {
            prop_assert!(line.starts_with("soup.pol:"), "{}", line);
        }
    }
}

/// One generated rule: conditions and settings drawn from small pools.
#[derive(Debug, Clone)]
struct GenRule {
    priority: Option<u32>,
    direction: &'static str,
    local: &'static str,
    remote: &'static str,
    port: &'static str,
    job: Option<&'static str>,
    enabled: bool,
    role: &'static str,
    ciphers: Option<&'static str>,
    tls12: bool,
    appl: bool,
    secmap: bool,
    timeout: u32,
    trace: u8,
    conn_action: bool,
    groups: Option<&'static str>,
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    (
        prop::option::of(1u32..50),
        prop::sample::select(&["Inbound", "Outbound", "Both"][..]),
        prop::sample::select(
            &["", "LocalAddr 10.1.0.0/16", "LocalAddr 2001:db8::/32", "LocalAddrGroupRef grpA"][..],
        ),
        prop::sample::select(
            &["", "RemoteAddr 192.0.2.1-192.0.2.9", "RemoteAddr 198.51.100.7", "RemoteAddrGroupRef grpA"][..],
        ),
        prop::sample::select(
            &[
                "LocalPortRange 21",
                "LocalPortRange 50000-50200",
                "LocalPortGroupRef ports1",
                "LocalPortRange 0",
            ][..],
        ),
        prop::option::of(prop::sample::select(&["FTPD*", "TN3270A", "*"][..])),
        any::<bool>(),
        prop::sample::select(&["Server", "Client", "ServerWithClientAuth"][..]),
        prop::option::of(prop::sample::select(&["13021301C030C02F", "C02BC02C1303", "002FC02F1301"][..])),
        any::<bool>(),
        (any::<bool>(), any::<bool>(), 0u32..100, 0u8..64, any::<bool>()),
        prop::option::of(prop::sample::select(&["00290023", "0024", "Any"][..])),
    )
        .prop_map(
            |(
                priority,
                direction,
                local,
                remote,
                port,
                job,
                enabled,
                role,
                ciphers,
                tls12,
                (appl, secmap, timeout, trace, conn_action),
                groups,
            )| GenRule {
                priority,
                direction,
                local,
                remote,
                port,
                job,
                enabled,
                role,
                ciphers,
                tls12,
                appl,
                secmap,
                timeout,
                trace,
                conn_action,
                groups,
            },
        )
}

fn policy_text(rules: &[GenRule]) -> String {
    let mut s = String::from(
        "IpAddrGroup grpA\n{\n  IpAddr\n  {\n    Addr 10.1.1.1\n  }\n  IpAddrSet\n  {\n    Prefix 2001:db8:1::/48\n  }\n}\n\
         PortGroup ports1\n{\n  PortRange\n  {\n    Port 990\n  }\n  PortRange\n  {\n    Port 2023-2025\n  }\n}\n",
    );
    for (i, r) in rules.iter().enumerate() {
        s.push_str(&format!(
            "TTLSRule rule~{i}\n{{\n  {}\n  {}\n  {}\n  Direction {}\n",
            r.local, r.remote, r.port, r.direction
        ));
        if let Some(p) = r.priority {
            s.push_str(&format!("  Priority {p}\n"));
        }
        if let Some(j) = r.job {
            s.push_str(&format!("  Jobname {j}\n"));
        }
        s.push_str(&format!("  TTLSGroupActionRef g{i}\n  TTLSEnvironmentActionRef e{i}\n"));
        if r.conn_action {
            s.push_str(&format!("  TTLSConnectionActionRef c{i}\n"));
        }
        s.push_str("}\n");
        s.push_str(&format!(
            "TTLSGroupAction g{i}\n{{\n  TTLSEnabled {}\n  Trace {}\n}}\n",
            if r.enabled { "On" } else { "Off" },
            r.trace
        ));
        s.push_str(&format!("TTLSEnvironmentAction e{i}\n{{\n  HandshakeRole {}\n  TTLSKeyringParms\n  {{\n    Keyring /etc/attls/keys/k{i}\n  }}\n", r.role));
        if let Some(c) = r.ciphers {
            s.push_str(&format!("  TTLSCipherParms\n  {{\n    V3CipherSuites4Char {c}\n  }}\n"));
        }
        if let Some(g) = r.groups {
            s.push_str(&format!("  TTLSSignatureParms\n  {{\n    ServerKeyShareGroups {g}\n    ClientKeyShareGroups {g}\n  }}\n"));
        }
        let adv = format!(
            "  {{\n    TLSv1.2 {}\n    ApplicationControlled {}\n    SecondaryMap {}\n    HandshakeTimeout {}\n  }}\n",
            if r.tls12 { "On" } else { "Off" },
            if r.appl { "On" } else { "Off" },
            if r.secmap { "On" } else { "Off" },
            r.timeout
        );
        if r.conn_action {
            s.push_str("}\n");
            s.push_str(&format!("TTLSConnectionAction c{i}\n{{\n  TTLSConnectionAdvancedParms\n{adv}}}\n"));
        } else {
            s.push_str(&format!("  TTLSEnvironmentAdvancedParms\n{adv}}}\n"));
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn render_then_load_gives_the_same_table(rules in prop::collection::vec(gen_rule(), 1..12)) {
        let text = policy_text(&rules);
        let first = load_str("gen.pol", &text, LoadOptions::default());
        let diags = first.diagnostics.render(&first.sources);
        let Some(table) = first.table else {
            // Generated combinations may be invalid (e.g. TLSv1.2 Off with only 1.2 suites): then
            // the loader must have said why.
            prop_assert!(diags.contains(": error: "), "{}", diags);
            return Ok(());
        };
        let rendered = render(&table);
        let second = load_str("rendered.pol", &rendered, LoadOptions::default());
        let again = second.table.clone().unwrap_or_else(|| panic!("rendered policy failed:\n{}\n{rendered}", second.diagnostics.render(&second.sources)));
        // `written` and `keyring_span` record where things were written (for reports); the rendering writes
        // every setting out, so compare what the rules do, not how they were spelled.
        let semantic = |t: &attls::policy::RuleTable| -> Vec<attls::policy::Rule> {
            t.rules()
                .iter()
                .map(|r| {
                    let mut r = (**r).clone();
                    let mut s = (*r.settings).clone();
                    s.written = Default::default();
                    s.keyring_span = None;
                    r.settings = std::sync::Arc::new(s);
                    r
                })
                .collect()
        };
        prop_assert_eq!(semantic(&table), semantic(&again));
    }
}
