use super::*;
use crate::policy::{LoadOptions, load_str};

/// One rule per entry: its name and its condition lines; every rule uses actions `g` and `e`.
const RULES: &[(&str, &str)] = &[
    ("ftp-ctl", "LocalPortRange 21\nJobname FTPD*\nDirection Inbound"),
    ("ftp-data", "LocalPortRange 50000-50200\nJobname FTPD*\nDirection Both"),
    ("tn", "LocalPortRange 992\nJobname TN3270\nDirection Inbound"),
    ("web-any", "Jobname FTPD1\nDirection Inbound"),
    ("out-https", "RemotePortRange 443\nDirection Outbound"),
    ("out-ldap", "RemotePortRange 389\nJobname CLIENT*\nUserid batch\nDirection Outbound"),
];

fn policy(rules: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "TTLSGroupAction g\n{\n  TTLSEnabled On\n}\nTTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  \
         TTLSKeyringParms\n  {\n    Keyring /nonexistent/ring\n  }\n}\n",
    );
    for (name, conditions) in rules {
        let _ = write!(
            s,
            "TTLSRule {name}\n{{\n{conditions}\nTTLSGroupActionRef g\nTTLSEnvironmentActionRef e\n}}\n"
        );
    }
    s
}

fn table(text: &str) -> RuleTable {
    let loaded = load_str("t.pol", text, LoadOptions::default());
    loaded.table.unwrap_or_else(|| panic!("{}", loaded.diagnostics.render(&loaded.sources)))
}

