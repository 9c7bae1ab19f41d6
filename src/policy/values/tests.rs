use super::*;
use crate::policy::ast::PortSpan;
use crate::policy::catalog::Kind;

fn parse(kind: Kind, key: &str, text: &str) -> (Option<Value>, Notes) {
    let mut notes = Vec::new();
    let v = parse_value(kind.param(key).expect("known parameter"), text, &mut notes);
    (v, notes)
}

fn ok(kind: Kind, key: &str, text: &str) -> Value {
    let (v, notes) = parse(kind, key, text);
    assert!(notes.iter().all(|n| !n.error), "{notes:?}");
    v.expect("a value")
}

fn err(kind: Kind, key: &str, text: &str) -> Note {
    let (v, notes) = parse(kind, key, text);
    assert!(v.is_none(), "{text} parsed as {v:?}");
    notes.into_iter().find(|n| n.error).expect("an error note")
}

#[test]
fn ports_and_ranges() {
    assert_eq!(ok(Kind::Rule, "LocalPortRange", "21"), Value::Ports(PortSpan { lo: 21, hi: 21 }));
    assert_eq!(
        ok(Kind::Rule, "LocalPortRange", "1024-65535"),
        Value::Ports(PortSpan { lo: 1024, hi: 65535 })
    );
    let n = err(Kind::Rule, "LocalPortRange", "70000");
    assert_eq!(n.message, "port 70000 is out of range 0-65535");
    let n = err(Kind::Rule, "LocalPortRange", "1000-70000");
    assert_eq!((n.start, n.end), (5, 10));
    assert!(err(Kind::Rule, "LocalPortRange", "30-20").message.contains("backwards"));
    assert!(err(Kind::Rule, "LocalPortRange", "[zss_port]").message.contains("placeholder"));
}

#[test]
fn addresses_prefixes_ranges() {
    let v = ok(Kind::Rule, "LocalAddr", "10.1.0.0/16");
    assert_eq!(v.to_string_addr(), "10.1.0.0/16");
    assert_eq!(ok(Kind::Rule, "RemoteAddr", "ALL"), Value::Addr(AddrMatch::All));
    assert_eq!(ok(Kind::Rule, "RemoteAddr", "10.1.1.1-10.1.1.9").to_string_addr(), "10.1.1.1-10.1.1.9");
    assert_eq!(ok(Kind::Rule, "RemoteAddr", "2001:db8::1").to_string_addr(), "2001:db8::1");
    assert_eq!(ok(Kind::Rule, "RemoteAddr", "::/0").to_string_addr(), "::/0");
    assert_eq!(ok(Kind::Rule, "RemoteAddr", "::1").to_string_addr(), "::1");
    assert!(err(Kind::Rule, "LocalAddr", "10.1.0.0/33").message.contains("out of range 0-32"));
    assert!(err(Kind::Rule, "LocalAddr", "::ffff:10.1.1.1").message.contains("IPv4-mapped"));
    assert!(err(Kind::Rule, "LocalAddr", "::10.1.1.1").message.contains("::/96"));
    assert!(err(Kind::Rule, "LocalAddr", "10.1.1.300").message.contains("not an IP address"));
    assert!(err(Kind::Rule, "LocalAddr", "10.1.1.9-10.1.1.1").message.contains("backwards"));
    assert!(err(Kind::Rule, "LocalAddr", "10.1.1.1-::1").message.contains("mixes"));
}

#[test]
fn bare_integer_address_is_a_quirk() {
    let (v, notes) = parse(Kind::Rule, "RemoteAddr", "6793");
    assert_eq!(v.unwrap().to_string_addr(), "0.0.26.137");
    assert!(notes[0].portability && !notes[0].error);
}

#[test]
fn host_bits_in_prefix_warn() {
    let (v, notes) = parse(Kind::IpAddrSet, "Prefix", "10.1.1.1/16");
    assert_eq!(v.unwrap().to_string_addr(), "10.1.0.0/16");
    assert!(notes[0].message.contains("host bits"));
}

#[test]
fn ciphers_two_and_four_char() {
    assert_eq!(ok(Kind::CipherParms, "V3CipherSuites", "352F0A"), Value::Ciphers(vec![0x35, 0x2F, 0x0A]));
    assert_eq!(
        ok(Kind::CipherParms, "V3CipherSuites4Char", "C02F1302"),
        Value::Ciphers(vec![0xC02F, 0x1302])
    );
    assert_eq!(
        ok(Kind::CipherParms, "V3CipherSuites", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        Value::Ciphers(vec![0xC030])
    );
    // The pitfall of docs/policy-reference.md#cipher-suites: C02F in the 2-character keyword reads
    // as C0, 2F.
    let (v, notes) = parse(Kind::CipherParms, "V3CipherSuites", "C02F");
    assert_eq!(v, Some(Value::Ciphers(vec![0x2F])));
    assert!(notes[0].hint.contains("V3CipherSuites4Char"));
    let (_, notes) = parse(Kind::CipherParms, "V3CipherSuites4Char", "TLS_AES_128_GCM_SHA256");
    assert!(notes[0].portability);
    let n = err(Kind::CipherParms, "V3CipherSuites", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA385");
    assert!(n.hint.contains("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"), "{n:?}");
}

#[test]
fn groups_and_pairs() {
    assert_eq!(ok(Kind::SignatureParms, "ServerKeyShareGroups", "any"), Value::Groups(None));
    assert_eq!(
        ok(Kind::SignatureParms, "ClientKeyShareGroups", "00290023"),
        Value::Groups(Some(vec![29, 23]))
    );
    assert!(err(Kind::SignatureParms, "ClientKeyShareGroups", "29").message.contains("4-digit"));
    assert_eq!(ok(Kind::SignatureParms, "SignaturePairs", "08040603"), Value::HexPairs(vec![0x0804, 0x0603]));
}

#[test]
fn jobnames() {
    assert_eq!(ok(Kind::Rule, "Jobname", "FTPD*"), Value::Jobname("FTPD*".into()));
    assert!(err(Kind::Rule, "Jobname", "FT*PD").message.contains("may only end"));
    let (_, notes) = parse(Kind::Rule, "Userid", "averyveryverylonguser");
    assert!(notes[0].portability);
}

#[test]
fn enums_numbers_onoff_any_case() {
    assert_eq!(ok(Kind::Rule, "Direction", "INBOUND"), Value::Enum("Inbound"));
    assert_eq!(ok(Kind::EnvironmentAdvancedParms, "TLSv1.3", "oN"), Value::OnOff(true));
    assert!(err(Kind::Rule, "Priority", "0").message.contains("out of range 1-2000000000"));
    assert!(err(Kind::Rule, "Priority", "high").message.contains("needs a number"));
    assert!(err(Kind::Rule, "Direction", "Sideways").hint.contains("Inbound, Outbound, Both"));
}

impl Value {
    fn to_string_addr(&self) -> String {
        match self {
            Value::Addr(a) => a.to_string(),
            other => panic!("not an address: {other:?}"),
        }
    }
}
