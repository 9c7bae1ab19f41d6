//! The map file's syntax and errors, the RFC 4514 rendering of real certificates (made with rcgen),
//! and what each kind of pattern matches.

use std::path::Path;

use rcgen::{DnType, DnValue, SanType};

use super::names::{Token, escape};
use super::pattern::{Piece, glob};
use super::*;

/// A self-signed certificate with the subject `dn` (in encoding order) and the SANs given.
fn cert(dn: &[(DnType, DnValue)], dns: &[&str], email: &[&str]) -> Vec<u8> {
    let names: Vec<String> = dns.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in dn {
        params.distinguished_name.push(t.clone(), v.clone());
    }
    for e in email {
        params.subject_alt_names.push(SanType::Rfc822Name((*e).try_into().expect("IA5")));
    }
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").der().to_vec()
}

fn alice() -> Vec<u8> {
    cert(
        &[
            (DnType::OrganizationName, "Example".into()),
            (DnType::OrganizationalUnitName, "ops".into()),
            (DnType::CommonName, "alice".into()),
        ],
        &["Alice.Ops.Example.COM"],
        &["Alice.Smith@Example.COM"],
    )
}

fn map(text: &str) -> CertUserMap {
    CertUserMap::parse(Path::new("users.map"), text).unwrap_or_else(|e| panic!("{e}")).0
}

fn error(text: &str) -> String {
    CertUserMap::parse(Path::new("users.map"), text).expect_err("an invalid map").0
}

fn user(map: &CertUserMap, der: &[u8]) -> Option<String> {
    map.lookup(der).user().map(String::from)
}

#[test]
fn the_subject_is_rendered_most_specific_first_without_spaces() {
    let names = CertNames::of(&alice()).expect("names");
    assert_eq!(names.subject, "CN=alice,OU=ops,O=Example");
    assert_eq!(names.dns, ["alice.ops.example.com"], "DNS names are lowercased");
    assert_eq!(names.email, ["Alice.Smith@example.com"], "only the domain is lowercased");
    let d = names.describe();
    assert_eq!(
        d,
        "subject \"CN=alice,OU=ops,O=Example\", san:dns:alice.ops.example.com, san:email:Alice.Smith@example.com"
    );
}

#[test]
fn values_are_escaped_as_rfc_4514_says_and_other_string_types_decoded() {
    let der = cert(
        &[
            (DnType::CountryName, DnValue::PrintableString("DE".try_into().unwrap())),
            (DnType::OrganizationName, DnValue::BmpString("Bär AG".try_into().unwrap())),
            (DnType::CommonName, "#1 Smith, John+Co <x>; \"q\" \\ ".into()),
        ],
        &[],
        &[],
    );
    let names = CertNames::of(&der).expect("names");
    assert_eq!(names.subject, "CN=\\#1 Smith\\, John\\+Co \\<x\\>\\; \\\"q\\\" \\\\\\ ,O=Bär AG,C=DE");
    assert_eq!(escape(" a\u{0}b "), "\\ a\\00b\\ ");
    assert_eq!(escape("a#b=c"), "a#b=c", "only a leading # is escaped");
    // The escapes decode: the pattern matches whether a comma is written `\,` or `\2C`.
    let m = map("CN=\\#1 Smith\\2C John\\+Co <x>; \"q\" \\5C\\ ,O=B\\C3\\A4r AG,C=DE smith\n");
    assert_eq!(user(&m, &der).as_deref(), Some("smith"));
}

#[test]
fn attribute_names_compare_in_any_case_and_values_exactly() {
    let der = alice();
    assert_eq!(user(&map("cn=alice,Ou=ops,o=Example alice\n"), &der).as_deref(), Some("alice"));
    assert_eq!(user(&map("2.5.4.3=alice,OU=ops,O=Example alice\n"), &der).as_deref(), Some("alice"));
    assert_eq!(user(&map("CN=Alice,OU=ops,O=Example alice\n"), &der), None, "values are case-sensitive");
    assert_eq!(user(&map("CN = alice , OU=ops, O=Example alice\n"), &der).as_deref(), Some("alice"));
    assert_eq!(user(&map("CN=alice,OU=ops alice\n"), &der), None, "the whole DN must match");
    assert_eq!(user(&map("O=Example,OU=ops,CN=alice alice\n"), &der), None, "most specific first");
}