fn config(name: &str, listeners: &str) -> Config {
    let dir = std::env::temp_dir().join(format!("attls-intercept-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join("pagent.conf");
    std::fs::write(&p, format!("TTLSConfig t.pol\n{listeners}")).expect("write config");
    let c = crate::config::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    c
}

fn script(name: &str, listeners: &str) -> Script {
    nft_script(&config(name, listeners), &table(&policy(RULES)), 0xfeed).expect("a transparent listener")
}

#[test]
fn redirect_inbound_lists_the_local_ports_of_inbound_rules() {
    let s = script(
        "rin",
        "Listener FTPD1 {\n Listen 0.0.0.0:2121\n Direction Inbound\n Transparent Redirect\n \
         ProtocolPorts Ftp 21,990\n}\n",
    );
    let nft = &s.nft;
    assert!(nft.contains("table inet attls\nflush table inet attls\n"), "{nft}");
    assert!(nft.contains("chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;"));
    // The outbound rules cannot match; ftp-data (Both) can, and tn too: its Jobname is the
    // owning process's, whatever the listener's.
    assert!(
        nft.contains("    meta nfproto ipv4 tcp dport { 21, 990, 992, 50000-50200 } redirect to :2121\n"),
        "{nft}"
    );
    assert!(nft.contains("# TTLSRule web-any matches any local port"), "{nft}");
    assert!(nft.contains("local ports of TTLSRule ftp-ctl, ftp-data, tn\n"), "{nft}");
    assert!(nft.contains("fingerprint 000000000000feed") && nft.contains("0x4154"), "{nft}");
    assert!(!nft.contains("chain output") && !nft.contains("tproxy") && s.routing.is_empty(), "{nft}");
}

#[test]
fn redirect_outbound_returns_on_the_agents_mark_first() {
    let s = script(
        "rout",
        "Listener CLIENT1 {\n Listen [::]:7000\n Direction Outbound\n Transparent Redirect\n Userid batch\n}\n",
    );
    let nft = &s.nft;
    let body = nft.split("chain output {").nth(1).expect("an output chain");
    assert!(body.starts_with("\n    type nat hook output priority -100; policy accept;\n"), "{nft}");
    let ret = body.find("    meta mark 0x4154 return\n").expect("loop prevention");
    let redirect =
        body.find("    tcp dport { 389, 443 } redirect to :7000\n").expect("remote ports, both families");
    assert!(ret < redirect, "{nft}");
    assert!(!nft.contains("chain prerouting"), "{nft}");
}

#[test]
fn jobname_and_userid_do_not_narrow_the_ports() {
    let s = script(
        "rout2",
        "Listener OTHER {\n Listen 127.0.0.1:7000\n Direction Outbound\n Transparent Redirect\n Userid other\n}\n",
    );
    assert!(s.nft.contains("    meta nfproto ipv4 tcp dport { 389, 443 } redirect to :7000\n"), "{}", s.nft);
}

#[test]
fn listeners_sharing_ports_on_one_hook_are_warned_about() {
    let s = script(
        "overlap",
        "Listener A {\n Listen 0.0.0.0:2121\n Direction Inbound\n Transparent Redirect\n}\n\
         Listener B {\n Listen 0.0.0.0:2122\n Direction Inbound\n Transparent Tproxy\n ProtocolPorts Raw 8000\n}\n\
         Listener C {\n Listen 127.0.0.1:7000\n Direction Outbound\n Transparent Redirect\n}\n",
    );
    let warning = "# warning: ports 21, 992, 50000-50200 are also intercepted for Listener A";
    assert_eq!(s.nft.matches(warning).count(), 1, "{}", s.nft);
    assert_eq!(s.nft.matches("are also intercepted").count(), 1, "{}", s.nft);
}

#[test]
fn tproxy_inbound_marks_owned_sockets_and_prints_policy_routing() {
    let s = script("tp", "Listener FTPD2 {\n Listen [::]:2121\n Direction Inbound\n Transparent Tproxy\n}\n");
    let nft = &s.nft;
    let body = nft.split("chain tproxy_prerouting {").nth(1).expect("a tproxy chain");
    assert!(body.starts_with("\n    type filter hook prerouting priority mangle; policy accept;\n"), "{nft}");
    let owned =
        body.find("    meta l4proto tcp socket transparent 1 meta mark set 0x1 accept\n").expect("owned");
    let v4 =
        body.find("    tcp dport { 21, 992, 50000-50200 } tproxy ip to :2121 meta mark set 0x1 accept\n");
    let v6 =
        body.find("    tcp dport { 21, 992, 50000-50200 } tproxy ip6 to :2121 meta mark set 0x1 accept\n");
    assert!(v4.is_some_and(|v4| owned < v4) && v6.is_some(), "{nft}");
    assert!(nft.contains(
        "#   ip rule add fwmark 0x1 lookup 100\n#   ip route add local 0.0.0.0/0 dev lo table 100\n"
    ));
    assert!(nft.contains("#   ip -6 route add local ::/0 dev lo table 100\n"), "{nft}");
    assert!(s.routing.contains("ip route replace local 0.0.0.0/0 dev lo table 100\n"), "{}", s.routing);
    assert!(s.routing.contains("|| ip -6 rule add fwmark 0x1 lookup 100\n"), "{}", s.routing);
}

#[test]
fn tproxy_on_one_ipv4_address_names_it() {
    let s = script(
        "tp4",
        "Listener FTPD3 {\n Listen 10.9.0.1:2121\n Direction Inbound\n Transparent Tproxy\n}\n",
    );
    assert!(s.nft.contains("tproxy ip to 10.9.0.1:2121 meta mark"), "{}", s.nft);
    assert!(!s.nft.contains("tproxy ip6"), "{}", s.nft);
}

#[test]
fn three_kinds_share_one_table_and_plain_listeners_add_nothing() {
    let s = script(
        "all",
        "Listener FTPD1 {\n Listen 0.0.0.0:2121\n Direction Inbound\n Transparent Redirect\n}\n\
         Listener CLIENT1 {\n Listen 127.0.0.1:7000\n Direction Outbound\n Transparent Redirect\n}\n\
         Listener FTPD2 {\n Listen 0.0.0.0:2122\n Direction Inbound\n Transparent Tproxy\n}\n\
         Listener TN3270 {\n Listen 0.0.0.0:992\n Backend 127.0.0.1:23\n Direction Inbound\n}\n",
    );
    assert_eq!(s.nft.matches("table inet attls {").count(), 1);
    for c in ["chain prerouting {", "chain output {", "chain tproxy_prerouting {"] {
        assert!(s.nft.contains(c), "{c}\n{}", s.nft);
    }
    assert!(!s.nft.contains("Listener TN3270"), "{}", s.nft);
}

#[test]
fn a_config_without_transparent_listener_is_an_error() {
    let c =
        config("none", "Listener A {\n Listen 127.0.0.1:1\n Backend 127.0.0.1:2\n Direction Inbound\n}\n");
    let e = nft_script(&c, &table(&policy(RULES)), 0).expect_err("nothing to intercept");
    assert!(e.to_string().contains("has no transparent listener"), "{e}");
}

#[test]
fn spans_merge_and_any_port_is_not_listed() {
    let s = |lo, hi| PortSpan { lo, hi };
    assert_eq!(
        merge(vec![s(30, 40), s(21, 21), s(22, 25), s(35, 50), s(21, 21)]),
        vec![s(21, 25), s(30, 50)]
    );
    assert_eq!(merge(vec![s(65535, 65535), s(1, 65534)]), vec![s(1, 65535)]);
    let t = table(&policy(&[
        ("r", "LocalAddr All\nDirection Inbound"),
        ("r0", "LocalPortRange 0\nDirection Both"),
    ]));
    let c = config("any", "Listener r {\n Listen 0.0.0.0:1\n Direction Inbound\n Transparent Redirect\n}\n");
    let p = listener_ports(&c.listeners[0], &t);
    assert_eq!((p.spans, p.any_port_rules), (vec![], vec!["r".to_string(), "r0".to_string()]));
}

#[test]
fn fingerprint_depends_on_every_text_and_its_boundaries() {
    assert_ne!(fingerprint(["ab", "c"]), fingerprint(["a", "bc"]));
    assert_eq!(fingerprint(["x"]), fingerprint(["x"]));
}

#[test]
fn local_adds_output_rules_for_clients_on_this_host_after_the_mark() {
    let c = config(
        "local",
        "Listener FTPD1 {\n Listen 0.0.0.0:2121\n Direction Inbound\n Transparent Redirect\n}\n\
         Listener CLIENT1 {\n Listen 127.0.0.1:7000\n Direction Outbound\n Transparent Redirect\n}\n\
         Listener FTPD2 {\n Listen 0.0.0.0:2122\n Direction Inbound\n Transparent Tproxy\n}\n",
    );
    let t = table(&policy(RULES));
    let plain = nft_script(&c, &t, 1).unwrap().nft;
    let s = nft_script_with(&c, &t, 1, ScriptOptions { local: true }).unwrap().nft;
    assert!(!plain.contains("fib daddr type local"), "{plain}");
    // The prerouting rules stay as they were.
    let prerouting =
        |n: &str| n.split("chain prerouting {").nth(1).unwrap().split("  }").next().unwrap().to_string();
    assert_eq!(prerouting(&plain), prerouting(&s));
    let body = s.split("chain output {").nth(1).expect("an output chain");
    let ret = body.find("    meta mark 0x4154 return\n").expect("loop prevention first");
    let local = body
        .find("    meta nfproto ipv4 fib daddr type local tcp dport { 21, 992, 50000-50200 } redirect to :2121\n")
        .expect("local clients of FTPD1");
    let out = body.find("tcp dport { 389, 443 } redirect to :7000\n").expect("the outbound listener's rule");
    assert!(ret < local && local < out, "{s}");
    assert!(body.contains("# warning: tproxy cannot take connections opened on this host"), "{s}");
    assert!(s.contains("# Load: pagent setup-intercept -c ") && s.contains(" --local | nft -f -"), "{s}");
    // A listener on one non-loopback address never sees what redirect sends to loopback.
    let c = config(
        "local1",
        "Listener A {\n Listen 10.9.0.1:2121\n Direction Inbound\n Transparent Redirect\n}\n",
    );
    let s = nft_script_with(&c, &t, 1, ScriptOptions { local: true }).unwrap().nft;
    assert!(
        s.contains("redirect delivers local connections to the loopback address: Listen 10.9.0.1"),
        "{s}"
    );
}