#[test]
fn wildcards_match_any_run_and_the_first_matching_line_wins() {
    let der = alice();
    let m = map("CN=bob,* bob\nCN=*,OU=ops,O=Example ops\n* everyone\n");
    assert_eq!(user(&m, &der).as_deref(), Some("ops"));
    assert_eq!(m.lookup(&der), Lookup::User("ops".into(), 2));
    assert_eq!(user(&map("*,O=Example staff\n"), &der).as_deref(), Some("staff"));
    assert_eq!(user(&map("CN=a*,O=Example x\n"), &der).as_deref(), Some("x"), "a `*` spans RDNs");
    assert_eq!(user(&map("CN=al\\*,* x\n"), &der), None, "`\\*` is a literal asterisk");
    let star = cert(&[(DnType::CommonName, "al*".into())], &[], &[]);
    assert_eq!(user(&map("CN=al\\*,* x\nCN=al\\* y\n"), &star).as_deref(), Some("y"));
}

#[test]
fn san_patterns_match_dns_names_and_email_addresses() {
    let der = alice();
    assert_eq!(user(&map("san:dns:*.OPS.example.com ops\n"), &der).as_deref(), Some("ops"));
    assert_eq!(user(&map("SAN:DNS:alice.ops.example.com a\n"), &der).as_deref(), Some("a"));
    assert_eq!(user(&map("san:email:Alice.Smith@EXAMPLE.com a\n"), &der).as_deref(), Some("a"));
    assert_eq!(user(&map("san:email:alice.smith@example.com a\n"), &der), None, "local parts are exact");
    assert_eq!(user(&map("san:email:*@example.com staff\n"), &der).as_deref(), Some("staff"));
    assert_eq!(user(&map("san:dns:other.example.com x\n"), &der), None);
    let m = map("san:dns:nothing.example x\nCN=alice,* alice\n");
    assert_eq!(m.lookup(&der), Lookup::User("alice".into(), 2));
    let none = map("san:dns:nothing.example x\n").lookup(&der);
    assert!(none.why_none().is_some_and(|w| w.contains("CN=alice,OU=ops,O=Example")), "{none:?}");
}

#[test]
fn comments_blank_lines_and_escaped_blanks_are_read_as_written() {
    let text =
        "# users\n\n   # indented comment\nCN=alice,* alice   # the admin\nO=Team \\#1 team # trailing\n";
    let m = map(text);
    assert_eq!(m.len(), 2);
    let team = cert(&[(DnType::OrganizationName, "Team #1".into())], &[], &[]);
    assert_eq!(user(&m, &team).as_deref(), Some("team"));
    let spaced = cert(&[(DnType::CommonName, "x ".into())], &[], &[]);
    assert_eq!(user(&map("CN=x\\  x\n"), &spaced).as_deref(), Some("x"), "an escaped trailing space stays");
    assert_eq!(user(&map("CN=x x\n"), &spaced), None);
    assert!(map("# only comments\n").is_empty());
}

#[test]
fn every_bad_line_is_an_error_with_its_line_and_column() {
    let out = error(
        "CN=alice\nCN=a 9lives\nXX=a x\n*CN=a x\nCN=a,,O=b x\nCN=a\\ x\nCN=a\\q x\nsan:uri:x x\nsan:dns: x\nCN=#zz x\n",
    );
    for e in [
        "users.map:1:1: error: a line needs a pattern and a user",
        "users.map:2:6: error: `9lives` is not a Linux user name: it must start with a letter or `_`",
        "users.map:3:1: error: `XX` is not an attribute type attls renders",
        "users.map:4:1: error: a `*` cannot stand in an attribute type",
        "users.map:5:5: error: an empty RDN or attribute",
        "users.map:6:5: error: the pattern ends with a lone `\\`",
        "users.map:7:5: error: `\\q` is not an escape",
        "users.map:8:5: error: `uri` is not a subjectAltName kind attls maps",
        "users.map:9:1: error: the subjectAltName pattern is empty",
        "users.map:10:5: error: `z` is not a hex digit",
        "CertUserMap users.map invalid: 10 error(s)",
    ] {
        assert!(out.contains(e), "{e} not in\n{out}");
    }
    assert!(out.contains("   hint: "), "D11 hints:\n{out}");
    let out = error("CN=a bad/name\nCN=b waytoolongforauserofthissystem123\n");
    assert!(out.contains(":1:6: error: `bad/name` is not a Linux user name"), "{out}");
    assert!(
        out.contains(":2:6: error: `waytoolongforauserofthissystem123` is not a Linux user name: too long"),
        "{out}"
    );
    assert!(map("CN=a svc_backup$\nCN=b _x.y-z\n").len() == 2, "$, _, . and - are user name characters");
}

#[test]
fn warnings_for_unreachable_lines_and_an_empty_map() {
    let (m, warnings) = CertUserMap::parse(Path::new("u.map"), "cn=a x\nCN=a y\n").expect("usable");
    assert_eq!(m.len(), 2);
    assert!(warnings.contains("u.map:2:1: warning: never used: line 1 has the same pattern"), "{warnings}");
    let (_, warnings) = CertUserMap::parse(Path::new("u.map"), "# nothing\n").expect("usable");
    assert!(warnings.contains("warning: the CertUserMap maps no certificate"), "{warnings}");
}

#[test]
fn the_file_is_bounded_and_must_be_a_regular_utf8_file() {
    let dir = std::env::temp_dir().join(format!("attls-certmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let long = format!("CN={} x\n", "a".repeat(MAX_LINE_BYTES));
    assert!(error(&long).contains(":1:1: error: a line longer than 4096 bytes"));
    let many = "# c\n".repeat(MAX_LINES + 1);
    assert!(error(&many).contains(&format!(":{}:1: error: the CertUserMap has more than", MAX_LINES + 1)));
    let big = dir.join("big.map");
    std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
    assert!(CertUserMap::load(&big).unwrap_err().0.contains("larger than 1048576 bytes"));
    let latin1 = dir.join("latin1.map");
    std::fs::write(&latin1, b"CN=ok a\nCN=B\xe4r b\n").unwrap();
    let e = CertUserMap::load(&latin1).unwrap_err().0;
    assert!(e.contains("latin1.map:2:5: error: the CertUserMap is not UTF-8 text"), "{e}");
    let fifo = dir.join("fifo.map");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
    if made {
        let e = CertUserMap::load(&fifo).unwrap_err().0;
        assert!(e.contains("is not a regular file"), "a FIFO is not opened: {e}");
    }
    assert!(CertUserMap::load(&dir).unwrap_err().0.contains("is not a regular file"));
    assert!(CertUserMap::load(&dir.join("none")).unwrap_err().0.contains("cannot read the CertUserMap"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn limits_on_the_certificate_give_no_user() {
    let many: Vec<String> = (0..=names::MAX_SAN_NAMES).map(|i| format!("h{i}.example")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let der = cert(&[(DnType::CommonName, "alice".into())], &refs, &[]);
    let l = map("* anyone\n").lookup(&der);
    assert!(matches!(&l, Lookup::Unusable(w) if w.contains("subjectAltNames")), "{l:?}");
    assert!(matches!(map("* x\n").lookup(b"not a certificate"), Lookup::Unusable(_)));
}

#[test]
fn glob_backtracks_to_the_last_star_only() {
    let p =
        |s: &str| s.chars().map(|c| if c == '*' { Piece::Star } else { Piece::One(c) }).collect::<Vec<_>>();
    let t = |s: &str| s.chars().collect::<Vec<_>>();
    assert!(glob(&p("a*b*c"), &t("axxbyyc")));
    assert!(glob(&p("*"), &t("")));
    assert!(glob(&p("**a"), &t("ba")));
    assert!(!glob(&p("a*b"), &t("axxbc")));
    assert!(!glob(&p(""), &t("a")));
    assert!(glob::<Token>(&[], &[]));
}

proptest::proptest! {
    /// Any text, however broken, is a map or D11 errors, never a panic; a usable map looks up a
    /// real certificate without one either.
    #[test]
    fn any_text_is_a_map_or_errors_never_a_panic(text in "([-a-zA-Z0-9=,+*#\\\\ \t:@.é\u{0}]{0,40}\n?){0,6}") {
        if let Ok((m, _)) = CertUserMap::parse(Path::new("p.map"), &text) {
            let _ = m.lookup(&ALICE_DER);
        }
    }
}

/// A certificate made once for the property test.
static ALICE_DER: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(alice);
